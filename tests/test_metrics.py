"""Running it like a service: /metrics scraped from real bot processes before and after what people do,
and the JSON log format read from a real process's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime.metrics import exposition
from tests.fakes.slack_api import FakeSlack, buttons, text_of
from tests.fakes.slack_payloads import SlackPayloads
from tests.local_http import LOCAL
from tests.processes import (
    BotProcess,
    Outside,
    Samples,
    free_port,
    outside_world,
    parse,
    sample,
    scrape,
    start_bot,
    terminate,
)
from tests.test_modals import open_promote_form, selected, submit
from tests.world import API_KEY, SECRET, TOKEN, World

ROOT = Path(__file__).resolve().parent.parent
PROMOTE = "promote hello-chain production dep-hello-4"
ENV_ENDPOINT = "/v1/chains/{chain_id}/environments/{env_name}"
PROMOTE_ENDPOINT = "/v1/chains/{chain_id}/environments/{env_name}/promote"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    with outside_world(tmp_path, step_seconds=0.6) as world:
        yield world


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)


def promote_and_confirm(bot: BotProcess, slack: FakeSlack, payloads: SlackPayloads) -> str:
    """Asks for a promote and presses Confirm; returns the button's value."""
    bot.send(payloads.slash_command(PROMOTE))
    slack.wait_for(lambda: "Confirm" in text_of(slack.last_response() or {}), timeout=10)
    shown = slack.last_response()
    assert shown is not None
    confirm = next(b for b in buttons(shown) if b["action_id"] == "chainops_confirm")
    click = payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True)
    assert bot.send(click).status_code == 200
    return str(confirm["value"])


def closing_replies(slack: FakeSlack) -> list[str]:
    return [text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies if "is live in" in text_of(r)]


def test_commands_acks_baseten_and_slack_calls_move_the_counters(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, _sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        before = bot.metrics()
        bot.send(payloads.slash_command("help"))
        bot.send(payloads.slash_command("frobnicate everything"))
        bot.send(payloads.slash_command("status hello-chain production"))
        slack.wait_for(lambda: len(slack.shown_responses()) >= 3, timeout=10)
        promote_and_confirm(bot, slack, payloads)
        slack.wait_for(lambda: any(m.replies for m in slack.messages("C0DEPLOYS")), timeout=10)
        following = bot.metrics()
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)
        # A Slack call is counted once its answer is back, a moment after Slack has the post.
        posted = lambda: delta(before, bot.metrics(), "chainops_slack_calls_total", method="chat.postMessage", outcome="ok")  # noqa: E731
        slack.wait_for(lambda: posted() == len(slack.calls_to("chat.postMessage")), timeout=10)
        after = bot.metrics()
    finally:
        bot.terminate()

    commands = "chainops_commands_total"
    assert delta(before, after, commands, command="help", outcome="ok") == 1
    assert delta(before, after, commands, command="invalid", outcome="refused") == 1
    assert delta(before, after, commands, command="status", outcome="ok") == 1
    assert delta(before, after, commands, command="promote", outcome="ok") == 1
    assert delta(before, after, commands, command="confirm", outcome="ok") == 1
    assert delta(before, after, "chainops_ack_seconds_count", kind="command") == 4
    assert delta(before, after, "chainops_ack_seconds_count", kind="action") == 1
    assert delta(before, after, "chainops_ack_seconds_bucket", kind="command", le="+Inf") == 4
    assert 0 < delta(before, after, "chainops_ack_seconds_sum", kind="command") < 4 * 3.0
    assert delta(before, after, "chainops_click_to_write_seconds_count") == 1
    assert delta(before, after, "chainops_click_to_write_seconds_bucket", le="10.0") == 1

    promote = {"method": "POST", "endpoint": PROMOTE_ENDPOINT}
    assert delta(before, after, "chainops_baseten_requests_total", **promote, status="200") == 1
    assert delta(before, after, "chainops_baseten_request_seconds_count", **promote) == 1
    env_reads = delta(before, after, "chainops_baseten_requests_total", method="GET", endpoint=ENV_ENDPOINT, status="200")
    assert env_reads >= 3  # the status, the check before the write, and the follower's polls
    assert delta(before, after, "chainops_baseten_request_seconds_count", method="GET", endpoint=ENV_ENDPOINT) == env_reads

    posts = len(slack.calls_to("chat.postMessage"))
    assert delta(before, after, "chainops_slack_calls_total", method="chat.postMessage", outcome="ok") == posts
    assert delta(before, after, "chainops_slack_call_seconds_count", method="chat.postMessage") == posts
    assert delta(before, after, "chainops_slack_calls_total", method="response_url", outcome="ok") >= 4

    assert sample(following, "chainops_rollouts_following") == 1
    assert sample(following, "chainops_rollout_oldest_following_seconds") > 0
    assert delta(before, after, "chainops_rollouts_finished_total", outcome="succeeded") == 1
    assert sample(after, "chainops_rollouts_following") == 0
    assert sample(after, "chainops_rollout_oldest_following_seconds") == 0


