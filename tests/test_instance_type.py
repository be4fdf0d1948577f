"""/chain instance-type: one batch request, previewed with hardware and cost."""

from __future__ import annotations

from tests.fakes.slack_api import text_of
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
