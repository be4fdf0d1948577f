from __future__ import annotations

from tests.world import World


def test_status_shows_each_chainlet_of_the_live_deployment(world: World) -> None:
    world.command("status hello-chain production")

    shown = world.private_text()
    assert "hello-chain · production" in shown
    assert "dep-hello-3" in shown
    assert "HelloWorld" in shown and "RandInt" in shown
    assert "ACTIVE" in shown and "Autoscaling" in shown
    assert shown.splitlines()[-1] == "<https://app.baseten.co/chains/chain-hello/overview|hello-chain in Baseten>"
    assert world.channel_messages() == []


def test_status_without_environment_shows_every_environment(world: World) -> None:
    world.command("status chain-hello")

    shown = world.private_text()
    assert "hello-chain · production" in shown and "hello-chain · staging" in shown
