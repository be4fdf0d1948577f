"""Nothing acknowledged is lost: a write whose answer never came is resolved from the environment, and
every channel message reaches Slack through the outbox, whatever Slack answers in between."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.store import ConfirmationState
from tests.fakes.slack_api import buttons, text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"


def promote_writes(world: World) -> list:
    return [w for w in world.writes if w.path.endswith("/promote")]


def finish(world: World) -> None:
    for _ in range(12):
        world.follow(seconds=10)


def confirm(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])


def history(world: World) -> str:
    world.command("history hello-chain", response="history")
    return world.private_text("history")


# -- 1. a write whose answer never came ------------------------------------------------------------------


def test_slow_write_that_baseten_made_is_followed_and_recorded_as_executed(world: World) -> None:
    world.sim.slow_writes(60, applied=True)  # made at once, answered after the client gave up

    confirm(world)

    [parent] = world.channel_messages()
    assert "did not answer in time" in text_of(parent.replies[0])
    assert "Failed" not in text_of(parent) and "refused" not in text_of(parent)
    finish(world)

    assert len(promote_writes(world)) == 1  # never sent a second time
    [parent] = world.channel_messages()
    replies = [text_of(r) for r in parent.replies]
    assert any("Baseten made the change; following deployment" in r for r in replies)
    assert "is live in hello-chain/*production*" in replies[-1]
    assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
    shown = history(world)
    assert "succeeded" in shown and "failed" not in shown


def test_unanswered_write_that_baseten_did_not_make_says_so_and_is_not_a_failure(world: World) -> None:
    world.sim.slow_writes(60, applied=False)

    confirm(world)
    finish(world)  # two minutes of looking at the environment

    assert len(promote_writes(world)) == 1
    [parent] = world.channel_messages()
    closing = text_of(parent.replies[-1])
    assert "never arrived" in closing and "the change was not made" in closing
    assert "not made" in text_of(parent)
    assert "not made" in history(world)
    confirmation = world.chainops.store.confirmation(_request_id(world))
    assert confirmation is not None and confirmation.state == ConfirmationState.FAILED


def test_a_refused_write_still_says_failed(world: World) -> None:
    world.sim.fail_next(409, path_contains="/promote", body={"error": "Deployment is not ready"})

    confirm(world)

    [parent] = world.channel_messages()
    assert "Failed: Baseten refused the change" in text_of(parent)
    assert "Deployment is not ready" in text_of(parent.replies[-1])
    assert "failed" in history(world)


# -- 2. Slack failing around execution -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["html_500", "429"])
def test_first_channel_post_failing_does_not_strand_the_change(world: World, fault: str) -> None:
    if fault == "html_500":
        world.slack.fail_next("chat.postMessage", times=2, status=500)
    else:
        world.slack.rate_limit_next("chat.postMessage", times=3, retry_after=1)

    confirm(world)

    assert len(promote_writes(world)) == 1
    confirmation = world.chainops.store.confirmation(_request_id(world))
    assert confirmation is not None and confirmation.state == ConfirmationState.EXECUTED
    finish(world)
    [parent] = world.channel_messages()
    assert "<@U0ALICE> is promoting hello-chain" in parent.text
    assert "is live in" in text_of(parent.replies[-1])
    assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
    assert len(promote_writes(world)) == 1
    calls = world.slack.calls_to("chat.postMessage")
    for refused, retried in zip(calls, calls[1:], strict=False):
        if refused.error == "ratelimited":
            assert retried.at - refused.at >= 0.95  # Retry-After: 1 is honoured


def test_slack_5xx_with_an_html_body_does_not_drop_the_closing_message(world: World) -> None:
    confirm(world)
    world.slack.fail_next("chat.postMessage", times=3, status=502)
    world.slack.fail_next("chat.update", times=3, status=503)

    finish(world)

    [parent] = world.channel_messages()
    closing = parent.replies[-1]
    assert "is live in" in text_of(closing)
    assert [b["action_id"] for b in buttons(closing)] == ["chainops_rollback"]
    assert "live" in text_of(parent)


def test_updates_of_one_message_reach_slack_as_the_latest_only(world: World) -> None:
    confirm(world)
    world.slack.fail_next("chat.update", times=1000, status=500)
    world.slack.fail_next("chat.postMessage", times=1000, status=500)
    for _ in range(12):
        world.clock.advance(10)
        world.chainops.follower.run_once()
        world.deliver(timeout=0)  # Slack is down: everything stays queued
    updates_before = len(world.slack.calls_to("chat.update"))

    world.slack.heal()
    assert world.deliver(timeout=20)

    [parent] = world.channel_messages()
    assert "live" in text_of(parent)
    successful = [c for c in world.slack.calls_to("chat.update")[updates_before:] if c.error is None]
    assert len(successful) == 1  # one update with the final content, not every step it went through
    progress = [r for r in parent.replies if "→" in text_of(r)]
    assert len(progress) <= 1  # queued progress lines were merged into one reply


def test_a_message_slack_keeps_refusing_is_given_up_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world = make_world(tmp_path, env={"chainops_outbox_give_up": 1.5})
    try:
        world.slack.fail_next("chat.postMessage", times=1000, status=500)
        world.command("lock hello-chain production launch freeze", response="lock")
        with caplog.at_level(logging.ERROR, logger="bot.outbox"):
            world.deliver(timeout=8)
        [line] = [r.getMessage() for r in caplog.records if r.name == "bot.outbox"]
        assert "C0DEPLOYS" in line and "locked hello-chain/*production*: launch freeze" in line
        assert "xoxb" not in line
        assert world.chainops.store.outbox.depth() == 0
    finally:
        world.chainops.close()
        world.slack.close()


def test_a_message_slack_refuses_for_good_is_dropped_without_retrying(world: World) -> None:
    world.slack.fail_next("chat.postMessage", error="invalid_blocks")
    world.command("lock hello-chain production launch freeze", response="lock")

    assert world.channel_messages() == []
    assert len(world.slack.calls_to("chat.postMessage")) == 1
    assert world.chainops.store.outbox.depth() == 0


def _request_id(world: World) -> str:
    [rollout] = world.chainops.store.rollouts()
    return rollout.request_id
