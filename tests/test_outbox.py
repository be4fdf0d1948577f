"""Nothing acknowledged is lost: a write whose answer never came is resolved from the environment, and
every channel message reaches Slack through the outbox, whatever Slack answers in between."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.slack.gateway import WebApiGateway
from bot.slack.outbox import Outbox, OutboxSettings
from bot.slack.sender import OutboxSender
from bot.store import ConfirmationState, Store, connect
from tests.fakes.slack_api import FakeSlack, buttons, text_of
from tests.world import TOKEN, Clock, World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"
# For tests about what Slack's failures lead to, not about how long the bot waits between its tries.
QUICK = {"first_backoff": 0.1, "unsure_settle": 0.5}


@pytest.fixture
def quick_world(tmp_path: Path) -> Iterator[World]:
    """The `world`, with the outbox's retries and look-ups QUICK."""
    world = make_world(tmp_path, outbox=QUICK)
    yield world
    world.chainops.close()
    world.slack.close()
    assert world.contract.violations == []


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
def test_first_channel_post_failing_does_not_strand_the_change(quick_world: World, fault: str) -> None:
    world = quick_world
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


def test_slack_5xx_with_an_html_body_does_not_drop_the_closing_message(quick_world: World) -> None:
    world = quick_world
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


def test_a_message_slack_keeps_refusing_is_given_up_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, env={"chainops_outbox_give_up": 1.5}, outbox=QUICK)
    try:
        world.slack.fail_next("chat.postMessage", times=1000, status=500)
        world.command("lock hello-chain production launch freeze", response="lock")
        with caplog.at_level(logging.ERROR, logger="bot.slack.outbox"):
            world.deliver(timeout=8)
        [line] = [r.getMessage() for r in caplog.records if r.name == "bot.slack.outbox"]
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


# -- 3. a post whose answer never came -------------------------------------------------------------------


def test_a_parent_post_answered_after_the_client_gave_up_is_found_not_posted_twice(tmp_path: Path) -> None:
    world = make_world(tmp_path, slack_timeout=1, outbox=QUICK)
    try:
        world.slack.answer_late("chat.postMessage", 2.0)  # Slack makes the post, then answers too late

        confirm(world)
        finish(world)

        [parent] = world.channel_messages()
        assert "<@U0ALICE> is promoting hello-chain" in parent.text
        replies = [text_of(r) for r in parent.replies]
        assert sum("is live in" in r for r in replies) == 1
        assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
        [lookup] = world.slack.calls_to("conversations.history")
        assert lookup.params["channel"] == "C0DEPLOYS" and lookup.params["include_all_metadata"] in (
            "1",
            "true",
        )
        assert len(promote_writes(world)) == 1
    finally:
        world.chainops.close()
        world.slack.close()


def test_a_thread_reply_answered_too_late_is_found_in_its_thread(tmp_path: Path) -> None:
    world = make_world(tmp_path, slack_timeout=1, outbox=QUICK)
    try:
        confirm(world)
        world.slack.answer_late("chat.postMessage", 2.0)

        finish(world)

        [parent] = world.channel_messages()
        replies = [text_of(r) for r in parent.replies]
        assert len(replies) == len(set(replies))  # no reply shown twice
        assert sum("is live in" in r for r in replies) == 1
        assert [c.params["ts"] for c in world.slack.calls_to("conversations.replies")] == [parent.ts]
    finally:
        world.chainops.close()
        world.slack.close()


def test_a_post_lost_in_an_outage_is_looked_for_then_posted_once(quick_world: World) -> None:
    world = quick_world
    world.slack.fail_next("chat.postMessage", times=2, status=502)  # nothing was made

    confirm(world)
    finish(world)

    [parent] = world.channel_messages()
    assert "<@U0ALICE> is promoting hello-chain" in parent.text
    assert len(world.slack.calls_to("conversations.history")) == 2
    assert "is live in" in text_of(parent.replies[-1])


