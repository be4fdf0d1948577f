"""Real processes: SIGKILL in the middle of a rollout, SIGTERM, and two replicas on one PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import reset_postgres
from tests.fakes.slack_api import FakeSlack, text_of
from tests.processes import Outside, outside_world, sample, start_bot, terminate
from tests.world import postgres_url

PROMOTE = "promote hello-chain production dep-hello-4"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    with outside_world(tmp_path, step_seconds=1.5, CHAINOPS_LEASE_SECONDS="2") as world:
        yield world


def closing_replies(slack: FakeSlack) -> list[str]:
    return [text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies if "is live in" in text_of(r)]


def test_sigkill_mid_rollout_then_restart_finishes_in_the_same_thread(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        assert bot.send(payloads.slash_command(PROMOTE)).status_code == 200
        slack.wait_for(lambda: slack.last_response() is not None and "Confirm" in text_of(slack.last_response()))
        confirm = next(b for b in _buttons(slack) if b["action_id"] == "chainops_confirm")
        bot.send(payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True))
        slack.wait_for(lambda: any(m.replies for m in slack.messages("C0DEPLOYS")))
        bot.kill()
        [parent] = slack.messages("C0DEPLOYS")
        assert closing_replies(slack) == []

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)

        assert [m.ts for m in slack.messages("C0DEPLOYS")] == [parent.ts]
        assert len([w for w in sim.writes if w.path.endswith("/promote")]) == 1
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_single_sqlite_bot_killed_resumes_at_once_instead_of_waiting_out_its_old_lease(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, _sim, env, payloads = outside
    env = {**env, "CHAINOPS_LEASE_SECONDS": "30"}
    bot = start_bot(tmp_path, env)
    try:
        bot.send(payloads.slash_command(PROMOTE))
        slack.wait_for(lambda: slack.last_response() is not None and "Confirm" in text_of(slack.last_response()))
        confirm = next(b for b in _buttons(slack) if b["action_id"] == "chainops_confirm")
        bot.send(payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True))
        slack.wait_for(lambda: any(m.replies for m in slack.messages("C0DEPLOYS")))
        bot.kill()

        bot = start_bot(tmp_path, env, name="restarted")
        # Well inside the 30 s the killed bot's lease still had to run.
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=12)
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_sigterm_shuts_down_cleanly(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    _slack, _sim, env, _payloads = outside
    bot = start_bot(tmp_path, env)
    assert bot.terminate() == 0
    assert "Traceback" not in bot.log()


def test_missing_configuration_is_one_line(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    _slack, _sim, env, _payloads = outside
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env={"PATH": "/usr/bin:/bin", "SLACK_SIGNING_SECRET": "x", "BASETEN_API_KEY": "k", "CHAINOPS_POLL_INTERVAL": "soon"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "CHAINOPS_POLL_INTERVAL" in result.stderr and "Traceback" not in result.stderr


def test_two_replicas_on_postgresql_execute_once_and_take_over(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    url = postgres_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    slack, sim, env, payloads = outside
    env = {**env, "DATABASE_URL": reset_postgres(url)}
    sim.step_seconds = 2.5
    a = start_bot(tmp_path, env, name="a")
    b = start_bot(tmp_path, env, name="b")
    try:
        a.send(payloads.slash_command(PROMOTE))
        slack.wait_for(lambda: slack.last_response() is not None and "Confirm" in text_of(slack.last_response()))
        confirm = next(x for x in _buttons(slack) if x["action_id"] == "chainops_confirm")
        click = payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True)
        threads = [threading.Thread(target=bot.send, args=(click,)) for bot in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slack.wait_for(lambda: any(m.replies for m in slack.messages("C0DEPLOYS")))
        assert len([w for w in sim.writes if w.path.endswith("/promote")]) == 1

        holder = _lease_holder(env["DATABASE_URL"])
        victim, survivor = (a, b) if f":{a.process.pid}:" in holder else (b, a)
        victim.kill()
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=40)

        [parent] = slack.messages("C0DEPLOYS")
        # One follower at a time: no transition was reported twice across the takeover.
        lines = [line for r in parent.replies for line in r.text.splitlines() if "→" in line]
        assert lines  # transitions were reported at all
        posts = [f"{c.at:.2f} {c.params.get('text', '')[:70]}" for c in slack.calls_to("chat.postMessage")]
        assert len(lines) == len(set(lines)), "\n".join(posts)
        assert survivor.process.poll() is None
        assert sample(survivor.metrics(), "chainops_lease_takeovers_total") >= 1
    finally:
        for bot in (a, b):
            if bot.process.poll() is None:
                bot.kill()


def _buttons(slack: FakeSlack) -> list[dict]:
    from tests.fakes.slack_api import buttons

    shown = slack.last_response()
    return buttons(shown) if shown else []


def _lease_holder(url: str) -> str:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        holder = conn.execute(text("SELECT lease_owner FROM rollouts")).scalar_one()
    engine.dispose()
    return str(holder)



def test_socket_mode_without_its_token_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "bot", "socket"],
        env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "BASETEN_API_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "chainops: SLACK_APP_TOKEN is not set (Socket Mode needs the app-level token, xapp-...)"


def test_socket_mode_process_answers_slash_commands(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.socket_mode import FakeSocketMode

    slack, _sim, env, _payloads = outside
    socket_mode = FakeSocketMode()
    slack.socket_mode_url = socket_mode.url
    env = {**env, "SLACK_APP_TOKEN": slack.app_token}
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs no signing secret
    import os
    import subprocess
    import sys

    log_path = tmp_path / "socket.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "socket"], cwd=Path(__file__).resolve().parent.parent,
            env={**{k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"}, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        command = {
            "command": "/chain", "text": "status hello-chain production", "user_id": "U0ALICE", "channel_id": "C0DEPLOYS",
            "team_id": "T1", "response_url": slack.response_url("socket"), "trigger_id": "t1",
        }
        ack = socket_mode.send("slash_commands", command)

        assert "envelope_id" in ack
        slack.wait_for(lambda: "HelloWorld" in text_of(slack.last_response("socket")), timeout=20)
    finally:
        terminate(process)
        socket_mode.close()
    assert "Traceback" not in log_path.read_text()
