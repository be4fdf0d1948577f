"""/chain autoscaling from the channel to Baseten's autoscaling settings and back."""

from __future__ import annotations

import threading

import pytest

from tests.fakes.slack_api import buttons, text_of
from tests.world import World

SCALE_UP = "autoscaling hello-chain production HelloWorld max=4"
SCALE_TO_ZERO = "autoscaling hello-chain production HelloWorld min=0"


def scaling_writes(world: World) -> list:
    return [w for w in world.writes if w.path.endswith("/autoscaling_settings")]


def settings_of(world: World, chainlet: str, env: str = "production") -> dict:
    environment = world.chainops.baseten.get_environment("chain-hello", env)
    setting = environment.setting_of(chainlet)
    assert setting is not None and setting.autoscaling_settings is not None
    return setting.autoscaling_settings.model_dump()


def replies(world: World) -> list[str]:
    [parent] = world.channel_messages()
    return [text_of(r) for r in parent.replies]


def settle(world: World, polls: int = 6) -> None:
    for _ in range(polls):
        world.follow(seconds=10)


def test_raising_max_runs_at_once_and_follows_until_the_settings_read_back(world: World) -> None:
    world.command(SCALE_UP)

    [write] = scaling_writes(world)
    assert write.method == "PATCH"
    assert write.path == "/v1/chains/chain-hello/environments/production/chainlet_settings/autoscaling_settings"
    # Only the key named is sent.
    assert write.json == {"updates": [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 4}}]}
    [parent] = world.channel_messages()
    assert "<@U0ALICE> is changing autoscaling of hello-chain in *production*: HelloWorld max=4" in text_of(parent)
    settle(world)
    closing = replies(world)[-1]
    assert "applied" in closing.lower() and "HelloWorld" in closing
    assert settings_of(world, "HelloWorld")["max_replica"] == 4


def test_two_chainlets_are_one_request(world: World) -> None:
    world.command("autoscaling hello-chain production HelloWorld max=5 RandInt max=4 min=2")

    [write] = scaling_writes(world)
    assert write.json == {
        "updates": [
            {"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 5}},
            {"chainlet_name": "RandInt", "autoscaling_settings": {"max_replica": 4, "min_replica": 2}},
        ]
    }


def test_scale_down_asks_to_confirm_and_writes_once_after_ten_parallel_clicks(world: World) -> None:
    world.command(SCALE_TO_ZERO)

    preview = world.private_text()
    assert "min 1 → *0*" in preview and "1 active now" in preview
    assert "scales to zero: the first request after idle waits for a cold start" in preview
    # HelloWorld runs on 1x4 at $0.048/h a replica: the floor drops by one replica, the ceiling stays.
    assert "−$0.05/h at the floor" in preview and "+$0.00/h at the ceiling" in preview
    assert set(world.buttons()) == {"chainops_confirm", "chainops_cancel"}
    assert scaling_writes(world) == []

    confirm = world.buttons()["chainops_confirm"]
    clicks = [threading.Thread(target=world.click, args=(confirm,)) for _ in range(10)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    world.settle()

    [write] = scaling_writes(world)
    assert write.json == {"updates": [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"min_replica": 0}}]}
    assert len(world.channel_messages()) == 1


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("HelloWorl max=2", "No chainlet `HelloWorl` in hello-chain/production. Did you mean `HelloWorld`?"),
        ("HelloWorld size=2", "`size` is not an autoscaling setting. Keys: `min`, `max`, `concurrency`"),
        ("HelloWorld max=two", "`max=two`: give a whole number"),
        ("HelloWorld min=-1", "`min=-1`: a negative value is not a setting."),
        ("HelloWorld utilization=101", "`utilization=101`: utilization is from 1 to 100"),
        ("HelloWorld utilization=0", "`utilization=0`: utilization is from 1 to 100"),
        ("HelloWorld min=4", "`HelloWorld`: min (4) would be above max (3); its max is 3 today"),
        ("HelloWorld min=3 max=2", "`HelloWorld`: min (3) is above max (2)."),
        ("HelloWorld max=2 HelloWorld min=0", "Chainlet `HelloWorld` is named twice"),
        ("HelloWorld max=3", "Already so: HelloWorld in hello-chain/production already has those settings."),
        ("HelloWorld", "Give `HelloWorld` a setting to change"),
        ("max=3", "Name the chainlet before its settings"),
    ],
)
def test_bad_input_gets_a_private_answer_and_never_reaches_baseten(world: World, command: str, said: str) -> None:
    world.command(f"autoscaling hello-chain production {command}")

    assert said in world.private_text()
    assert scaling_writes(world) == []
    assert world.channel_messages() == []