def test_refusals_baseten_errors_and_rate_limit_waits_are_counted(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        before = bot.metrics()
        confirmed = promote_and_confirm(bot, slack, payloads)
        slack.wait_for(lambda: any(m.replies for m in slack.messages("C0DEPLOYS")), timeout=10)
        # Someone else presses the same Confirm: refused, and said so.
        bot.send(payloads.block_action(action_id="chainops_confirm", value=confirmed, user="U0MALLORY"))
        slack.wait_for(lambda: "Only" in text_of(slack.last_response() or {}), timeout=10)
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)

        sim.fail_next(500, times=4, method="GET", path_contains="/environments/")
        responses = len(slack.shown_responses())
        bot.send(payloads.slash_command("status hello-chain production"))
        slack.wait_for(lambda: len(slack.shown_responses()) > responses, timeout=30)

        sim.fail_next(429, method="GET", path_contains="/environments/", retry_after=3)
        responses = len(slack.shown_responses())
        bot.send(payloads.slash_command("status hello-chain production"))
        slack.wait_for(lambda: len(slack.shown_responses()) > responses, timeout=30)
        limited_at = time.monotonic()
        assert "try again in 3 seconds" in text_of(slack.shown_responses()[-1])
        # Within the window the next status is held back, not sent to Baseten.
        responses = len(slack.shown_responses())
        bot.send(payloads.slash_command("status hello-chain production"))
        slack.wait_for(lambda: len(slack.shown_responses()) > responses, timeout=30)
        assert "try again in" in text_of(slack.shown_responses()[-1])
        time.sleep(max(0.0, limited_at + 3.1 - time.monotonic()))  # the window passes; the next is answered
        responses = len(slack.shown_responses())
        bot.send(payloads.slash_command("status hello-chain production"))
        slack.wait_for(lambda: len(slack.shown_responses()) > responses, timeout=30)
        # The command is counted once its work is done, a moment after its answer went out.
        slack.wait_for(lambda: delta(before, bot.metrics(), "chainops_commands_total", command="status", outcome="ok") > 0, timeout=10)
        after = bot.metrics()
    finally:
        bot.terminate()

    commands = "chainops_commands_total"
    assert delta(before, after, commands, command="confirm", outcome="ok") == 1
    assert delta(before, after, commands, command="confirm", outcome="refused") == 1
    assert delta(before, after, commands, command="status", outcome="error") == 3
    assert delta(before, after, commands, command="status", outcome="ok") == 1
    errors = {"method": "GET", "endpoint": ENV_ENDPOINT, "status": "500"}
    assert delta(before, after, "chainops_baseten_requests_total", **errors) == 4
    limited = {"method": "GET", "endpoint": ENV_ENDPOINT, "status": "429"}
    assert delta(before, after, "chainops_baseten_requests_total", **limited) == 1
    assert delta(before, after, "chainops_baseten_rate_limit_waits_total") == 1
    assert delta(before, after, "chainops_baseten_rate_limit_wait_seconds_total") == 3.0
    held = [(dict(labels), value) for (name, labels), value in after.items() if name == "chainops_baseten_requests_held_total"]
    assert [labels["method"] for labels, _ in held] == ["GET"] and held[0][1] == 1  # the status in the window


SECRET_TEXT = "<!channel> hunter2 click https://evil.example/now"


