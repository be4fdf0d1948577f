"""/chain instance-type: one batch request, previewed with hardware and cost."""

from __future__ import annotations

from tests.fakes.slack_api import buttons, text_of
from tests.world import World

COMMAND = "instance-type hello-chain production HelloWorld=2x8 RandInt=A10G:2x24x96"


def updates(world: World) -> list:
    return [w for w in world.writes if w.path.endswith("/instance_types/update")]


def test_preview_shows_current_and_new_hardware_and_cost(world: World) -> None:
    world.command(COMMAND)

    preview = world.private_text()
    assert "HelloWorld" in preview and "→ `2x8`" in preview
    assert "vCPU" in preview and "GiB" in preview and "A10G" in preview
    # Baseten prices are per minute: 1x2 $0.00058, 1x4 $0.0008, 2x8 $0.0016, A10G:2x24x96 $0.04024.
    assert "RandInt: $0.03/h → $2.41/h per replica" in preview
    assert "HelloWorld: $0.05/h → $0.10/h per replica" in preview
    assert "+$2.43/h at min replicas, +$7.28/h at max replicas" in preview
    assert updates(world) == []


def test_confirmed_change_is_one_batch_request(world: World) -> None:
    world.command(COMMAND)
    world.click(world.buttons()["chainops_confirm"])

    [write] = updates(world)
    assert write.json == {
        "updates": [
            {"chainlet_name": "HelloWorld", "instance_type_id": "2x8"},
            {"chainlet_name": "RandInt", "instance_type_id": "A10G:2x24x96"},
        ]
    }
    [parent] = world.channel_messages()
    assert "changing instance types of hello-chain" in parent.text
    for _ in range(12):
        world.follow(seconds=10)
    assert "is live in hello-chain/*production*" in text_of(world.channel_messages()[0].replies[-1])


def test_unknown_price_is_said_not_guessed(world: World) -> None:
    world.command("instance-type hello-chain production HelloWorld=H100:2x52x468")

    preview = world.private_text()
    assert "price unknown" in preview
    assert "Change in hourly cost: unknown" in preview


def test_an_instance_type_is_taken_by_id_or_by_the_name_status_shows_in_any_letter_case(world: World) -> None:
    world.command(
        'instance-type hello-chain production RandInt="a10g 24gib (1x, 8 vcpu, 32 gib)" HelloWorld=2X8'
    )

    preview = world.private_text()
    assert "RandInt*: `1x2` (1 vCPU · 2 GiB) → `A10G:8x32` (8 vCPU · 32 GiB · 1× A10G)" in preview
    assert "HelloWorld*: `1x4` (1 vCPU · 4 GiB) → `2x8` (2 vCPU · 8 GiB)" in preview
    world.click(world.buttons()["chainops_confirm"])
    [write] = updates(world)
    assert write.json["updates"] == [
        {"chainlet_name": "RandInt", "instance_type_id": "A10G:8x32"},
        {"chainlet_name": "HelloWorld", "instance_type_id": "2x8"},
    ]


def test_status_and_the_rollout_show_each_instance_type_by_id_with_cpu_and_memory(world: World) -> None:
    world.command("status summarizer production", response="status")
    shown = world.private_text("status")
    assert "*Instance type*\n`A10G:8x32` (8 vCPU · 32 GiB · 1× A10G)" in shown
    assert "*Instance type*\n`2x8` (2 vCPU · 8 GiB)" in shown
    assert "(1x, 8 vCPU, 32 GiB)" not in shown  # Baseten's display name has CPU and memory its own way

    world.command("instance-type summarizer production Tokenize=4x16")
    world.click(world.buttons()["chainops_confirm"])
    world.follow(seconds=10)
    [parent] = world.channel_messages()
    assert "*Summarize* DEPLOYING · `A10G:8x32` (8 vCPU · 32 GiB · 1× A10G)" in text_of(parent)
    assert "`A10G:8x32` (8 vCPU · 32 GiB · 1× A10G)" in text_of(parent.replies[0])
    assert "`4x16` (4 vCPU · 16 GiB)" in text_of(parent.replies[0])


def test_an_instance_type_nobody_has_is_refused_with_the_closest_id(world: World) -> None:
    world.command('instance-type hello-chain production RandInt="A10G 24GiB (1x, 8 vCPU, 32 GB)"')

    shown = world.private_text()
    assert "No instance type `A10G 24GiB (1x, 8 vCPU, 32 GB)`. Did you mean `A10G:8x32`?" in shown
    assert updates(world) == []


def test_revert_after_the_window_says_to_type_the_command_and_changes_nothing(world: World) -> None:
    world.command("instance-type hello-chain production RandInt=2x8")
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)
    [parent] = world.channel_messages()
    assert "is live" in text_of(parent.replies[-1])
    [revert] = [b for b in buttons(parent.replies[-1]) if b["action_id"] == "chainops_revert"]
    writes = len(world.writes)
    world.clock.advance(2 * 3600)

    world.click(revert, message_ts=parent.ts, response="late")

    assert world.private_text("late") == (
        "The window to revert that change has closed; type the command with the values you want."
    )
    assert len(world.writes) == writes
