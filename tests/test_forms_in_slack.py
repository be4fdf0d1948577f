"""Both forms open step by step the way Slack accepts them, and a quick second choice wins the race."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.test_modals import pick
from tests.world import World


def latest(world: World) -> dict[str, Any]:
    view = world.slack.latest_view()
    assert view is not None
    return view


def inputs(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["type"] == "input"]


def chosen(block_id: str, action_id: str, value: str) -> dict[str, Any]:
    return {block_id: {action_id: {"type": "static_select", "selected_option": {"value": value}}}}


def submit(world: World, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    request = world.payloads.view_submission(
        callback_id=view["callback_id"],
        values=values,
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        view_id=view["id"],
    )
    response = world.app.dispatch(request.bolt_request())
    assert response.status == 200
    world.settle()
    return json.loads(response.body) if response.body else {}


CHAIN = chosen("chain", "chainops_pick_chain", "chain-hello")


def test_promote_form_goes_from_next_to_preview(world: World) -> None:
    world.command("promote")
    first = latest(world)
    assert inputs(first) == ["chain"] and first["submit"]["text"] == "Next"

    assert submit(world, first, {}) == {
        "response_action": "errors",
        "errors": {"chain": "Choose a chain first."},
    }

    # "Next" with a chain chosen (before Slack delivered the pick) shows the rest of the form in place.
    answer = submit(world, first, CHAIN)
    assert answer["response_action"] == "update"
    second = answer["view"]
    assert inputs(second) == ["chain", "env", "deployment", "scale_down"]
    assert second["submit"]["text"] == "Preview"
    assert world.writes == []


def test_instance_type_form_goes_chain_then_environment_then_chainlets(world: World) -> None:
    world.command("instance-type")
    first = latest(world)
    assert inputs(first) == ["chain"] and first["submit"]["text"] == "Next"

    second = submit(world, first, CHAIN)["view"]
    assert inputs(second) == ["chain", "env"] and second["submit"]["text"] == "Next"
    assert submit(world, {**second, "id": first["id"]}, CHAIN) == {
        "response_action": "errors",
        "errors": {"env": "Choose an environment first."},
    }

    third = submit(world, {**second, "id": first["id"]}, {**CHAIN, **chosen("env", "chainops_pick_env", "staging")})
    assert third["response_action"] == "update"
    chainlets = [b["label"]["text"] for b in third["view"]["blocks"] if b.get("block_id", "").startswith("chainlet:")]
    assert chainlets == ["HelloWorld", "RandInt"] and third["view"]["submit"]["text"] == "Preview"


def test_the_loading_view_and_error_variants_are_accepted_by_slack(world: World) -> None:
    world.sim.fail_next(500, times=10, path_contains="/environments")
    world.command("promote")
    pick(world, latest(world), "chainops_pick_chain", "chain-hello")

    loading, failed = [c.params["view"] for c in world.slack.calls_to("views.update")]
    assert "Loading from Baseten" in json.dumps(loading) and loading["submit"]["text"] == "Next"
    assert "Baseten had an internal error" in json.dumps(failed) and failed["submit"]["text"] == "Next"
    assert all(c.error is None for c in world.slack.calls_to("views.update"))


def test_every_view_update_names_the_view_it_replaces(world: World) -> None:
    world.command("instance-type")
    pick(world, latest(world), "chainops_pick_chain", "chain-hello")
    pick(world, latest(world), "chainops_pick_env", "production")

    updates = world.slack.calls_to("views.update")
    assert len(updates) == 3 and all(u.params.get("hash") for u in updates)
    assert all(u.error is None for u in updates)


def test_a_quick_second_choice_wins_over_a_slow_first_one(world: World) -> None:
    world.command("promote")
    opened = latest(world)
    world.sim.latency = 0.5
    first = threading.Thread(target=pick, args=(world, opened, "chainops_pick_chain", "chain-hello"))
    first.start()
    world.slack.wait_for(lambda: len(world.slack.calls_to("views.update")) == 1)  # hello-chain is loading

    pick(world, latest(world), "chainops_pick_chain", "chain-summ")
    first.join()

    shown = latest(world)
    assert shown["blocks"][0]["element"]["initial_option"]["value"] == "chain-summ"
    deployments = next(b for b in shown["blocks"] if b.get("block_id") == "deployment")
    assert [o["value"] for o in deployments["element"]["options"]] == ["dep-summ-1"]
    # hello-chain's form arrived after summarizer's loading view: Slack refused it, and nothing else was tried.
    assert [c.error for c in world.slack.calls_to("views.update")].count("hash_conflict") == 1
    world.sim.latency = 0.0
