"""`/chain promote` and `/chain instance-type` without arguments open forms offering only valid choices."""

from __future__ import annotations

import json
from typing import Any

from tests.world import World


def last_view(world: World, method: str) -> dict[str, Any]:
    """The view Slack shows after the last `method` call (with the id Slack gave it)."""
    assert world.slack.calls_to(method)
    view = world.slack.latest_view()
    assert view is not None
    return view


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def chainlet_inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The instance-type selects by the chainlet name a person reads on them."""
    return {b["label"]["text"]: b for b in view["blocks"] if b["type"] == "input" and b["block_id"].startswith("chainlet:")}


def pick(world: World, view: dict[str, Any], action_id: str, value: str) -> None:
    request = world.payloads.block_action(
        action_id=action_id,
        value=value,
        selected_option={"text": {"type": "plain_text", "text": value}, "value": value},
        view=view,
    )
    assert world.app.dispatch(request.bolt_request()).status == 200
    world.settle()


def submit(world: World, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    request = world.payloads.view_submission(
        callback_id=view["callback_id"], values=values, private_metadata=view["private_metadata"], blocks=view["blocks"], view_id=view["id"]
    )
    response = world.app.dispatch(request.bolt_request())
    assert response.status == 200
    world.settle()
    return json.loads(response.body) if response.body else {}


def selected(block_id: str, action_id: str, value: str) -> dict[str, Any]:
    return {block_id: {action_id: {"type": "static_select", "selected_option": {"value": value}}}}


def open_promote_form(world: World) -> dict[str, Any]:
    world.command("promote")
    view = last_view(world, "views.open")
    pick(world, view, "chainops_pick_chain", "chain-hello")
    return last_view(world, "views.update")


def test_promote_form_opens_at_once_with_the_command_trigger(world: World) -> None:
    world.command("promote")

    [call] = world.slack.calls_to("views.open")
    assert call.params["trigger_id"]
    view = last_view(world, "views.open")
    assert inputs(view)["chain"]["element"]["type"] == "external_select"
    assert world.sim.requests == []  # nothing waited for Baseten


def test_chain_typeahead_answers_from_baseten(world: World) -> None:
    request = world.payloads.block_suggestion(action_id="chainops_pick_chain", value="summ")
    response = world.app.dispatch(request.bolt_request())

    options = json.loads(response.body)["options"]
    assert [o["text"]["text"] for o in options] == ["summarizer"]


def test_choosing_a_chain_fills_environments_and_deployments_newest_first(world: World) -> None:
    view = open_promote_form(world)

    fields = inputs(view)
    assert [o["value"] for o in fields["env"]["element"]["options"]] == ["production", "staging"]
    deployments = [o["text"]["text"] for o in fields["deployment"]["element"]["options"]]
    assert deployments[0].startswith("dep-hello-4") and deployments[-1].startswith("dep-hello-1")
    assert "ACTIVE · in production" in deployments[1]
    assert fields["scale_down"]["element"]["initial_options"]


def test_valid_submission_leads_into_the_same_preview_and_confirmation(world: World) -> None:
    view = open_promote_form(world)
    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", "production"),
        **selected("deployment", "chainops_pick_deployment", "dep-hello-4"),
        "scale_down": {"chainops_scale_down": {"type": "checkboxes", "selected_options": [{"value": "scale_down"}]}},
    }

    assert submit(world, view, values) == {}
    assert "dep-hello-3" in world.private_text()
    world.click(world.buttons()["chainops_confirm"])

    [write] = world.writes
    assert write.json == {"deployment_id": "dep-hello-4", "scale_down_previous_deployment": True}
    assert world.channel_messages()[0].text.startswith("<@U0ALICE> is promoting")


def test_preview_with_the_previous_deployment_kept_previews_and_waits_for_confirm(world: World) -> None:
    view = open_promote_form(world)
    assert view["submit"]["text"] == "Preview" and "nothing changes until you confirm" in json.dumps(view)
    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", "production"),
        **selected("deployment", "chainops_pick_deployment", "dep-hello-4"),
        "scale_down": {"chainops_scale_down": {"type": "checkboxes", "selected_options": []}},
    }

    assert submit(world, view, values) == {}

    # "Preview" showed a preview: nothing reached Baseten and nothing was posted until Confirm.
    assert world.writes == [] and world.channel_messages() == []
    assert "Will be kept running" in world.private_text() and "dep-hello-3" in world.private_text()
    world.click(world.buttons()["chainops_confirm"])
    [write] = world.writes
    assert write.json == {"deployment_id": "dep-hello-4", "scale_down_previous_deployment": False}


def test_invalid_submission_shows_the_error_on_the_field(world: World) -> None:
    view = open_promote_form(world)
    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", "production"),
        **selected("deployment", "chainops_pick_deployment", "dep-hello-3"),
    }

    answer = submit(world, view, values)

    assert answer["response_action"] == "errors"
    assert "already live" in answer["errors"]["deployment"]
    assert world.writes == [] and world.private() is None


def test_instance_type_form_sends_only_changed_chainlets(world: World) -> None:
    world.command("instance-type")
    view = last_view(world, "views.open")
    pick(world, view, "chainops_pick_chain", "chain-hello")
    view = last_view(world, "views.update")
    pick(world, view, "chainops_pick_env", "production")
    view = last_view(world, "views.update")

    chainlets = chainlet_inputs(view)
    hello = chainlets["HelloWorld"]["element"]
    assert [g["label"]["text"] for g in hello["option_groups"]] == ["CPU", "GPU"]
    current = hello["initial_option"]["value"]
    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", "production"),
        **selected(chainlets["HelloWorld"]["block_id"], "chainops_pick_instance_type", current),
        **selected(chainlets["RandInt"]["block_id"], "chainops_pick_instance_type", "4x16"),
    }
    assert submit(world, view, values) == {}
    world.click(world.buttons()["chainops_confirm"])

    [write] = world.writes
    assert write.json == {"updates": [{"chainlet_name": "RandInt", "instance_type_id": "4x16"}]}


def test_instance_type_form_with_nothing_changed_is_an_error(world: World) -> None:
    world.command("instance-type")
    view = last_view(world, "views.open")
    pick(world, view, "chainops_pick_chain", "chain-hello")
    pick(world, last_view(world, "views.update"), "chainops_pick_env", "production")
    view = last_view(world, "views.update")
    fields = inputs(view)
    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", "production"),
    }
    for block_id, block in fields.items():
        if block_id.startswith("chainlet:"):
            values.update(selected(block_id, "chainops_pick_instance_type", block["element"]["initial_option"]["value"]))

    answer = submit(world, view, values)

    assert answer["response_action"] == "errors"
    assert "Change at least one" in next(iter(answer["errors"].values()))


def test_form_opens_even_when_every_worker_waits_on_a_slow_baseten(world: World) -> None:
    import threading

    world.sim.latency = 2.0
    busy = [threading.Thread(target=world.command, args=("status hello-chain",), kwargs={"response": f"b{i}"}) for i in range(12)]
    for t in busy:
        t.start()
    request = world.payloads.slash_command("promote", response_url_name="form")
    assert world.app.dispatch(request.bolt_request()).status == 200

    # The form opened while every worker still waited on Baseten.
    world.slack.wait_for(lambda: len(world.slack.calls_to("views.open")) == 1, timeout=1.5)
    assert world.sim.requests == []
    world.sim.latency = 0.0  # the form was the point; the reads need not wait any more
    for t in busy:
        t.join()


def test_form_command_is_acknowledged_before_a_slow_views_open_returns(world: World) -> None:
    world.slack.slow["views.open"] = 1.5
    request = world.payloads.slash_command("promote", response_url_name="form")

    response = world.app.dispatch(request.bolt_request())

    # Acknowledged before Slack answered views.open; the form opened all the same.
    assert response.status == 200
    assert all(c.answered_at is None for c in world.slack.calls_to("views.open"))
    world.settle()
    [opened] = world.slack.calls_to("views.open")
    assert opened.answered_at is not None and opened.error is None
    assert world.slack.latest_view()["callback_id"] == "chainops_promote_modal"
    assert world.private_text("form") == ""


def test_typeahead_answers_in_time_even_when_baseten_is_slow(world: World) -> None:
    world.sim.latency = 3.0  # longer than the bot waits (2.2 s of Slack's 3)
    request = world.payloads.block_suggestion(action_id="chainops_pick_chain", value="hel")

    response = world.app.dispatch(request.bolt_request())

    assert response.status == 200 and json.loads(response.body)["options"] == []
    world.sim.latency = 0.0
