"""Every duration a person reads is said one way: "5 seconds", "1 minute", "2 hours", never "1 minutes"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack.durations import duration
from tests.fakes.slack_api import text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (5, "5 seconds"),
        (60, "1 minute"),
        (65, "1 minute 5 seconds"),
        (900, "15 minutes"),
        (3600, "1 hour"),
        (3605, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (7200, "2 hours"),
        (90000, "1 day 1 hour"),
    ],
)
def test_durations_read_as_words(seconds: float, said: str) -> None:
    assert duration(seconds) == said


@pytest.mark.parametrize(("ttl", "said"), [("5", "5 seconds"), ("60", "1 minute"), ("7200", "2 hours")])
def test_preview_says_when_it_expires_in_words(tmp_path: Path, ttl: str, said: str) -> None:
    world = make_world(tmp_path, env={"chainops_confirmation_ttl": ttl})
    try:
        world.command(PROMOTE)
        assert f"This preview expires in {said}." in world.private_text()
    finally:
        world.chainops.close()
        world.slack.close()


def test_approval_request_says_when_it_expires_in_words(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments:\n  production:\n    approvers: [U0BOB]\n")
    world = make_world(tmp_path, env={"chainops_policy": str(policy), "chainops_confirmation_ttl": "60"})
    try:
        world.command(PROMOTE)
        [request] = world.channel_messages()
        assert "Expires in 1 minute." in text_of(request)
    finally:
        world.chainops.close()
        world.slack.close()


def test_rollout_and_rollback_window_are_said_in_words(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(6):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    closing = text_of(parent.replies[-1])
    assert "is live in hello-chain/*production* after 30 seconds." in closing
    assert "for the next 1 hour." in closing
    assert "30 seconds" in text_of(parent)
