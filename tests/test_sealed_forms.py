"""A form's private_metadata decides where its result goes; it is sealed, and a form whose metadata does
not verify is refused with a short answer before anything reaches Baseten."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.modals import FormMetadata
from bot.slack.sealed import Seal, Tampered
from tests.world import SECRET, TOKEN, World


def pick_chain(world: World, view: dict[str, Any]) -> None:
    value = "chain-hello"
    request = world.payloads.block_action(
        action_id="chainops_pick_chain",
        value=value,
        selected_option={"text": {"type": "plain_text", "text": value}, "value": value},
        view=view,
    )
    assert world.app.dispatch(request.bolt_request()).status == 200
    world.settle()


def submit(world: World, view: dict[str, Any]) -> dict[str, Any]:
    values = {
        "chain": {"chainops_pick_chain": {"type": "external_select", "selected_option": {"value": "chain-hello"}}},
        "env": {"chainops_pick_env": {"type": "static_select", "selected_option": {"value": "production"}}},
        "deployment": {"chainops_pick_deployment": {"type": "static_select", "selected_option": {"value": "dep-hello-4"}}},
    }
    request = world.payloads.view_submission(callback_id=view["callback_id"], values=values, private_metadata=view["private_metadata"])
    response = world.app.dispatch(request.bolt_request())
    assert response.status == 200
    world.settle()
    return json.loads(response.body) if response.body else {}


def filled_promote_form(world: World) -> dict[str, Any]:
    world.command("promote")
    pick_chain(world, world.slack.latest_view() or {})
    view = world.slack.latest_view()
    assert view is not None
    return view


def tampered(view: dict[str, Any], **changes: str) -> dict[str, Any]:
    """The same view with its metadata changed but its seal kept."""
    prefix, mac, text = view["private_metadata"].split(".", 2)
    meta = {**json.loads(text), **changes}
    return {**view, "private_metadata": f"{prefix}.{mac}.{json.dumps(meta)}"}


def test_form_metadata_goes_to_slack_sealed_and_comes_back_working(world: World) -> None:
    view = filled_promote_form(world)

    assert view["private_metadata"].startswith("s1.")
    assert Seal(SECRET).open(view["private_metadata"]).startswith('{"channel":"C0DEPLOYS"')
    assert submit(world, view) == {}
    world.click(world.buttons()["chainops_confirm"])  # the form previews; its Confirm runs it
    [write] = world.writes
    assert write.json["deployment_id"] == "dep-hello-4"
    assert "is promoting" in world.channel_messages()[0].text


def test_a_submission_whose_metadata_was_changed_is_refused(world: World) -> None:
    view = tampered(filled_promote_form(world), response_url="http://127.0.0.1:9/elsewhere", channel="C0OTHER")
    asked_before = len(world.sim.requests)

    answer = submit(world, view)

    assert answer["response_action"] == "errors"
    assert "could not be verified" in answer["errors"]["chain"]
    assert len(world.sim.requests) == asked_before  # nothing reached Baseten
    assert world.private() is None and world.channel_messages("C0OTHER") == []


def test_metadata_sealed_with_another_key_or_not_at_all_is_refused(world: World) -> None:
    view = filled_promote_form(world)
    text = Seal(SECRET).open(view["private_metadata"])

    for metadata in (Seal("someone-else").close(text), text, ""):
        answer = submit(world, {**view, "private_metadata": metadata})
        assert "could not be verified" in answer["errors"]["chain"]
    assert world.writes == [] and world.private() is None


def test_a_choice_made_on_a_tampered_form_asks_baseten_nothing_and_says_why(world: World) -> None:
    world.command("promote")
    opened = world.slack.latest_view()
    assert opened is not None
    asked_before = len(world.sim.requests)

    pick_chain(world, tampered(opened, channel="C0OTHER"))

    shown = world.slack.latest_view()
    assert shown is not None and "could not be verified" in json.dumps(shown["blocks"])
    assert len(world.sim.requests) == asked_before


def test_socket_mode_seals_with_the_bot_token_when_there_is_no_signing_secret() -> None:
    sealed = Seal.from_secrets("", TOKEN).close("{}")

    assert Seal(TOKEN).open(sealed) == "{}"
    try:
        Seal.from_secrets("", "").open(sealed)
    except Tampered:
        pass
    else:
        raise AssertionError("a process without secrets accepted another's seal")


def test_sealed_metadata_stays_within_slacks_limit() -> None:
    meta = FormMetadata(
        channel="C" + "0" * 20,
        response_url="https://hooks.slack.com/commands/T0000000/" + "1" * 200,
        chain_id="x" * 200,
        chain_name="n" * 200,
        env="e" * 200,
    )

    assert len(Seal(SECRET).close(meta.model_dump_json(exclude_none=True))) <= 3000
