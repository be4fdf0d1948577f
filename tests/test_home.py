"""The App Home: what each person sees when they open chainops in Slack, and how it stays fresh."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.home.content import ChainLines, Decision, EnvLine, HomeContent, Moving, Waiting
from bot.home.publisher import HomePublisher
from bot.home.view import home_view
from bot.slack.form_steps import FORMS
from bot.store import RolloutState
from tests.fakes.slack_api import buttons, text_of
from tests.fakes.slack_rules import check_home
from tests.processes import outside_world, start_bot
from tests.world import World, make_world

POLICY = """
defaults:
  requesters: ["*"]
environments:
  production:
    approvers: [U0BOB]
"""
PROMOTE = "promote hello-chain production dep-hello-4"


@pytest.fixture
def governed(tmp_path: Path) -> Iterator[World]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    world = make_world(tmp_path, env={"chainops_policy": str(path)})
    yield world
    world.chainops.close()
    world.slack.close()
    assert world.slack.violations == []


def home_buttons(home: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {b["action_id"]: b for b in buttons(home)} if home else {}


def choose_from_home(world: World, home: dict[str, Any] | None, label: str, *, user: str = "U0ALICE") -> None:
    """Pick `label` in a line's menu on the App Home, as Slack sends it."""
    [(menu, option)] = [
        (b["accessory"], o)
        for b in (home or {})["blocks"]
        if b.get("accessory", {}).get("type") == "overflow"
        for o in b["accessory"]["options"]
        if o["text"]["text"] == label
    ]
    request = world.payloads.block_action(
        action_id=menu["action_id"], value="", user=user, view=home, selected_option=option, action_type="overflow"
    )
    world.app.dispatch(request.bolt_request())
    world.settle()


def publishes(world: World, user: str) -> int:
    return len([c for c in world.slack.calls_to("views.publish") if c.params.get("user_id") == user])


def test_opening_the_home_shows_its_sections(world: World) -> None:
    home = world.open_home()

    assert home is not None and home["type"] == "home"
    shown = text_of(home)
    for section in ("Waiting on you", "Moving now", "Your chains", "Recent changes"):
        assert section in shown
    assert "Nothing waits on you." in shown


def test_the_messages_tab_publishes_nothing(world: World) -> None:
    world.app.dispatch(world.payloads.app_home_opened(tab="messages").bolt_request())
    world.settle()

    assert world.slack.calls_to("views.publish") == []


def test_the_approver_sees_the_request_and_approves_it_from_home(governed: World) -> None:
    governed.command(PROMOTE)

    home = governed.open_home("U0BOB")
    assert "<@U0ALICE> asks in <#C0DEPLOYS>" in text_of(home)
    assert "expires in 15 minutes" in text_of(home)
    actions = home_buttons(home)
    assert {"chainops_approve", "chainops_reject"} <= set(actions) and "chainops_cancel" not in actions

    governed.click_home(actions["chainops_approve"], user="U0BOB")
    assert "Approved: the change is being made" in text_of(governed.slack.home("U0BOB"))
    governed.click_home(actions["chainops_approve"], user="U0BOB")  # a second press changes nothing

    assert len([w for w in governed.writes if w.path.endswith("/promote")]) == 1
    [approval, *_thread] = governed.channel_messages()
    assert "Approved by" in text_of(approval) and buttons(approval) == []
    after = governed.slack.home("U0BOB")
    assert "chainops_approve" not in home_buttons(after)
    assert "being made right now" in text_of(after) or "already" in text_of(after)
    assert "hello-chain/production" in text_of(after)  # the rollout, now moving


def test_the_requester_cannot_approve_their_own_request_from_home(governed: World) -> None:
    governed.command(PROMOTE)

    home = governed.open_home("U0ALICE")
    assert "Your request waits for an approver" in text_of(home)
    actions = home_buttons(home)
    assert {"chainops_approve", "chainops_reject", "chainops_confirm"}.isdisjoint(actions) and "chainops_cancel" in actions

    # Even with the approver's button forged onto her home, the rule holds.
    bob = home_buttons(governed.open_home("U0BOB"))
    governed.click_home(bob["chainops_approve"], user="U0ALICE")

    assert governed.writes == []
    assert "can't approve or reject your own request" in text_of(governed.slack.home("U0ALICE"))


