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
    """Rollout polls read the environment (its candidate and current deployment) once per interval."""
    return len([r for r in world.sim.requests if r.method == "GET" and r.path.endswith("/environments/production")])


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
    assert "<@U0ALICE> I stopped following" in closing and "after 2 hours" in closing
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


def test_each_poll_is_one_baseten_request(world: World) -> None:
    start(world)
    before = len(world.sim.requests)
    world.follow(seconds=5)
    assert len(world.sim.requests) - before == 1


def test_a_rollout_replaced_by_another_promotion_says_so(world: World) -> None:
    world.command("promote hello-chain production dep-hello-4 --keep-previous")
    world.clock.advance(60)  # live in Baseten before the bot polls it
    world.command("promote hello-chain production dep-hello-2 --keep-previous", user="U0BOB", response="bob")
    world.clock.advance(60)  # and Bob's deployment replaces it

    world.follow()

    alices, bobs = world.channel_messages()
    closing = text_of(alices.replies[-1])
    assert "<@U0ALICE>" in closing and "now serves `dep-" in closing and "replaced it" in closing
    assert "is live in" in text_of(bobs.replies[-1])


def test_ready_deployment_is_not_called_live_before_the_environment_serves_it(world: World) -> None:
    # Baseten ramps traffic over five minutes before the environment serves the new deployment.
    world.sim.set_promotion_settings("chain-hello", "production", ramp_up_while_promoting=True, ramp_up_duration_seconds=300)
    start(world)
    for _ in range(6):
        world.follow(seconds=10)
    [parent] = world.channel_messages()
    assert "ACTIVE" in text_of(parent) and "rolling out" in text_of(parent)
    assert not any("is live in" in text_of(r) for r in parent.replies)

    world.follow(seconds=300)

    assert "is live in" in text_of(world.channel_messages()[0].replies[-1])
