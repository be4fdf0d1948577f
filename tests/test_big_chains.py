"""Big chains: what fits is shown, what does not is counted with a way to see it, and nothing Slack would
refuse is ever sent (the fake Slack checks block counts, text lengths and block_ids on every payload)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.baseten.models import InstanceType
from bot.baseten.sim.transport import EPOCH
from bot.slack.markup import Mrkdwn, truncate
from tests.fakes import slack_rules
from tests.fakes.slack_api import text_of
from tests.world import World

CHAINLETS = {f"Stage{n:02d}": "1x4" for n in range(60)}
LONG_NAME = "Preprocess" + "X" * 290


def big_chain(world: World, chainlets: dict[str, str] = CHAINLETS, envs: tuple[str, ...] = ("production",)) -> None:
    world.sim.add_chain("big-chain", "chain-big", chainlets, {e: (1, 2) for e in envs})
    for env in envs:
        world.sim.add_deployment("chain-big", f"dep-big-{env}", environment=env)
    world.sim.add_deployment("chain-big", "dep-big-new")


def open_form(world: World, command: str, env: str | None = None) -> dict[str, Any]:
    world.command(command)
    for action_id, value in (("chainops_pick_chain", "chain-big"), ("chainops_pick_env", env)):
        if value is None:
            continue
        view = world.slack.latest_view()
        assert view is not None
        request = world.payloads.block_action(
            action_id=action_id,
            value=value,
            selected_option={"text": {"type": "plain_text", "text": value}, "value": value},
            view=view,
        )
        world.app.dispatch(request.bolt_request())
        world.settle()
    view = world.slack.latest_view()
    assert view is not None
    return view


def test_status_of_sixty_chainlets_shows_every_one_within_slacks_limits(world: World) -> None:
    big_chain(world)

    world.command("status big-chain production")

    [shown] = world.slack.shown_responses()
    assert len(shown["blocks"]) <= 50
    assert all(f"Stage{n:02d}" in text_of(shown) for n in range(60))


def test_status_of_every_environment_counts_the_chainlets_that_do_not_fit(world: World) -> None:
    big_chain(world, {f"{'Chainlet' * 6}{n:03d}": "1x4" for n in range(60)}, ("production", "staging", "dev"))

    world.command("status big-chain")

    text = world.private_text()
    assert "big-chain · production" in text and "big-chain · dev" in text
    assert "more chainlets (see `/chain status big-chain production`)" in text


def test_status_of_a_chain_with_many_environments_names_the_ones_left_out(world: World) -> None:
    big_chain(world, {"Only": "1x4"}, tuple(f"env{n:02d}" for n in range(12)))

    world.command("status big-chain")

    text = world.private_text()
    assert "big-chain · env09" in text and "big-chain · env10" not in text
    assert "…and 2 more environments: see `/chain status big-chain <env>`." in text


def test_a_rollout_of_sixty_chainlets_is_followed_to_the_end(world: World) -> None:
    big_chain(world)
    world.command("promote big-chain production dep-big-new --keep-previous")
    for _ in range(40):
        world.follow(seconds=10)
        if world.channel_messages()[0].replies and "is live" in text_of(world.channel_messages()[0].replies[-1]):
            break

    [parent] = world.channel_messages()
    assert "is live in big-chain/production" in text_of(parent.replies[-1]).replace("*", "")
    # The parent lists what fits and points to the rest.
    assert "Stage00" in text_of(parent) and "more chainlets (see `/chain status big-chain production`)" in text_of(parent)


def test_three_hundred_deployments_offer_the_newest_hundred_and_say_how_to_reach_the_rest(world: World) -> None:
    big_chain(world, {"Only": "1x4"})
    for n in range(300):
        world.sim.add_deployment("chain-big", f"dep-old-{n:03d}", created_at=EPOCH + timedelta(hours=n))

    view = open_form(world, "promote")

    deployments = next(b for b in view["blocks"] if b.get("block_id") == "deployment")["element"]["options"]
    assert len(deployments) == 100
    assert deployments[0]["value"] == "dep-old-299"
    assert "Showing the newest 100 of 302 deployments" in text_of(view["blocks"])
    assert "`/chain promote big-chain <env> <deployment_id>`" in text_of(view["blocks"])


def add_instance_types(world: World, cpu: int, gpu: int) -> None:
    types = [
        InstanceType(
            id=f"c{n}", name=f"c{n}", memory_limit_mib=1024 * (n + 1), millicpu_limit=1000 * (n + 1),
            gpu_count=0, gpu_type=None, gpu_memory_limit_mib=None,
        )
        for n in range(cpu)
    ] + [
        InstanceType(
            id=f"g{n}", name=f"g{n}", memory_limit_mib=4096, millicpu_limit=4000,
            gpu_count=1, gpu_type=f"G{n:03d}", gpu_memory_limit_mib=16384,
        )
        for n in range(gpu)
    ]
    world.sim.add_instance_types(types)


def test_two_hundred_instance_types_show_what_fits_and_count_the_rest(world: World) -> None:
    add_instance_types(world, cpu=150, gpu=40)
    big_chain(world, {"Encode": "c149", "Decode": "1x4"})

    view = open_form(world, "instance-type", "production")

    selects = [b for b in view["blocks"] if b.get("block_id", "").startswith("chainlet:")]
    assert [b["label"]["text"] for b in selects] == ["Encode", "Decode"]
    groups = selects[0]["element"]["option_groups"]
    assert [len(g["options"]) for g in groups] == [100, 45]
    # The current types are offered (and preselected) even when they sort past what fits.
    assert [b["element"]["initial_option"]["value"] for b in selects] == ["c149", "1x4"]
    assert "…and 55 more instance types" in text_of(view["blocks"])
    assert len(json.dumps(view)) < 250_000


def test_sixty_chainlets_in_the_instance_type_form_shows_twenty_and_says_how_to_change_the_rest(world: World) -> None:
    big_chain(world)

    view = open_form(world, "instance-type", "production")

    selects = [b for b in view["blocks"] if b.get("block_id", "").startswith("chainlet:")]
    assert len(selects) == 20
    assert "…and 40 more chainlets" in text_of(view["blocks"])
    assert "`/chain instance-type big-chain production <chainlet>=<instance_type>`" in text_of(view["blocks"])


def test_a_long_chainlet_name_keeps_a_short_block_id_and_maps_back_on_submit(world: World) -> None:
    big_chain(world, {LONG_NAME: "1x4", "Short": "1x2"})
    view = open_form(world, "instance-type", "production")
    selects = {b["label"]["text"]: b for b in view["blocks"] if b.get("block_id", "").startswith("chainlet:")}
    long_select = next(b for label, b in selects.items() if label.startswith("Preprocess"))
    assert len(long_select["block_id"]) <= 255

    values = {
        "chain": {"chainops_pick_chain": {"type": "external_select", "selected_option": {"value": "chain-big"}}},
        "env": {"chainops_pick_env": {"type": "static_select", "selected_option": {"value": "production"}}},
        long_select["block_id"]: {
            "chainops_pick_instance_type": {"type": "static_select", "selected_option": {"value": "2x8"}}
        },
    }
    request = world.payloads.view_submission(
        callback_id=view["callback_id"], values=values, private_metadata=view["private_metadata"],
        blocks=view["blocks"], view_id=view["id"],
    )
    assert world.app.dispatch(request.bolt_request()).body == ""
    world.settle()
    world.click(world.buttons()["chainops_confirm"])

    [write] = world.writes
    assert write.json == {"updates": [{"chainlet_name": LONG_NAME, "instance_type_id": "2x8"}]}


def test_cutting_markup_never_leaves_it_broken() -> None:
    for text in ("*bold words* " * 400, "a &amp; b " * 500, "`code` <@U0ALICE> " * 300, "```\n" + "line\n" * 900 + "```"):
        cut = truncate(Mrkdwn(text), 3000)
        assert len(cut) <= 3000 and cut.endswith(("…", "```"))
        assert slack_rules.mrkdwn_problems(cut, "cut") == []
        assert cut.count("```") % 2 == 0
        last_line = cut.rsplit("\n", 1)[-1]
        assert last_line.count("*") % 2 == 0 and last_line.count("`") % 2 == 0 or "```" in last_line