def test_own_preview_is_confirmed_from_home(world: World) -> None:
    world.command(PROMOTE)

    home = world.open_home()
    assert "Your preview: " in text_of(home)
    world.click_home(home_buttons(home)["chainops_confirm"])

    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1


def test_a_private_channels_rollout_is_shown_to_members_only(world: World) -> None:
    world.slack.private_channels.add("C0SECRET")
    world.slack.members["C0SECRET"] = {"U0ALICE", "U0BOB"}
    world.command("promote hello-chain production dep-hello-4 --keep-previous", channel="C0SECRET")

    member = text_of(world.open_home("U0BOB"))
    outsider = text_of(world.open_home("U0EVE"))

    assert "hello-chain/production" in member and "dep-hello-4" in member
    assert "hello-chain" not in outsider and "C0SECRET" not in outsider
    assert "No rollout is being followed." in outsider


def test_a_public_channels_rollout_is_shown_to_everyone(world: World) -> None:
    world.command("promote hello-chain production dep-hello-4 --keep-previous")

    shown = text_of(world.open_home("U0EVE"))

    assert "hello-chain/production" in shown and "`dep-hello-4`" in shown and "thread" in shown


def test_your_chains_shows_each_environment_live_with_cost_and_lock(world: World) -> None:
    world.command("lock hello-chain production launch freeze")

    shown = text_of(world.open_home())

    assert "hello-chain" in shown and "*production*: `dep-hello-3`" in shown
    assert "replicas" in shown and "/h" in shown
    assert "locked by <@U0ALICE>: launch freeze" in shown


def test_a_finished_rollout_updates_the_homes_concerned_once_each(world: World) -> None:
    world.open_home("U0BOB")
    world.open_home("U0ALICE")
    world.command("promote hello-chain production dep-hello-4 --keep-previous")
    world.refresh_homes(seconds=5)
    started = {u: publishes(world, u) for u in ("U0ALICE", "U0BOB")}
    assert "dep-hello-4" in text_of(world.slack.home("U0BOB"))

    while world.chainops.store.rollouts(RolloutState.FOLLOWING):  # followed to its end
        world.follow(seconds=10)
    world.command("lock hello-chain staging release day")  # and something else right after
    world.refresh_homes()

    for person in ("U0ALICE", "U0BOB"):
        assert publishes(world, person) == started[person] + 1  # one publish for both changes
        home = text_of(world.slack.home(person))
        assert "No rollout is being followed." in home and "succeeded" in home
        assert "locked hello-chain/staging" in home
    assert "*production*: `dep-hello-4` ACTIVE" in text_of(world.slack.home("U0ALICE"))  # never stale

    world.command("unlock hello-chain staging")
    world.refresh_homes(seconds=1)  # too soon after the last publish: held back
    assert publishes(world, "U0BOB") == started["U0BOB"] + 1
    world.refresh_homes(seconds=2)  # then the latest content, once
    assert publishes(world, "U0BOB") == started["U0BOB"] + 2
    assert "unlocked hello-chain/staging" in text_of(world.slack.home("U0BOB"))


