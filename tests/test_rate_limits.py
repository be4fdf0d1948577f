"""Baseten's rate limit is honoured in full, in one place: once it answers 429, nothing reaches it until
the window it named has passed, and every person and rollout is told or rescheduled accordingly."""

from __future__ import annotations

from tests.fakes.slack_api import text_of
from tests.world import World

PROMOTE = "promote hello-chain production dep-hello-4"


def start(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])


def test_a_429_holds_every_request_for_its_window_and_the_rollout_then_finishes(world: World) -> None:
    start(world)
    world.follow(seconds=5)
    world.sim.fail_next(429, retry_after=12)
    world.follow(seconds=5)  # this poll is refused
    limited_at = world.clock.now
    assert world.sim.requests[-1].at == limited_at

    for second in range(1, 12):
        world.follow(seconds=1)  # the follower keeps ticking through the window
        if second == 6:
            world.command("status hello-chain production", response="status")  # and a person asks

    assert [r for r in world.sim.requests if r.at > limited_at] == []
    assert "Baseten is rate limiting requests; try again in 6 seconds" in world.private_text("status")

    for _ in range(12):
        world.follow(seconds=5)
    after = [r for r in world.sim.requests if r.at > limited_at]
    assert after and after[0].at >= limited_at + 12
    closing = text_of(world.channel_messages()[0].replies[-1])
    assert "is live in hello-chain/*production*" in closing
    # A rate limit is not an outage: nobody was told Baseten stopped answering.
    assert not any("has not answered" in text_of(r) for r in world.channel_messages()[0].replies)


def test_a_person_asking_during_the_window_is_told_when_to_try_again(world: World) -> None:
    world.sim.fail_next(429, retry_after=20, method="GET")
    world.command(PROMOTE)
    assert "try again in 20 seconds" in world.private_text()

    world.clock.advance(15)
    sent = len(world.sim.requests)
    world.command(PROMOTE, response="again")
    assert "try again in 5 seconds" in world.private_text("again")
    assert len(world.sim.requests) == sent  # the bot held it back; Baseten saw nothing

    world.clock.advance(5)
    world.command(PROMOTE, response="third")
    assert "Confirm" in world.private_text("third")


def test_a_rate_limited_write_is_not_retried_and_the_person_is_told_when_to_try_again(world: World) -> None:
    world.command(PROMOTE)
    world.sim.fail_next(429, retry_after=30, method="POST")
    world.click(world.buttons()["chainops_confirm"])

    [parent] = world.channel_messages()
    reply = text_of(parent.replies[-1])
    assert "<@U0ALICE>" in reply and "the change was not made" in reply and "Try again in 30 seconds" in reply
    # Not a refusal: the parent says why nothing changed.
    assert "rate limiting requests; nothing changed" in text_of(parent)
    assert "refused" not in text_of(parent)
    for _ in range(10):
        world.follow(seconds=10)
    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
