"""A mistyped chain, environment, chainlet or instance type is answered with the name most likely meant,
and only when one is close; nothing reaches Baseten's write endpoints."""

from __future__ import annotations

import pytest

from tests.world import World

SUGGESTED = {
    "environment typo in a promote": (
        "promote hello-chain prodution dep-hello-4",
        "No environment `prodution` in hello-chain. Did you mean `production`?",
    ),
    "environment begun": ("promote hello-chain prod dep-hello-4", "Did you mean `production`?"),
    "environment in other letter case": ("status hello-chain Staging", "Did you mean `staging`?"),
    "environment typo in an unlock": (
        "unlock hello-chain prodution",
        "No environment `prodution` in hello-chain. Did you mean `production`?",
    ),
    "environment typo in history": (
        "history hello-chain stagign",
        "No environment `stagign` in hello-chain. Did you mean `staging`?",
    ),
    "chain typo": ("status hello-chian", "Did you mean `hello-chain`?"),
    "chain begun": ("status summ", "Did you mean `summarizer`?"),
    "chainlet typo": ("instance-type hello-chain production RandInd=2x8", "Did you mean `RandInt`?"),
    "instance type typo": ("instance-type hello-chain production RandInt=2x9", "Did you mean `2x8`?"),
}

NOT_CLOSE = {
    "environment sharing a letter": (
        "promote hello-chain qa dep-hello-4",
        "No environment `qa` in hello-chain. Environments: production, staging",
    ),
    "too short to begin a name": (
        "status hello-chain pr",
        "No environment `pr` in hello-chain. Environments: production, staging",
    ),
    "chain sharing a letter or two": (
        "status zeta",
        "No chain named `zeta`. Chains: hello-chain, summarizer",
    ),
    "instance type sharing a letter": (
        "instance-type hello-chain production RandInt=9x9",
        "No instance type `9x9`. Instance types:",
    ),
}


@pytest.mark.parametrize("typed, answer", SUGGESTED.values(), ids=SUGGESTED.keys())
def test_a_close_name_is_suggested(world: World, typed: str, answer: str) -> None:
    world.command(typed)

    assert answer in world.private_text()
    assert world.writes == [] and world.channel_messages() == []


@pytest.mark.parametrize("typed, answer", NOT_CLOSE.values(), ids=NOT_CLOSE.keys())
def test_no_suggestion_when_nothing_is_close(world: World, typed: str, answer: str) -> None:
    world.command(typed)

    assert answer in world.private_text()
    assert "Did you mean" not in world.private_text()


def test_an_unlock_of_an_environment_baseten_no_longer_has_still_lifts_its_lock(world: World) -> None:
    world.sim.add_chain(
        "short-lived", "chain-short", {"Main": "1x2"}, {"production": (1, 1), "preview-42": (0, 1)}
    )
    world.command("lock short-lived preview-42 demo", response="lock")
    world.sim._chains["chain-short"].environments.pop("preview-42")  # deleted in Baseten meanwhile

    world.command("unlock short-lived preview-42", response="unlock")

    assert "unlocked short-lived/*preview-42*" in world.channel_messages()[-1].text