def test_no_label_carries_an_id_a_user_text_or_a_secret(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, _sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        promote_and_confirm(bot, slack, payloads)
        bot.send(payloads.slash_command(f"lock hello-chain staging {SECRET_TEXT}", user="U0BOB"))
        bot.send(payloads.slash_command("status chain-nowhere production"))
        bot.send(payloads.slash_command(f"{SECRET_TEXT} dep-hello-2"))
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)
        slack.wait_for(lambda: len(slack.shown_responses()) >= 3, timeout=10)
        samples = bot.metrics()
    finally:
        bot.terminate()

    forbidden = [
        "hello-chain", "chain-hello", "dep-hello", "production", "staging", "chain-nowhere", "U0ALICE", "U0BOB",
        "C0DEPLOYS", "T1", "hunter2", "evil", "channel", "respond", "127.0.0.1", TOKEN, SECRET, API_KEY,
    ]
    values = {(name, value) for (_metric, labels) in samples for name, value in labels}
    assert values  # the scrape did carry labels
    for name, value in values:
        assert not any(bad.lower() in value.lower() for bad in forbidden), (name, value)
    allowed = {
        "command": {
            "help", "status", "promote", "instance-type", "promote-modal", "instance-type-modal", "history",
            "lock", "unlock", "invalid", "confirm", "approve", "reject", "cancel", "rollback", "form-submit",
            "pick-chain", "pick-env", "chain-options", "other",
        },
        "outcome": {
            "ok", "refused", "error", "rate_limited", "unreachable",
            "succeeded", "failed", "superseded", "timed_out", "refused_by_baseten", "other",
        },
        "kind": {"command", "action", "view_submission", "view_closed", "options", "event", "other"},
        "method": {"GET", "POST", "response_url"} | {c.method for c in slack.calls},
    }
    for name, value in values:
        if name in allowed:
            assert value in allowed[name], (name, value)
        elif name == "endpoint":
            assert value.startswith("/v1/") and not any(ch.isdigit() for ch in value.replace("/v1/", "")), value
        elif name == "status":
            assert value.isdigit() or value in ("unreachable", "timeout"), value
        else:
            assert name == "le", name


