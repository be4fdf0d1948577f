"""A confirmed change is never lost: real bot processes killed with SIGKILL, or their PostgreSQL cut,
between the claim and the Baseten write or between the write and its recorded answer. Whatever was
claimed is written exactly once (or resolved from the environment), and the thread and the person who
confirmed hear how it ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.baseten.models import DeploymentStatus
from tests.conftest import reset_postgres
from tests.fakes.slack_api import FakeSlack, buttons, text_of
from tests.fakes.tcp_proxy import TcpProxy
from tests.processes import Outside, outside_world, start_bot
from tests.world import postgres_url

PROMOTE = "promote hello-chain production dep-hello-4"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    with outside_world(tmp_path, step_seconds=0.5, CHAINOPS_LEASE_SECONDS="2") as world:
        yield world


@pytest.fixture
def postgres_behind_a_relay() -> Iterator[tuple[str, str, TcpProxy]]:
    """(the URL the test reads directly, the URL the bot uses through a relay that can be cut or slowed)."""
    url = postgres_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    reset_postgres(url)
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    relayed = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{proxy.port}")))
    yield url, relayed, proxy
    proxy.cut()


class WriteArrivals:
    """Calls `then` when Baseten receives the promote (before it answers, `latency` later)."""

    def __init__(self, outside: Outside, then: object = None) -> None:
        self.arrived = threading.Event()
        self.then = then
        answer = outside[1].handle_request

        def arrive(request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/promote"):
                self.arrived.set()
                if callable(self.then):
                    self.then()
            return answer(request)

        outside[1].handle_request = arrive  # type: ignore[method-assign]


def preview_and_confirm_button(outside: Outside, bot) -> dict:  # type: ignore[no-untyped-def]
    slack, _sim, _env, payloads = outside
    bot.send(payloads.slash_command(PROMOTE))
    slack.wait_for(lambda: "Confirm" in text_of(slack.last_response()), timeout=20)
    return next(b for b in buttons(slack.last_response()) if b["action_id"] == "chainops_confirm")


def click(outside: Outside, bot, confirm: dict) -> None:  # type: ignore[no-untyped-def]
    request = outside[3].block_action(
        action_id="chainops_confirm",
        value=confirm["value"],
        container_is_ephemeral=True,
        response_url_name="click",
    )
    assert bot.send(request).status_code == 200


def promote_writes(outside: Outside) -> int:
    return len([w for w in outside[1].writes if w.path.endswith("/promote")])


def closing(slack: FakeSlack) -> list[str]:
    return [text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies if "is live in" in text_of(r)]


def wait_for_state(url: str, state: str, timeout: float = 30.0) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        deadline = time.monotonic() + timeout
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                found = conn.execute(text("SELECT state FROM confirmations")).scalar()
                conn.commit()
                if found == state:
                    return
                time.sleep(0.002)
    finally:
        engine.dispose()
    raise AssertionError(f"the confirmation never became {state}")


def test_killed_between_claim_and_write_the_change_is_written_once_after_restart_and_told(
    tmp_path: Path, outside: Outside, postgres_behind_a_relay: tuple[str, str, TcpProxy]
) -> None:
    slack, _sim, env, _payloads = outside
    direct, relayed, proxy = postgres_behind_a_relay
    env = {**env, "DATABASE_URL": relayed}
    bot = start_bot(tmp_path, env)
    try:
        confirm = preview_and_confirm_button(outside, bot)
        proxy.delay = 0.05  # a slow network to the database: the claim is seen before its write goes out
        click(outside, bot, confirm)
        wait_for_state(direct, "executing")
        bot.kill()
        proxy.delay = 0.0
        assert promote_writes(outside) == 0  # killed after the claim, before the write

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: promote_writes(outside) == 1 and len(closing(slack)) == 1, timeout=30)

        assert promote_writes(outside) == 1
        [parent] = slack.messages("C0DEPLOYS")
        assert "is promoting hello-chain deployment `dep-hello-4`" in parent.text
        assert "Confirmed; follow it in the" in text_of(slack.last_response("click"))
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_database_cut_between_claim_and_write_the_change_is_sent_when_it_is_back_and_told(
    tmp_path: Path, outside: Outside, postgres_behind_a_relay: tuple[str, str, TcpProxy]
) -> None:
    slack, _sim, env, _payloads = outside
    direct, relayed, proxy = postgres_behind_a_relay
    bot = start_bot(tmp_path, {**env, "DATABASE_URL": relayed})
    try:
        confirm = preview_and_confirm_button(outside, bot)
        proxy.delay = 0.05
        click(outside, bot, confirm)
        wait_for_state(direct, "executing")
        proxy.cut()
        # Whether the cut took the claim's own acknowledgement or the step after it, what is said is true.
        truthful = ("not sent yet", "can't tell whether your confirmation was recorded")
        slack.wait_for(lambda: any(t in text_of(slack.last_response("click")) for t in truthful), timeout=20)
        assert promote_writes(outside) == 0
        proxy.delay = 0.0
        proxy.start()

        slack.wait_for(lambda: promote_writes(outside) == 1 and len(closing(slack)) == 1, timeout=40)
        assert "Confirmed; follow it in the" in text_of(slack.last_response("click"))
        assert "so nothing was changed" not in " ".join(text_of(r) for r in slack.responses_to("click"))
    finally:
        bot.kill()


def test_killed_after_the_write_before_its_answer_the_restart_resolves_it_and_never_sends_it_again(
    tmp_path: Path, outside: Outside
) -> None:
    slack, sim, env, _payloads = outside
    arrivals = WriteArrivals(outside)
    bot = start_bot(tmp_path, env)
    try:
        confirm = preview_and_confirm_button(outside, bot)
        sim.latency = 2.0  # Baseten makes the change, but answers late
        click(outside, bot, confirm)
        assert arrivals.arrived.wait(10)
        bot.kill()
        sim.latency = 0.0

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: len(closing(slack)) == 1, timeout=30)

        assert promote_writes(outside) == 1
        [parent] = slack.messages("C0DEPLOYS")
        assert any("Baseten made the change" in text_of(r) for r in parent.replies)
        assert "Baseten made the change" in text_of(slack.last_response("click"))
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_database_cut_after_the_write_the_answer_is_resolved_once_it_is_back_and_nobody_hears_nothing_changed(
    tmp_path: Path, outside: Outside, postgres_behind_a_relay: tuple[str, str, TcpProxy]
) -> None:
    slack, _sim, env, _payloads = outside
    _direct, relayed, proxy = postgres_behind_a_relay
    WriteArrivals(outside, then=proxy.cut)
    bot = start_bot(tmp_path, {**env, "DATABASE_URL": relayed})
    try:
        confirm = preview_and_confirm_button(outside, bot)
        click(outside, bot, confirm)
        slack.wait_for(
            lambda: "went away before I could record" in text_of(slack.last_response("click")), timeout=20
        )
        proxy.start()

        slack.wait_for(lambda: len(closing(slack)) == 1, timeout=40)
        assert promote_writes(outside) == 1
        said = " ".join(text_of(r) for r in slack.responses_to("click"))
        assert "so nothing was changed" not in said
        assert "Baseten made the change" in text_of(slack.last_response("click"))
    finally:
        bot.kill()


def wait_for_row(url: str, query: str, timeout: float = 30.0) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        deadline = time.monotonic() + timeout
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                found = conn.execute(text(query)).scalar()
                conn.commit()
                if found:
                    return
                time.sleep(0.002)
    finally:
        engine.dispose()
    raise AssertionError(f"never found: {query}")


def test_a_change_run_at_once_killed_between_its_intent_and_write_is_written_once_after_restart(
    tmp_path: Path, outside: Outside, postgres_behind_a_relay: tuple[str, str, TcpProxy]
) -> None:
    slack, _sim, env, payloads = outside
    direct, relayed, proxy = postgres_behind_a_relay
    env = {**env, "DATABASE_URL": relayed}
    bot = start_bot(tmp_path, env)
    try:
        proxy.delay = 0.05
        bot.send(payloads.slash_command(PROMOTE + " --keep-previous"))
        wait_for_row(direct, "SELECT count(*) FROM rollouts")
        bot.kill()
        proxy.delay = 0.0
        assert promote_writes(outside) == 0

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: promote_writes(outside) == 1 and len(closing(slack)) == 1, timeout=30)
        assert promote_writes(outside) == 1
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_an_approval_killed_between_claim_and_write_is_written_once_after_restart_and_the_request_says_so(
    tmp_path: Path, outside: Outside, postgres_behind_a_relay: tuple[str, str, TcpProxy]
) -> None:
    slack, _sim, env, payloads = outside
    direct, relayed, proxy = postgres_behind_a_relay
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments:\n  production:\n    approvers: [U0BOB]\n")
    env = {**env, "DATABASE_URL": relayed, "CHAINOPS_POLICY": str(policy)}
    bot = start_bot(tmp_path, env)
    try:
        bot.send(payloads.slash_command(PROMOTE))
        slack.wait_for(lambda: any(buttons(m) for m in slack.messages("C0DEPLOYS")), timeout=20)
        [request] = slack.messages("C0DEPLOYS")
        approve = next(b for b in buttons(request) if b["action_id"] == "chainops_approve")
        proxy.delay = 0.05
        click = payloads.block_action(
            action_id="chainops_approve", value=approve["value"], user="U0BOB", message_ts=request.ts
        )
        assert bot.send(click).status_code == 200
        wait_for_state(direct, "executing")
        bot.kill()
        proxy.delay = 0.0
        assert promote_writes(outside) == 0

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: promote_writes(outside) == 1 and len(closing(slack)) == 1, timeout=30)
        approval = slack.message("C0DEPLOYS", request.ts)
        assert approval is not None and "Approved by" in text_of(approval) and buttons(approval) == []
    finally:
        if bot.process.poll() is None:
            bot.kill()


def test_killed_while_reading_a_failed_rollouts_logs_the_restart_tells_how_it_ended_once(tmp_path: Path, outside: Outside) -> None:
    slack, sim, env, _payloads = outside
    sim.fail_rollouts("RandInt", status=DeploymentStatus.DEPLOY_FAILED)
    reading_logs = threading.Event()
    answer = sim.handle_request

    def logs_answered_late_once(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs") and not reading_logs.is_set():
            reading_logs.set()
            time.sleep(3)  # the bot is killed while it waits for the failure's logs
        return answer(request)

    sim.handle_request = logs_answered_late_once  # type: ignore[method-assign]
    bot = start_bot(tmp_path, env)
    try:
        click(outside, bot, preview_and_confirm_button(outside, bot))
        assert reading_logs.wait(20)
        bot.kill()

        bot = start_bot(tmp_path, env, name="restarted")

        def closings() -> list[str]:
            return [text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies if "DEPLOY_FAILED" in text_of(r)]

        slack.wait_for(lambda: len(closings()) == 1, timeout=30)
        bot.send(outside[3].slash_command("history hello-chain", response_url_name="history"))
        slack.wait_for(lambda: "failed" in text_of(slack.last_response("history")), timeout=10)
        assert len(closings()) == 1 and "<@U0ALICE>" in closings()[0]
        assert promote_writes(outside) == 1
    finally:
        if bot.process.poll() is None:
            bot.kill()
