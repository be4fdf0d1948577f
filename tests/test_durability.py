"""Nothing is lost: confirmations and followed rollouts survive a restart of the bot."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.slack_api import text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"


def restart(old: World, tmp_path: Path, database_url: str) -> World:
    """A new bot process on the same database, Slack and Baseten."""
    old.chainops.close()
    return make_world(tmp_path, database_url=database_url, slack=old.slack, sim=old.sim, clock=old.clock)


def test_confirmation_shown_before_a_restart_still_works_after_it(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        world.command(PROMOTE)
        confirm = world.buttons()["chainops_confirm"]
        world = restart(world, tmp_path, database_url)

        world.click(confirm)

        assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
        assert len(world.channel_messages()) == 1
    finally:
        world.chainops.close()
        world.slack.close()


def test_rollout_resumes_in_the_same_thread_after_a_restart(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        world.command(PROMOTE)
        world.click(world.buttons()["chainops_confirm"])
        world.follow(seconds=10)
        [parent] = world.channel_messages()
        world = restart(world, tmp_path, database_url)
        # The old process held a lease; the new one takes over once it lapses.
        for _ in range(12):
            world.follow(seconds=15)

        [same_parent] = world.channel_messages()
        assert same_parent.ts == parent.ts
        assert "is live in hello-chain/*production*" in text_of(same_parent.replies[-1])
        closings = [r for r in same_parent.replies if "is live in" in text_of(r)]
        assert len(closings) == 1
    finally:
        world.chainops.close()
        world.slack.close()


def test_history_is_kept_in_the_audit_trail(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        world.command(PROMOTE)
        world.click(world.buttons()["chainops_confirm"])
        for _ in range(12):
            world.follow(seconds=10)
        world = restart(world, tmp_path, database_url)

        world.command("history hello-chain", response="history")

        shown = world.private_text("history")
        assert "<@U0ALICE>" in shown and "promote dep-hello-4 to hello-chain/production" in shown
        assert "succeeded" in shown
    finally:
        world.chainops.close()
        world.slack.close()