def test_replicas_publish_each_home_once(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        _replicas_publish_each_home_once(world)
    finally:
        world.chainops.close()
        world.slack.close()


def _replicas_publish_each_home_once(world: World) -> None:
    other = HomePublisher(
        homes=world.chainops.store.homes,
        gatherer=world.chainops.home.gatherer,
        gateway=world.chainops.gateway,
        visibility=world.chainops.home.visibility,
        owner="other-replica",
        clock=world.clock,
    )
    world.open_home("U0BOB")
    before = publishes(world, "U0BOB")
    world.command("promote hello-chain production dep-hello-4 --keep-previous")
    world.clock.advance(5)

    world.chainops.home.run_once()
    other.run_once()

    assert publishes(world, "U0BOB") == before + 1


def test_a_home_slack_refuses_blocks_nothing_else(world: World) -> None:
    world.open_home("U0BOB")
    world.slack.fail_next("views.publish", error="internal_error", times=5)
    world.command("promote hello-chain production dep-hello-4 --keep-previous")
    world.refresh_homes(seconds=5)

    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
    assert world.channel_messages()  # the rollout's thread went out all the same


def test_a_chains_form_opens_from_home_and_its_preview_is_confirmed_there(world: World) -> None:
    world.command("lock hello-chain staging a moment")  # hello-chain becomes one of Alice's chains
    world.command("unlock hello-chain staging")
    home = world.open_home()
    assert "a change from its menus is followed in <#C0DEPLOYS>" in text_of(home)

    choose_from_home(world, home, "Promote deployment in production…")
    form = world.slack.latest_view()
    assert form is not None and form["submit"]["text"] == "Preview"
    assert form["blocks"][0]["element"]["initial_option"]["value"] == "chain-hello"  # chosen already
    assert form["blocks"][1]["element"]["initial_option"]["value"] == "production"
    values = {
        "chain": {"chainops_pick_chain": {"type": "external_select", "selected_option": {"value": "chain-hello"}}},
        "env": {"chainops_pick_env": {"type": "static_select", "selected_option": {"value": "production"}}},
        "deployment": {"chainops_pick_deployment": {"type": "static_select", "selected_option": {"value": "dep-hello-4"}}},
    }
    request = world.payloads.view_submission(
        callback_id=form["callback_id"], values=values, private_metadata=form["private_metadata"], blocks=form["blocks"], view_id=form["id"]
    )
    assert world.app.dispatch(request.bolt_request()).status == 200
    world.settle()

    home = world.slack.home(world.user)
    assert "Confirm: promote dep-hello-4 to hello-chain/production" in text_of(home)
    assert world.writes == []  # a form only previews
    world.click_home(home_buttons(home)["chainops_confirm"])

    assert len([w for w in world.writes if w.path.endswith("/promote")]) == 1
    assert any("is promoting hello-chain deployment `dep-hello-4`" in text_of(m) for m in world.channel_messages())


def test_an_outside_rollout_in_a_watched_private_channel_is_on_its_members_homes_only(world: World) -> None:
    world.slack.private_channels.add("C0SECRET")
    world.slack.members["C0SECRET"] = {"U0ALICE", "U0BOB"}
    world.command("watch hello-chain", channel="C0SECRET")
    world.open_home("U0BOB")
    world.open_home("U0EVE")
    before = publishes(world, "U0BOB")

    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="ana@example.com")
    world.clock.advance(30)
    world.chainops.watcher.run_once()
    world.deliver()
    world.refresh_homes(seconds=5)

    member = text_of(world.slack.home("U0BOB"))
    assert publishes(world, "U0BOB") > before  # refreshed when the outside rollout began to be followed
    assert "*hello-chain/production* `dep-hello-4`" in member and "by ana@example.com" in member
    assert "*production*:" in member  # the watched chain is one of Bob's chains
    outsider = text_of(world.open_home("U0EVE"))
    assert "hello-chain" not in outsider and "ana@example.com" not in outsider


def test_a_crowded_home_stays_within_slacks_limits_and_says_what_is_left_out() -> None:
    now = 1_800_000_000.0
    content = HomeContent(
        user="U0ALICE",
        now=now,
        waiting=[Decision(f"r{n}", Waiting.APPROVE, f"promote dep-{n}", "U0BOB", "C0DEPLOYS", now + 600) for n in range(40)],
        moving=[Moving("hello-chain", f"env-{n}", f"dep-{n}", "UPDATING", now - 60, "U0BOB", None) for n in range(40)],
        chains=[
            ChainLines(f"chain-{n}", f"chain-{n}", [EnvLine(f"chain-{n}", f"chain-{n}", f"env-{e}") for e in range(4)], more_envs=6, channel="C0DEPLOYS")
            for n in range(4)
        ],
        more_chains=7,
    )

    view = home_view(content)

    assert len(view["blocks"]) <= 100 and check_home(view) == []
    shown = text_of(view)
    assert "…and 32 more waiting" in shown
    assert "…and 30 more rollouts (see `/chain status <chain> <env>`)" in shown
    assert "…and 7 more chains (see `/chain status <chain>`)" in shown
    assert "…and 6 more environments (see `/chain status chain-0`)" in shown