def test_unchanged_says_so_in_the_thread(world: World) -> None:
    world.sim.answer_autoscaling_with("UNCHANGED")
    world.command(SCALE_UP)

    assert len(scaling_writes(world)) == 1
    assert any("nothing changed" in r.lower() for r in replies(world))
    world.follow(seconds=10)
    assert not any("applied" in r.lower() for r in replies(world))


def test_an_unknown_status_is_shown_as_named_and_followed(world: World) -> None:
    world.sim.answer_autoscaling_with("SCHEDULED")
    world.command(SCALE_UP)

    assert any("SCHEDULED" in r for r in replies(world))
    settle(world)
    assert "applied" in replies(world)[-1].lower()
    # A status the published schema does not name yet: the one departure from it, made on purpose.
    [violation] = world.contract.violations
    assert "'SCHEDULED' is not one of" in violation
    world.contract.violations.clear()


def test_an_unanswered_write_is_resolved_from_the_settings_and_never_resent(world: World) -> None:
    world.sim.slow_writes(60, applied=True, path_contains="/autoscaling_settings")
    world.command(SCALE_UP)

    assert any("did not answer in time" in r for r in replies(world))
    settle(world)

    assert len(scaling_writes(world)) == 1
    assert any("Baseten made the change" in r for r in replies(world))
    assert "applied" in replies(world)[-1].lower()


def test_an_unanswered_write_that_was_not_made_says_so_after_the_resolve_window(world: World) -> None:
    world.sim.slow_writes(60, applied=False, path_contains="/autoscaling_settings")
    world.command(SCALE_UP)
    settle(world, polls=16)

    assert len(scaling_writes(world)) == 1
    assert "the change was not made" in replies(world)[-1]
    assert settings_of(world, "HelloWorld")["max_replica"] == 3


def test_revert_puts_the_previous_values_back_as_a_previewed_change(world: World) -> None:
    world.command(SCALE_UP)
    settle(world)
    [parent] = world.channel_messages()
    [revert] = [b for b in buttons(parent.replies[-1]) if b["action_id"] == "chainops_revert"]

    world.click(revert, message_ts=parent.ts, response="revert")

    # Lowering max back takes capacity away: it is previewed and confirmed like any scale-down.
    assert "max 4 → *3*" in world.private_text("revert")
    world.click(world.buttons("revert")["chainops_confirm"], response="revert")
    assert scaling_writes(world)[-1].json == {
        "updates": [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 3}}]
    }


def test_the_thread_shows_replicas_moving_into_the_new_range(world: World) -> None:
    world.command("autoscaling hello-chain production RandInt min=3")  # only raises min: runs at once

    assert len(scaling_writes(world)) == 1
    settle(world)
    shown = replies(world)
    assert any("RandInt: 1 → *2* active replicas (range 3–3)" in r for r in shown)
    assert any("RandInt: 2 → *3* active replicas" in r for r in shown)
    assert "applied" in shown[-1] and "RandInt 3–3, 3 active" in shown[-1]


def test_settings_that_never_read_back_are_said_plainly_after_the_timeout(world: World) -> None:
    world.command(SCALE_UP)
    # Someone puts it back in Baseten's UI before the bot reads the environment.
    world.sim.outside_autoscaling("hello-chain", "production", "HelloWorld", {"max_replica": 3}, by="mallory")
    for _ in range(4):
        world.follow(seconds=200)

    closing = replies(world)[-1]
    assert "Baseten has not applied the autoscaling settings of hello-chain/*production*" in closing
    assert "HelloWorld reads max 3 (asked max=4)" in closing
    [parent] = world.channel_messages()
    assert "not applied" in text_of(parent)


def test_a_locked_environment_refuses_a_scale_up_too(world: World) -> None:
    world.command("lock hello-chain production launch freeze", response="lock")
    world.command(SCALE_UP)

    assert "locked" in world.private_text().lower()
    assert scaling_writes(world) == []


