"""Environment locks and one-click rollback."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.slack_api import buttons, text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"


def finish(world: World) -> None:
    for _ in range(12):
        world.follow(seconds=10)


def test_locked_environment_refuses_changes_with_who_when_why(world: World) -> None:
    world.command("lock hello-chain production launch freeze", response="lock")
    [announcement] = world.channel_messages()
    assert "locked hello-chain/*production*: launch freeze" in announcement.text

    world.command(PROMOTE)

    shown = world.private_text()
    assert "locked by <@U0ALICE>" in shown and "launch freeze" in shown and "--force" in shown
    assert world.writes == []


def test_force_overrides_a_lock_and_is_announced_and_recorded(world: World) -> None:
    world.command("lock hello-chain production launch freeze", user="U0BOB", response="lock")
    world.command(PROMOTE + " --force")
    world.click(world.buttons()["chainops_confirm"])

    assert len(world.writes) == 1
    assert "forced past a lock" in world.channel_messages()[-1].text
    world.command("history", response="history")
    assert "forced past the lock by <@U0BOB>: launch freeze" in world.private_text("history")


def test_locks_unlocks_and_overrides_are_in_history_with_who_when_why(world: World) -> None:
    world.command("lock hello-chain production launch <!channel> freeze", user="U0BOB", response="lock")
    world.clock.advance(60)
    world.command(PROMOTE + " --force")
    world.click(world.buttons()["chainops_confirm"])
    world.clock.advance(60)
    world.command("unlock hello-chain production", user="U0BOB", response="unlock")
    world.command("lock hello-chain staging", response="lock2")

    world.command("history hello-chain production", response="history")

    shown = world.private_text("history").splitlines()
    unlocked, forced, locked = (line for line in shown if "2027-01-15" in line)
    assert unlocked == "2027-01-15 08:02 UTC · <@U0BOB> · :unlock: *unlocked* hello-chain/production"
    assert forced.startswith("2027-01-15 08:01 UTC · <@U0ALICE> · promote dep-hello-4 to hello-chain/production")
    assert forced.endswith("· :warning: forced past the lock by <@U0BOB>: launch <!channel> freeze")
    assert locked == "2027-01-15 08:00 UTC · <@U0BOB> · :lock: *locked* hello-chain/production: launch <!channel> freeze"
    # Narrowed to production: the staging lock is in the chain's history only.
    world.command("history hello-chain", response="chain")
    assert "*locked* hello-chain/staging: no reason given" in world.private_text("chain")


def test_status_shows_locks_and_unlock_lifts_them(world: World) -> None:
    world.command("lock hello-chain production launch freeze", response="lock")
    world.command("status hello-chain production", response="status")
    assert "Locked by <@U0ALICE>" in world.private_text("status")

    world.command("unlock hello-chain production", response="unlock")
    world.command(PROMOTE)

    assert "chainops_confirm" in world.buttons()


def test_successful_promote_offers_rollback_that_goes_through_confirmation(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    finish(world)
    [parent] = world.channel_messages()
    [rollback] = buttons(parent.replies[-1])
    assert rollback["action_id"] == "chainops_rollback"

    world.click(rollback, message_ts=parent.replies[-1].ts, response="rollback")
    preview = world.private_text("rollback")
    assert "*Roll back* hello-chain/*production* to `dep-hello-3`" in preview
    world.click(world.buttons("rollback")["chainops_confirm"], response="rollback")

    assert [w.json["deployment_id"] for w in world.writes] == ["dep-hello-4", "dep-hello-3"]
    assert "<@U0ALICE> is rolling back hello-chain/*production* to `dep-hello-3`" == world.channel_messages()[-1].text
    world.command("history hello-chain", response="history")
    assert "roll back hello-chain/production to dep-hello-3 · *executed* · rollback" in world.private_text("history")


def test_rollback_works_after_a_restart(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    finish(world)
    [parent] = world.channel_messages()
    [rollback] = buttons(parent.replies[-1])
    world.chainops.close()
    world = make_world(tmp_path, slack=world.slack, sim=world.sim, clock=world.clock)
    try:
        world.click(rollback, message_ts=parent.replies[-1].ts, response="rollback")
        assert "chainops_confirm" in world.buttons("rollback")
    finally:
        world.chainops.close()
        world.slack.close()


def test_rollback_window_closes(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    finish(world)
    [parent] = world.channel_messages()
    [rollback] = buttons(parent.replies[-1])
    world.clock.advance(2 * 3600)

    world.click(rollback, message_ts=parent.replies[-1].ts, response="late")

    assert "rollback window" in world.private_text("late")


def test_no_rollback_offered_when_previous_deployment_was_deactivated(world: World) -> None:
    world.sim.set_promotion_settings("chain-hello", "production", promotion_cleanup_strategy="DEACTIVATE")
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    finish(world)

    closing = world.channel_messages()[0].replies[-1]
    assert buttons(closing) == []
    assert "No rollback offered" in text_of(closing) and "reactivation" in text_of(closing)


def test_a_lock_taken_after_the_preview_stops_its_confirmation(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.command("lock hello-chain production incident", user="U0BOB", response="lock")

    world.click(confirm)

    assert world.writes == []
    shown = [text_of(r) for r in world.slack.shown_responses()]
    assert any("locked by <@U0BOB>" in r and "incident" in r for r in shown)
    assert all(buttons(r) == [] for r in world.slack.shown_responses())