def test_what_people_typed_shows_on_the_home_as_typed(world: World) -> None:
    world.command("lock hello-chain staging <!channel> *now* & <@U0BOB>")

    home = world.open_home()

    assert "locked by <@U0ALICE>: <!channel> ∗now∗ & <@U0BOB>" in text_of(home)  # read as typed
    sent = json.dumps(home)
    assert "&lt;!channel&gt;" in sent and "&lt;@U0BOB&gt;" in sent  # as text: no broadcast, no mention


def test_homes_published_together_share_their_baseten_reads(world: World) -> None:
    world.slack.members["C0DEPLOYS"] = {"U0ALICE", "U0BOB", "U0CAROL"}
    for person in ("U0ALICE", "U0BOB", "U0CAROL"):
        world.command("lock hello-chain staging", user=person)
        world.command("unlock hello-chain staging", user=person)
        world.open_home(person)
    world.command("lock hello-chain production release")
    reads = env_reads(world)

    world.refresh_homes(seconds=5)

    assert all("locked by <@U0ALICE>: release" in text_of(world.slack.home(p)) for p in ("U0ALICE", "U0BOB", "U0CAROL"))
    assert env_reads(world) - reads == 2  # hello-chain's two environments, read once for three homes


def env_reads(world: World) -> int:
    return sum(1 for e in world.contract.exchanges if e.template.endswith("/environments/{env_name}"))


def test_someone_who_leaves_a_private_channel_stops_seeing_it_within_a_minute(world: World) -> None:
    world.slack.private_channels.add("C0SECRET")
    world.slack.members["C0SECRET"] = {"U0ALICE", "U0BOB"}
    world.command("promote hello-chain production dep-hello-4 --keep-previous", channel="C0SECRET")
    assert "dep-hello-4" in text_of(world.open_home("U0BOB"))
    asked = len(world.slack.calls_to("users.conversations"))

    world.slack.members["C0SECRET"].discard("U0BOB")
    assert "dep-hello-4" in text_of(world.open_home("U0BOB"))  # membership is kept briefly...
    assert len(world.slack.calls_to("users.conversations")) == asked  # ...so Slack is not asked again
    world.clock.advance(61)

    assert "dep-hello-4" not in text_of(world.open_home("U0BOB"))


def test_a_running_bot_refreshes_the_home_within_seconds_of_a_rollout_ending(tmp_path: Path) -> None:
    with outside_world(tmp_path, step_seconds=0.5) as (slack, _sim, env, payloads):
        bot = start_bot(tmp_path, env)
        try:
            assert bot.send(payloads.app_home_opened(user="U0BOB")).status_code == 200
            slack.wait_for(lambda: slack.home("U0BOB") is not None)
            bot.send(payloads.slash_command("promote hello-chain production dep-hello-4 --keep-previous"))
            slack.wait_for(lambda: "dep-hello-4" in text_of(slack.home("U0BOB")), timeout=10)
            slack.wait_for(lambda: any("is live in" in text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies), timeout=30)
            ended = time.monotonic()

            slack.wait_for(lambda: "No rollout is being followed." in text_of(slack.home("U0BOB")), timeout=10)
            assert time.monotonic() - ended < 5
        finally:
            bot.kill()


def test_a_lines_instance_type_form_opens_at_its_chainlets(world: World) -> None:
    world.command("lock hello-chain staging a moment")
    world.command("unlock hello-chain staging")

    choose_from_home(world, world.open_home(), "Change instance types in staging…")

    form = world.slack.latest_view()
    assert form is not None and form["submit"]["text"] == "Preview"
    labels = [b["label"]["text"] for b in form["blocks"] if b.get("block_id", "").startswith("chainlet:")]
    assert labels == ["HelloWorld", "RandInt"]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.view.value)
def test_every_form_opens_from_a_line_with_its_chain_and_environment(world: World, form: Any) -> None:
    world.command("lock hello-chain staging a moment")
    world.command("unlock hello-chain staging")

    choose_from_home(world, world.open_home(), f"{form.title} in staging…")

    opened = world.slack.latest_view()
    assert opened is not None and opened["callback_id"] == form.view.value
    assert opened["blocks"][0]["element"]["initial_option"]["value"] == "chain-hello"
    assert world.writes == []  # the fake Slack has checked every view it was sent