def test_an_instance_type_change_offers_revert_to_the_previous_types(world: World) -> None:
    world.command("instance-type hello-chain production RandInt=2x8")
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)
    [parent] = world.channel_messages()
    assert "is live" in text_of(parent.replies[-1])
    [revert] = [b for b in buttons(parent.replies[-1]) if b["action_id"] == "chainops_revert"]

    world.click(revert, message_ts=parent.ts, response="revert")

    preview = world.private_text("revert")
    assert "*RandInt*: `2x8`" in preview and "`1x2`" in preview
    world.click(world.buttons("revert")["chainops_confirm"], response="revert")
    writes = [w for w in world.writes if w.path.endswith("/instance_types/update")]
    assert writes[-1].json == {"updates": [{"chainlet_name": "RandInt", "instance_type_id": "1x2"}]}


def _number(block_id: str, value: str) -> dict:
    return {block_id: {"chainops_set_scaling": {"type": "number_input", "value": value}}}


def test_the_form_goes_chain_then_environment_then_prefilled_rows_and_sends_only_changed_values(world: World) -> None:
    from tests.test_forms_in_slack import CHAIN, chosen, inputs, latest, submit

    world.command("autoscaling")
    first = latest(world)
    assert inputs(first) == ["chain"] and first["submit"]["text"] == "Next"
    second = submit(world, first, CHAIN)["view"]
    assert inputs(second) == ["chain", "env"]
    where = {**CHAIN, **chosen("env", "chainops_pick_env", "production")}
    third = submit(world, {**second, "id": first["id"]}, where)["view"]
    assert third["submit"]["text"] == "Preview"
    rows = {b["block_id"]: b for b in third["blocks"] if b.get("block_id", "").startswith("scaling:")}
    assert len(rows) == 12  # six settings for each of two chainlets
    headers = [b["text"]["text"] for b in third["blocks"] if b["type"] == "section"]
    assert any(h.startswith("*HelloWorld* · `1x4` · 1 active replicas now") for h in headers)

    # Slack sends every input as it stands: today's values, and the one changed.
    values = dict(where)
    for block_id, block in rows.items():
        values.update(_number(block_id, block["element"].get("initial_value", "")))
    [max_of_hello] = [b for b, block in rows.items() if block["label"]["text"].startswith("max") and b in list(rows)[:6]]
    values.update(_number(max_of_hello, "2"))
    answer = submit(world, {**third, "id": first["id"]}, values)

    assert answer == {}  # the form closes; the preview follows privately
    assert "max 3 → *2*" in world.private_text()
    assert scaling_writes(world) == []
    world.click(world.buttons()["chainops_confirm"])
    [write] = scaling_writes(world)
    assert write.json == {"updates": [{"chainlet_name": "HelloWorld", "autoscaling_settings": {"max_replica": 2}}]}


def test_the_form_names_a_value_out_of_range_on_its_field(world: World) -> None:
    from tests.test_forms_in_slack import CHAIN, chosen, latest, submit

    world.command("autoscaling")
    first = latest(world)
    where = {**CHAIN, **chosen("env", "chainops_pick_env", "production")}
    second = submit(world, first, CHAIN)["view"]
    third = submit(world, {**second, "id": first["id"]}, where)["view"]
    [utilization] = [b["block_id"] for b in third["blocks"] if b.get("label", {}).get("text", "").startswith("utilization")][:1]
    answer = submit(world, {**third, "id": first["id"]}, {**where, **_number(utilization, "140")})

    assert answer == {"response_action": "errors", "errors": {utilization: "From 1 to 100."}}
    assert scaling_writes(world) == []


def test_queued_during_a_promotion_is_followed_until_the_new_deployment_serves_it(world: World) -> None:
    world.command("promote hello-chain production dep-hello-4 --keep-previous")
    world.command(SCALE_UP, response="scale")

    [_, scaling] = world.channel_messages()
    assert "Baseten answered *QUEUED*" in text_of(scaling.replies[0])
    settle(world, polls=12)
    [_, scaling] = world.channel_messages()
    assert "applied" in text_of(scaling.replies[-1])
    world.command("history hello-chain", response="history")
    assert "autoscaling HelloWorld max=4 in hello-chain/production · *succeeded*" in world.private_text("history")