def test_without_history_scopes_an_unanswered_post_goes_again_and_the_log_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, slack_timeout=1, outbox=QUICK)
    try:
        world.slack.scopes -= {
            "channels:history",
            "groups:history",
        }  # installed before the app asked for them
        world.slack.answer_late("chat.postMessage", 2.0)
        with caplog.at_level(logging.WARNING, logger="bot.slack.outbox"):
            world.command("lock hello-chain production launch freeze", response="lock")

        assert len(world.channel_messages()) == 2  # the duplicate the README warns of
        [line] = [r.getMessage() for r in caplog.records if "history" in r.getMessage()]
        assert "channels:history" in line and "groups:history" in line
    finally:
        world.chainops.close()
        world.slack.close()


# -- 4. after an outage, everything waiting goes out within seconds -----------------------------------------

OUTAGE_CHANNELS = ("C0ONE", "C0TWO", "C0THREE")


def replicas(
    url: str, slack: FakeSlack, clock: Clock, n: int, **settings: float
) -> tuple[Outbox, list[OutboxSender]]:
    """The outbox of `n` replicas sharing one database, on a clock the test moves."""
    store = Store(connect(url))
    gateway = WebApiGateway(TOKEN, base_url=slack.api_url)
    senders = [
        OutboxSender(store.outbox, gateway, OutboxSettings(**settings), owner=f"replica-{i}", clock=clock)
        for i in range(n)
    ]
    return Outbox(store.outbox, clock=clock), senders


def run_for(
    clock: Clock,
    senders: list[OutboxSender],
    seconds: float,
    until: Callable[[], bool] | None = None,
    *,
    step: float = 0.25,
) -> float:
    """Let `seconds` pass, each replica ticking in turn every `step`; when `until` held (or the end)."""
    end = clock.now + seconds
    while clock.now < end:
        for sender in senders:
            sender.tick(inline=True)
        if until is not None and until():
            return clock.now
        clock.advance(step)
    return clock.now


def queue_threads(outbox: Outbox, channels: tuple[str, ...]) -> None:
    for channel in channels:
        parent = outbox.post(channel, f"promoting in {channel}")
        outbox.post(channel, f"live in {channel}; roll back?", thread=parent)


def all_delivered(slack: FakeSlack, channels: tuple[str, ...]) -> bool:
    return all(len(m := slack.messages(c)) == 1 and len(m[0].replies) == 1 for c in channels)


def test_when_slack_answers_again_everything_waiting_goes_out_within_five_seconds(database_url: str) -> None:
    clock = Clock(start=time.time())
    with FakeSlack(token=TOKEN) as slack:
        outbox, senders = replicas(database_url, slack, clock, 2)
        for method in ("chat.postMessage", "chat.update"):
            slack.fail_next(method, times=100_000, status=503)
        queue_threads(outbox, OUTAGE_CHANNELS)
        run_for(clock, senders, 300, step=1.0)  # five minutes of outage: every channel backs off to a minute
        during = len(slack.calls_to("chat.postMessage"))
        assert during < 300 / 1.5 + 30  # Slack was not hammered: a try every 1.5 s, for both replicas
        run_for(clock, senders, 120, until=lambda: len(slack.calls_to("chat.postMessage")) > during)

        slack.heal()  # right after a try failed: that channel was just told to wait another minute
        healed = clock.now
        done = run_for(clock, senders, 60, until=lambda: all_delivered(slack, OUTAGE_CHANNELS))

        assert all_delivered(slack, OUTAGE_CHANNELS)
        assert done - healed <= 5.0


