"""Baseten's errors reach people as specific, actionable messages; secrets never do."""

from __future__ import annotations

import logging

import pytest

from tests.fakes.slack_api import text_of
from tests.world import API_KEY, TOKEN, World

PROMOTE = "promote hello-chain production dep-hello-4"


def test_rejected_api_key(world: World) -> None:
    world.sim.fail_next(401, times=10)
    world.command(PROMOTE)
    assert "Baseten rejected the API key" in world.private_text()


def test_reads_are_retried_through_server_errors(world: World) -> None:
    world.sim.fail_next(503, times=2, method="GET")
    world.command(PROMOTE)
    assert "Confirm" in world.private_text()


def test_a_forbidden_environment_says_the_key_may_not_change_it(world: World) -> None:
    world.command(PROMOTE)
    world.sim.fail_next(403, method="POST", body={"error": "You do not have access to this environment"})
    world.click(world.buttons()["chainops_confirm"])

    reply = text_of(world.channel_messages()[0].replies[-1])
    assert "environment production" in reply and "may not change it" in reply
    assert "rejected the API key" not in reply


def test_persistent_server_errors_are_reported(world: World) -> None:
    world.sim.fail_next(500, times=50, method="GET")
    world.command(PROMOTE)
    assert "Baseten had an internal error" in world.private_text()


@pytest.mark.parametrize(
    "status, expected",
    [(500, "internal error"), (429, "rate limiting"), (404, "no deployment dep-hello-4"), (409, "refused the request")],
)
def test_write_errors_are_answered_in_the_thread_and_never_retried(world: World, status: int, expected: str) -> None:
    world.command(PROMOTE)
    world.sim.fail_next(status, method="POST")
    world.click(world.buttons()["chainops_confirm"])

    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
    [parent] = world.channel_messages()
    reply = text_of(parent.replies[-1])
    assert "<@U0ALICE>" in reply and expected in reply
    assert "Failed" in text_of(parent)


def test_a_write_that_never_connected_is_retried_and_reaches_baseten_once(world: World) -> None:
    world.command(PROMOTE)
    world.sim.disconnect_next(method="POST")
    world.click(world.buttons()["chainops_confirm"])

    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
    [parent] = world.channel_messages()
    assert "following deployment `dep-hello-4`" in text_of(parent.replies[-1])


def test_baseten_out_of_reach_for_a_write_is_reported(world: World) -> None:
    world.command(PROMOTE)
    world.sim.disconnect_next(times=10, method="POST")
    world.click(world.buttons()["chainops_confirm"])

    assert world.writes == []
    [parent] = world.channel_messages()
    assert "<@U0ALICE> Could not reach Baseten" in text_of(parent.replies[-1])


def test_secrets_never_appear_in_slack_or_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.sim.fail_next(401)
    world.command(PROMOTE)
    world.sim.fail_next(500, times=50)
    world.command(PROMOTE, response="again")
    world.sim.clear_failures()
    world.command(PROMOTE, response="third")
    world.click(world.buttons("third")["chainops_confirm"], response="third")
    world.follow(seconds=30)

    seen = [str(call.params) for call in world.slack.calls] + [str(r) for r in world.slack.responses]
    everything = "\n".join(seen) + caplog.text
    assert API_KEY not in everything
    assert TOKEN not in everything
    assert world.writes  # the flow really ran, so the logs had something to leak
