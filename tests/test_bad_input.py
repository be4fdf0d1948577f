"""Every kind of bad input gets a short, specific private answer; nothing is posted or written."""

from __future__ import annotations

import json

import pytest

from tests.world import World

CASES = {
    "unknown verb": ("frobnicate hello-chain", "Unknown command `frobnicate`"),
    "missing arguments": ("promote hello-chain production", "missing <deployment_id>"),
    "too many arguments": ("promote hello-chain production dep-hello-4 extra", "too many arguments"),
    "unknown flag": ("promote hello-chain production dep-hello-4 --yolo", "Unknown option `--yolo`"),
    "odd quoting": ('promote "hello-chain production dep-hello-4', "Unbalanced quotes"),
    "control characters": ("promote hello-chain\x1b[2J production dep-hello-4", "control characters"),
    "very long input": ("promote " + "x" * 5000, "too long"),
    "invalid name": ("promote hello-chain production dep;rm", "not a valid deployment id"),
    "unknown chain": ("promote helo-chain production dep-hello-4", "No chain named `helo-chain`. Did you mean `hello-chain`? Chains: hello-chain, summarizer"),
    "unknown environment": ("promote hello-chain prod dep-hello-4", "No environment `prod` in hello-chain"),
    "unknown deployment": ("promote hello-chain production dep-nope", "No deployment `dep-nope` in hello-chain"),
    "deployment of another chain": ("promote hello-chain production dep-summ-1", "dep-summ-1"),
    "deactivated deployment": ("promote hello-chain production dep-hello-1", "no reactivation endpoint"),
    "already live": ("promote hello-chain production dep-hello-3", "already live"),
    "malformed pair": ("instance-type hello-chain production HelloWorld", "should look like `<chainlet>=<instance_type>`"),
    "unknown chainlet": ("instance-type hello-chain production Hello=1x4", "No chainlet `Hello` in hello-chain/production"),
    "unknown instance type": ("instance-type hello-chain production HelloWorld=9x9", "No instance type `9x9`"),
    "same instance type twice": ("instance-type hello-chain production HelloWorld=1x4 HelloWorld=2x8", "named twice"),
    "status of unknown chain": ("status nope", "No chain named `nope`"),
}


@pytest.mark.parametrize("text, answer", CASES.values(), ids=CASES.keys())
def test_bad_input_is_answered_privately_and_never_reaches_baseten(world: World, text: str, answer: str) -> None:
    response = world.command(text)

    assert response.status == 200
    assert answer in world.private_text()
    assert len(world.private_text()) < 400
    assert world.channel_messages() == []
    assert world.writes == []


def test_help_and_bare_command_show_usage_with_examples(world: World) -> None:
    for text in ("", "help"):
        world.command(text, response=f"help-{text}")
        shown = world.private_text(f"help-{text}")
        assert "/chain promote" in shown and "e.g. `/chain promote hello-chain production" in shown
        assert "/chain instance-type" in shown and "/chain status" in shown
    assert world.channel_messages() == []


DOT_SEGMENTS = ["..", ".", "../../instance_types"]


@pytest.mark.parametrize("env", DOT_SEGMENTS)
def test_an_altered_form_payload_naming_dot_segments_never_reaches_baseten(world: World, env: str) -> None:
    from tests.test_modals import last_view, pick, selected, submit

    world.command("instance-type")
    pick(world, last_view(world, "views.open"), "chainops_pick_chain", "chain-hello")
    view = last_view(world, "views.update")
    pick(world, view, "chainops_pick_env", env)  # a value no option offered
    assert "is not a valid environment name" in str(last_view(world, "views.update"))

    values = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", env),
        **selected("chainlet:RandInt", "chainops_pick_instance_type", "4x16"),
    }
    answer = submit(world, view, values)  # "Next" with that environment: the form says what is wrong
    assert "is not a valid environment name" in json.dumps(answer)

    promote_form = {
        **selected("chain", "chainops_pick_chain", "chain-hello"),
        **selected("env", "chainops_pick_env", env),
        **selected("deployment", "chainops_pick_deployment", "dep-hello-4"),
    }
    answer = submit(world, {**view, "callback_id": "chainops_promote_modal"}, promote_form)
    assert answer["response_action"] == "errors" and "env" in answer["errors"]

    assert not any(".." in r.path or r.path.rstrip("/") == "/v1/chains/chain-hello" for r in world.sim.requests)
    assert not any(r.path.endswith("/environments/" + env) for r in world.sim.requests)
    assert world.writes == []
