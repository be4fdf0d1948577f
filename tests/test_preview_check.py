"""A Confirm re-checks that its preview is still current without letting a slow Baseten hold the change:
chainops' own records first, then Baseten within a short budget."""

from __future__ import annotations

import httpx

from bot.changes.decide import PREVIEW_CHECK_BUDGET
from tests.fakes.slack_api import buttons, text_of
from tests.world import API_KEY, World

PROMOTE = "promote hello-chain production dep-hello-4"
ENVIRONMENT = "/v1/chains/chain-hello/environments/production"
SLOW = PREVIEW_CHECK_BUDGET + 0.5  # seconds Baseten takes to answer every call


def promote_outside_chainops(world: World, deployment_id: str) -> str:
    """Someone promotes in Baseten's own UI, and the promotion finishes: the id now live."""
    api = httpx.Client(transport=world.sim, base_url="https://api.baseten.co", headers={"Authorization": f"Bearer {API_KEY}"})
    answer = api.post(f"{ENVIRONMENT}/promote", json={"deployment_id": deployment_id, "scale_down_previous_deployment": False})
    answer.raise_for_status()
    live = answer.json()["id"]
    for _ in range(20):
        world.clock.advance(30)
        if api.get(ENVIRONMENT).json()["current_deployment"]["id"] == live:
            return str(live)
    raise AssertionError("the outside promotion never finished")


def thread_texts(world: World) -> list[str]:
    [parent] = world.channel_messages()
    return [text_of(reply) for reply in parent.replies]


def test_slow_baseten_does_not_hold_a_confirmed_change_and_the_thread_says_what_was_replaced(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    # The preview said dep-hello-3 is live; meanwhile someone makes dep-hello-2 live outside chainops.
    live = promote_outside_chainops(world, "dep-hello-2")
    world.sim.latency = SLOW
    seen = len(world.sim.requests)

    world.click(confirm)

    after_click = [(r.method, r.path) for r in world.sim.requests[seen:]]
    # The re-check was asked once and not waited for; the write followed it.
    assert after_click[:2] == [("GET", ENVIRONMENT), ("POST", f"{ENVIRONMENT}/promote")]
    assert [w.json["deployment_id"] for w in world.writes][-1] == "dep-hello-4"
    assert "Confirmed; follow it in the <https://chainops-test.slack.com/archives/C0DEPLOYS/p" in world.private_text()
    assert any("Baseten was too slow to re-check the environment before the change" in t for t in thread_texts(world))

    world.sim.latency = 0.0
    world.follow()  # the first poll, while the promotion is still rolling out
    for _ in range(20):
        world.follow(seconds=30)
        if any("is live" in t for t in thread_texts(world)):
            break
    [final] = [t for t in thread_texts(world) if "is live" in t]
    assert "`dep-hello-4` is live" in final
    assert f"had changed since the preview: `{live}` was live when the change was made, not `dep-hello-3`" in final
    # A rollback returns to what was really live, not to what the preview showed.
    [parent] = world.channel_messages()
    rollback = [b for reply in parent.replies for b in buttons(reply) if b["action_id"] == "chainops_rollback"]
    assert rollback and f"Roll back to `{live}`" in text_of(parent.replies[-1])


def test_slow_baseten_unchanged_environment_finishes_without_a_warning(world: World) -> None:
    world.command(PROMOTE)
    world.sim.latency = SLOW
    world.click(world.buttons()["chainops_confirm"])
    assert [w.json["deployment_id"] for w in world.writes] == ["dep-hello-4"]

    world.sim.latency = 0.0
    world.follow()  # the first poll, while the promotion is still rolling out
    for _ in range(20):
        world.follow(seconds=30)
        if any("is live" in t for t in thread_texts(world)):
            break
    [final] = [t for t in thread_texts(world) if "is live" in t]
    assert "Previous deployment `dep-hello-3`" in final
    assert "changed since the preview" not in final and "could not check" not in final


def test_answering_baseten_still_refuses_a_preview_changed_outside_chainops(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    promote_outside_chainops(world, "dep-hello-2")
    writes_before = len(world.writes)

    world.click(confirm, response="late")

    assert "hello-chain/production changed since the preview, run the command again" in world.private_text("late")
    assert len(world.writes) == writes_before
    assert world.channel_messages() == []


def test_a_change_through_chainops_makes_the_preview_stale_even_when_baseten_is_slow(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    # Bob promotes dep-hello-2 through chainops after Alice's preview was made.
    world.clock.advance(1)
    world.command("promote hello-chain production dep-hello-2 --keep-previous", user="U0BOB", response="bob")
    world.sim.latency = SLOW
    seen, writes_before = len(world.sim.requests), len(world.writes)

    world.click(confirm, response="late")

    assert "hello-chain/production changed since the preview, run the command again" in world.private_text("late")
    assert len(world.writes) == writes_before
    # Refused from chainops' own records: Baseten was not even asked.
    assert world.sim.requests[seen:] == []
