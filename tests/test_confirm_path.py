"""From a Confirm to Baseten's write nothing waits on Slack, and what a person is told about a change is
true: a stale preview is "not run", a `--force` with no lock overrides nothing, a second click says
where the change stands."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bot.store import ConfirmationState
from tests.fakes.slack_api import buttons, text_of
from tests.world import World

PROMOTE = "promote hello-chain production dep-hello-4"


def promote_writes(world: World) -> list:
    return [w for w in world.writes if w.path.endswith("/promote")]


def click_and_time_the_write(world: World, confirm: dict, *, response: str = "click") -> float:
    """Click as Slack does, and return how long after the click the write reached Baseten."""
    request = world.payloads.block_action(
        action_id=confirm["action_id"],
        value=confirm["value"],
        user=world.user,
        channel=world.channel,
        container_is_ephemeral=True,
        response_url_name=response,
    )
    before = len(promote_writes(world))
    clicked = time.monotonic()
    world.app.dispatch(request.bolt_request())
    while len(promote_writes(world)) == before:
        assert time.monotonic() - clicked < 5, "the write never reached Baseten"
        time.sleep(0.005)
    return time.monotonic() - clicked


def test_a_response_url_answering_after_9_s_does_not_delay_the_write(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.slack.slow_responses = 9.0

    took = click_and_time_the_write(world, confirm)

    assert took <= 1.0
    world.slack.heal()  # Slack answers at last
    world.settle()
    assert "Confirmed; follow it in the" in world.private_text("click")
    assert len(world.channel_messages()) == 1


def test_a_response_url_answering_429_for_120_s_does_not_delay_the_write_and_is_one_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.slack.rate_limit_responses(times=3, retry_after=120)

    with caplog.at_level(logging.WARNING):
        took = click_and_time_the_write(world, confirm)
        world.settle()
        # A refusal answered privately meanwhile is held too, without a second line.
        world.command("promote hello-chain nowhere dep-hello-4", response="other")

    assert took <= 1.0
    held = [r for r in caplog.records if "rate limiting private answers" in r.getMessage()]
    assert len(held) == 1 and "120 s" in held[0].getMessage()
    # The change is followed in the channel meanwhile.
    [parent] = world.channel_messages()
    assert "is promoting hello-chain deployment `dep-hello-4`" in parent.text


def test_parallel_clicks_write_once_and_the_others_hear_where_the_change_stands(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.sim.latency = 0.3  # the write takes a while: the other clicks arrive while it runs
    requests = [
        world.payloads.block_action(
            action_id=confirm["action_id"],
            value=confirm["value"],
            user=world.user,
            channel=world.channel,
            container_is_ephemeral=True,
            response_url_name=f"click{i}",
        )
        for i in range(4)
    ]
    threads = [threading.Thread(target=world.app.dispatch, args=(r.bolt_request(),)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    world.settle()
    world.sim.latency = 0.0

    assert len(promote_writes(world)) == 1
    answers = [world.private_text(f"click{i}") for i in range(4)]
    assert sum("Confirmed; follow it in the" in a for a in answers) == 1
    others = [a for a in answers if "Confirmed; follow it in the" not in a]
    assert all("being made right now" in a or "already made" in a for a in others), others
    assert not any("failed" in a or "pending" in a for a in answers)


def test_a_stale_preview_is_not_run_said_once_and_recorded_as_such(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.clock.advance(1)
    world.command("promote hello-chain production dep-hello-2 --keep-previous", user="U0BOB", response="bob")
    writes = len(world.writes)

    world.click(confirm, response="late")

    assert len(world.writes) == writes
    [answer] = world.slack.responses_to("late")  # said once: the preview itself is closed with it
    assert "Not run: hello-chain/production changed since the preview" in text_of(answer)
    assert buttons(world.private("late")) == []
    [confirmation] = [c for c in _confirmations(world) if c.requester == "U0ALICE"]
    assert confirmation.state == ConfirmationState.NOT_RUN
    world.command("history hello-chain", response="history")
    history = world.private_text("history")
    assert "not run: changed since the preview" in history and "failed" not in history
    # A later click says what became of it, not "already attempted and failed".
    world.click(confirm, response="again")
    again = world.private_text("again")
    assert "Not run: hello-chain/production changed since the preview" in again
    assert "failed" not in again


def test_a_preview_that_baseten_cannot_re_check_is_not_run_not_failed(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.sim.fail_next(403, method="GET", path_contains="/environments/production")

    world.click(confirm, response="late")

    assert promote_writes(world) == []
    [answer] = world.slack.responses_to("late")
    assert "Not run:" in text_of(answer)
    world.command("history hello-chain", response="history")
    assert "not run: Baseten could not be read" in world.private_text("history")


def test_force_without_a_lock_overrides_nothing_and_records_nothing_false(world: World) -> None:
    world.command(PROMOTE + " --force")

    preview = world.private_text()
    assert "not locked; nothing to override" in preview
    assert "Forc" not in preview.replace("`--force`", "")
    world.click(world.buttons()["chainops_confirm"])

    [parent] = world.channel_messages()
    assert "forced" not in parent.text
    world.command("history hello-chain", response="history")
    assert "forced" not in world.private_text("history")


def _confirmations(world: World) -> list:
    from sqlalchemy import select

    from bot.store import Confirmation

    with world.chainops.store._sessions() as s:  # noqa: SLF001 - reading what the bot recorded
        return list(s.scalars(select(Confirmation)))
