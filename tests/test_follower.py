"""Following rollouts: long builds, timeouts, an unreachable Baseten, a rate-limited Slack."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.slack_api import text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-2"  # in staging already: Baseten builds a copy


def start(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])


def polls(world: World) -> int:
    return len([r for r in world.sim.requests if r.method == "GET" and "/deployments/dep-" in r.path and r.path.count("/") == 5])


def test_long_builds_are_polled_less_often(tmp_path: Path) -> None:
    world = make_world(tmp_path, env={"chainops_rollout_timeout": 100_000.0})
    try:
        world.sim.step_seconds = 100_000  # stuck in BUILDING
        start(world)
        world.follow()
        early = polls(world)
        for _ in range(60):
            world.follow(seconds=5)  # five minutes at the 5 s interval
        late = polls(world) - early
        assert 0 < late < 30
    finally:
        world.chainops.close()
        world.slack.close()


def test_gives_up_after_the_rollout_timeout_and_says_so(world: World) -> None:
    world.sim.step_seconds = 100_000
    start(world)
    world.follow()
    world.follow(seconds=2 * 3600 + 1)

    closing = text_of(world.channel_messages()[0].replies[-1])
    assert "<@U0ALICE> I stopped following" in closing and "2h" in closing
    world.follow(seconds=60)
    assert text_of(world.channel_messages()[0].replies[-1]) == closing


def test_an_unreachable_baseten_never_ends_a_rollout(world: World) -> None:
    start(world)
    world.sim.fail_next(503, times=10_000, method="GET")
    for _ in range(20):
        world.follow(seconds=20)

    replies = [text_of(r) for r in world.channel_messages()[0].replies]
    assert sum("Baseten has not answered" in r for r in replies) == 1

    world.sim.clear_failures()
    for _ in range(10):
        world.follow(seconds=60)
    replies = [text_of(r) for r in world.channel_messages()[0].replies]
    assert any("answering again" in r for r in replies)
    assert "is live in" in replies[-1]


def test_slack_rate_limits_are_waited_out(world: World) -> None:
    start(world)
    world.slack.rate_limit_next("chat.postMessage", times=1, retry_after=0)
    for _ in range(12):
        world.follow(seconds=10)

    assert "is live in" in text_of(world.channel_messages()[0].replies[-1])
    assert any(c.error == "ratelimited" for c in world.slack.calls)


def test_transitions_are_coalesced_into_one_reply_per_poll(world: World) -> None:
    start(world)
    world.follow(seconds=100)  # several steps at once: one reply, not one per change

    replies = world.channel_messages()[0].replies
    assert len(replies) <= 3