def test_json_logs_carry_the_request_chain_environment_and_rollout(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    bot = start_bot(tmp_path, {**env, "CHAINOPS_LOG_FORMAT": "json"})
    try:
        sim.fail_next(500, method="GET", path_contains="/environments/")
        bot.send(payloads.slash_command("status hello-chain staging"))
        slack.wait_for(lambda: slack.last_response() is not None, timeout=10)
        promote_and_confirm(bot, slack, payloads)
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)
    finally:
        assert bot.terminate() == 0

    lines = [line for line in bot.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    assert any(e["message"].startswith("chainops serving HTTP") and e["level"] == "INFO" for e in entries)
    [finished] = [e for e in entries if e["message"] == "rollout finished: succeeded"]
    [accepted] = [e for e in entries if e["message"].startswith("Baseten accepted the change")]
    for entry in (finished, accepted):
        assert entry["chain"] == "hello-chain" and entry["environment"] == "production"
        assert len(entry["rollout_id"]) == 32 and len(entry["request_id"]) == 32
    assert finished["rollout_id"] == accepted["rollout_id"]
    assert finished["logger"] == "bot.changes.follower" and finished["time"].endswith("+00:00")
    [retried] = [e for e in entries if e["message"].startswith("Baseten read") and e["level"] == "WARNING"]
    assert (retried["chain"], retried["environment"], retried["logger"]) == ("hello-chain", "staging", "bot.baseten.client")
    assert "rollout_id" not in retried
    for secret in (TOKEN, SECRET, API_KEY):
        assert secret not in bot.log()


def test_text_logs_stay_readable_by_default(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, _sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        promote_and_confirm(bot, slack, payloads)
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=30)
    finally:
        bot.terminate()
    [finished] = [line for line in bot.log().splitlines() if "rollout finished: succeeded" in line]
    assert " INFO bot.changes.follower: rollout finished: succeeded [request_id=" in finished
    assert "chain=hello-chain environment=production rollout_id=" in finished
    assert not finished.startswith("{")


def test_socket_mode_serves_metrics_on_its_own_port(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.socket_mode import FakeSocketMode

    slack, _sim, env, _payloads = outside
    socket_mode = FakeSocketMode()
    slack.socket_mode_url = socket_mode.url
    port = free_port()
    env = {k: v for k, v in {**os.environ, **env}.items() if k not in ("SLACK_SIGNING_SECRET", "PORT")}
    env.update(SLACK_APP_TOKEN=slack.app_token, CHAINOPS_METRICS_PORT=str(port))
    log_path = tmp_path / "socket.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        command = {
            "command": "/chain", "text": "help", "user_id": "U0ALICE", "channel_id": "C0DEPLOYS",
            "team_id": "T1", "response_url": slack.response_url("socket"), "trigger_id": "t1",
        }
        socket_mode.send("slash_commands", command)  # the app is connected, so it has started
        slack.wait_for(lambda: slack.last_response("socket") is not None, timeout=20)
        # The command is counted once its work is done, a moment after its answer went out.
        slack.wait_for(lambda: sample(scrape(url), "chainops_commands_total", command="help", outcome="ok") > 0, timeout=10)
        samples = scrape(url)
    finally:
        terminate(process)
        socket_mode.close()
    assert sample(samples, "chainops_commands_total", command="help", outcome="ok") == 1
    assert sample(samples, "chainops_ack_seconds_count", kind="command") == 1
    assert "Traceback" not in log_path.read_text()



def test_forms_are_counted_as_interactions(world: World) -> None:
    def samples() -> Samples:
        body, _ = exposition(world.chainops.metrics)
        return parse(body.decode())

    before = samples()
    view = open_promote_form(world)
    choice = {**selected("chain", "chainops_pick_chain", "chain-hello"), **selected("env", "chainops_pick_env", "production")}
    refused = submit(world, view, {**choice, **selected("deployment", "chainops_pick_deployment", "dep-hello-3")})
    accepted = submit(world, view, {**choice, **selected("deployment", "chainops_pick_deployment", "dep-hello-4")})
    after = samples()

    assert refused["response_action"] == "errors" and accepted == {}
    commands = "chainops_commands_total"
    assert delta(before, after, commands, command="promote-modal", outcome="ok") == 1
    assert delta(before, after, commands, command="pick-chain", outcome="ok") == 1
    assert delta(before, after, commands, command="form-submit", outcome="refused") == 1
    assert delta(before, after, commands, command="form-submit", outcome="ok") == 1
    assert delta(before, after, "chainops_ack_seconds_count", kind="view_submission") == 2
    assert delta(before, after, "chainops_ack_seconds_count", kind="action") == 1


def test_a_metrics_port_keeps_metrics_off_the_slack_port(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    _slack, _sim, env, payloads = outside
    port = free_port()
    bot = start_bot(tmp_path, {**env, "CHAINOPS_METRICS_PORT": str(port)})
    try:
        bot.send(payloads.slash_command("help"))
        on_slack_port = LOCAL.get(f"http://127.0.0.1:{bot.port}/metrics", timeout=5)
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        bot.terminate()
    assert on_slack_port.status_code == 404
    assert sample(samples, "chainops_ack_seconds_count", kind="command") == 1


def test_outbox_depth_and_age_show_a_slack_outage_and_its_end(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    bot = start_bot(tmp_path, env)
    try:
        assert sample(bot.metrics(), "chainops_outbox_depth") == 0
        slack.fail_next("chat.postMessage", times=10_000, status=500)  # Slack is down for channel posts
        promote_and_confirm(bot, slack, payloads)
        slack.wait_for(lambda: sample(bot.metrics(), "chainops_outbox_oldest_seconds") > 1.0, timeout=20)
        during = bot.metrics()
        slack.heal()
        slack.wait_for(lambda: len(closing_replies(slack)) == 1, timeout=60)
        slack.wait_for(lambda: sample(bot.metrics(), "chainops_outbox_depth") == 0, timeout=20)
        after = bot.metrics()
    finally:
        bot.terminate()

    assert [w.path.endswith("/promote") for w in sim.writes] == [True]  # the change did not wait for Slack
    assert sample(during, "chainops_outbox_depth") >= 1
    assert sample(during, "chainops_slack_calls_total", method="chat.postMessage", outcome="error") >= 1
    assert sample(after, "chainops_outbox_oldest_seconds") == 0
    assert sample(after, "chainops_slack_calls_total", method="chat.postMessage", outcome="ok") >= 2