def test_a_success_on_one_replica_wakes_the_channels_another_replica_was_backing_off(
    database_url: str,
) -> None:
    clock = Clock(start=time.time())
    with FakeSlack(token=TOKEN) as slack:
        # No probing here: only the success of an ordinary delivery can end the waiting.
        outbox, (backing_off, other) = replicas(database_url, slack, clock, 2, probe_interval=1e9)
        slack.fail_next("chat.postMessage", times=100_000, status=500)
        queue_threads(outbox, OUTAGE_CHANNELS)
        run_for(clock, [backing_off], 120)
        slack.heal()

        outbox.post("C0FRESH", "a change in another channel")
        run_for(clock, [other], 0.25)  # the other replica posts it: Slack works
        woke = clock.now
        done = run_for(clock, [backing_off], 60, until=lambda: all_delivered(slack, OUTAGE_CHANNELS))

        assert len(slack.messages("C0FRESH")) == 1
        assert all_delivered(slack, OUTAGE_CHANNELS)
        assert done - woke <= 2.0  # one post, then its reply a pace later


def test_a_long_rate_limit_hold_is_one_log_line_and_a_short_one_none(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(start=time.time())
    with FakeSlack(token=TOKEN) as slack:
        outbox, senders = replicas(database_url, slack, clock, 1)
        slack.rate_limit_next("chat.postMessage", times=3, retry_after=30)
        queue_threads(outbox, ("C0BUSY",))
        with caplog.at_level(logging.INFO, logger="bot.slack.outbox"):
            run_for(clock, senders, 200, until=lambda: all_delivered(slack, ("C0BUSY",)))
            slack.rate_limit_next("chat.postMessage", times=2, retry_after=2)
            queue_threads(outbox, ("C0BUSY",))
            run_for(clock, senders, 30)

        assert len(slack.messages("C0BUSY")) == 2
        [line] = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
        assert "C0BUSY" in line and "30 s" in line


# -- 5. the requester hears when the channel stops listening ----------------------------------------------

STOPS = {
    "not_in_channel": ("channels_without_bot", "I'm no longer a member of it"),
    "channel_not_found": ("deleted_channels", "it was deleted, or I can no longer see it"),
    "is_archived": ("archived_channels", "it was archived"),
}


@pytest.mark.parametrize("error", sorted(STOPS))
def test_a_channel_that_stops_taking_posts_mid_rollout_tells_the_requester_in_a_dm(
    world: World, error: str
) -> None:
    confirm(world)
    where, why = STOPS[error]
    getattr(world.slack, where).add(world.channel)

    finish(world)

    [dm] = world.slack.direct_messages("U0ALICE")
    text = text_of(dm)
    assert f"I can no longer post in <#C0DEPLOYS>: {why}" in text
    assert "promote dep-hello-4 to hello-chain/production" in text
    assert "Check `/chain status hello-chain production`" in text
    [parent] = world.channel_messages()
    assert not any("is live in" in text_of(r) for r in parent.replies)
    assert world.chainops.store.outbox.depth() == 0


def test_a_channel_that_refuses_the_first_post_is_answered_in_place_not_in_a_dm(world: World) -> None:
    world.slack.channels_without_bot.add("C0SECRET")
    world.command(PROMOTE + " --keep-previous", channel="C0SECRET")

    assert "/invite @chainops" in world.private_text()
    assert world.slack.direct_messages("U0ALICE") == []


def test_messages_given_up_through_an_outage_tell_the_requester_in_a_dm(tmp_path: Path) -> None:
    world = make_world(tmp_path, env={"chainops_outbox_give_up": 1.5}, outbox=QUICK)
    try:
        for method in ("chat.postMessage", "chat.update"):
            world.slack.fail_next(method, times=10_000, status=503, channel="C0DEPLOYS")
        confirm(world)
        finish(world)
        world.deliver(timeout=8)

        assert world.channel_messages() == []
        [dm] = world.slack.direct_messages("U0ALICE")
        text = text_of(dm)
        assert re.search(
            r"Slack did not take my messages to <#C0DEPLOYS> for \d s, so I gave up on them", text
        )
        assert "promote dep-hello-4 to hello-chain/production" in text
        assert "`/chain status hello-chain production`" in text
        assert world.chainops.store.outbox.depth() == 0
    finally:
        world.chainops.close()
        world.slack.close()


def _request_id(world: World) -> str:
    [rollout] = world.chainops.store.rollouts()
    return rollout.request_id
