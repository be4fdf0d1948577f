"""/chain promote from the channel to Baseten and back."""

from __future__ import annotations

import json
import threading

from bot.baseten.models import DeploymentStatus
from tests.fakes.slack_api import buttons, text_of
from tests.world import World

PROMOTE = "promote hello-chain production dep-hello-4"


def promote_writes(world: World) -> list:
    return [w for w in world.writes if w.path.endswith("/promote")]


def test_promote_needs_confirmation_before_scaling_down(world: World) -> None:
    response = world.command(PROMOTE)

    assert response.status == 200
    preview = world.private_text()
    assert "dep-hello-4" in preview and "dep-hello-3" in preview and "scaled down" in preview
    assert set(world.buttons()) == {"chainops_confirm", "chainops_cancel"}
    assert world.buttons()["chainops_confirm"]["confirm"]  # Slack's own "are you sure" dialog
    assert world.channel_messages() == []
    assert promote_writes(world) == []


def test_confirmed_promote_reaches_baseten_once_and_opens_a_thread(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])

    [write] = promote_writes(world)
    assert write.path == "/v1/chains/chain-hello/environments/production/promote"
    assert write.json == {"deployment_id": "dep-hello-4", "scale_down_previous_deployment": True}
    [parent] = world.channel_messages()
    assert "<@U0ALICE> is promoting hello-chain deployment `dep-hello-4` to *production*" in parent.text
    # The first reply lists the chainlets one compact line each, as the rollout's message does.
    reply = text_of(parent.replies[0]).splitlines()
    chainlets = [line for line in reply if "UPDATING" in line]
    assert chainlets == [
        ":hourglass_flowing_sand: *HelloWorld* UPDATING · `1x4` (1 vCPU · 4 GiB) · 0 active",
        ":hourglass_flowing_sand: *RandInt* UPDATING · `1x2` (1 vCPU · 2 GiB) · 0 active",
    ]
    world.follow()
    assert set(chainlets) <= set(text_of(world.channel_messages()[0]).splitlines())
    # the preview lost its buttons and says what happened
    assert buttons(world.private()) == []
    assert "Confirmed" in world.private_text()


def test_confirmed_preview_links_to_the_rollout_thread_once_it_is_posted(world: World) -> None:
    world.slack.scopes = {"commands", "chat:write"}  # a permalink needs no scope of its own
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"], response="click")

    [parent] = world.channel_messages()
    [asked] = world.slack.calls_to("chat.getPermalink")
    assert asked.params["message_ts"] == parent.ts and asked.error is None
    thread = f"https://chainops-test.slack.com/archives/C0DEPLOYS/p{parent.ts.replace('.', '')}"
    preview = world.private("click")
    assert preview is not None and buttons(preview) == []
    assert f"Confirmed; follow it in the <{thread}|thread>." in json.dumps(preview["blocks"])
    assert "Confirmed" in text_of(world.slack.shown_responses("click")[0])  # said at once, linked after


def test_a_preview_whose_thread_was_never_posted_keeps_saying_it_without_a_link(world: World) -> None:
    world.command(PROMOTE)
    world.slack.channels_without_bot.add("C0DEPLOYS")
    world.click(world.buttons()["chainops_confirm"], response="click")

    assert world.channel_messages() == [] and world.slack.calls_to("chat.getPermalink") == []
    shown = json.dumps(world.slack.shown_responses("click"))
    assert "pending-link" not in shown and "archives" not in shown


def test_keep_previous_is_not_destructive_and_runs_at_once(world: World) -> None:
    world.command(PROMOTE + " --keep-previous")

    [write] = promote_writes(world)
    assert write.json == {"deployment_id": "dep-hello-4", "scale_down_previous_deployment": False}
    assert len(world.channel_messages()) == 1


def test_only_the_requester_may_confirm(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]

    world.click(confirm, user="U0MALLORY", response="mallory")

    assert "Only <@U0ALICE> can confirm" in world.private_text("mallory")
    assert promote_writes(world) == []


def test_double_click_executes_once(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.sim.latency = 0.2  # a slow network widens the window for a second click

    clicks = [
        threading.Thread(target=world.click, args=(confirm,), kwargs={"response": f"r{i}"}) for i in range(4)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    world.settle()

    assert len(promote_writes(world)) == 1
    assert len(world.channel_messages()) == 1


def test_cancel_removes_the_buttons_and_sends_nothing(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_cancel"])

    assert promote_writes(world) == []
    assert buttons(world.private()) == []
    assert "Cancelled by <@U0ALICE>" in world.private_text()


def test_confirmation_is_bound_to_what_was_previewed(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    # Someone else promotes dep-hello-2 meanwhile, and it goes live.
    world.command("promote hello-chain production dep-hello-2 --keep-previous", user="U0BOB", response="bob")
    world.follow(seconds=60)
    world.follow(seconds=60)

    world.click(confirm, response="late")

    assert "changed since the preview, run the command again" in world.private_text("late")
    assert [w.json["deployment_id"] for w in promote_writes(world)] == ["dep-hello-2"]


def test_expired_confirmation_says_so(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.clock.advance(16 * 60)

    world.click(confirm)

    shown = [text_of(r) for r in world.slack.shown_responses()]
    assert "This preview expired" in shown[-1]
    assert "Expired without a decision" in shown[0]  # the preview itself lost its buttons
    assert all(buttons(r) == [] for r in world.slack.shown_responses())
    assert promote_writes(world) == []


def test_unclicked_preview_expires_and_its_stale_buttons_are_answered_when_clicked(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.clock.advance(16 * 60)

    world.follow()

    # A slash command's response_url cannot replace the preview: it keeps its buttons, and a note says so.
    preview, note = world.slack.shown_responses()
    assert buttons(preview) and "Your preview expired without a decision" in text_of(note)

    world.click(confirm)

    preview, note = world.slack.shown_responses()
    assert buttons(preview) == [] and "This preview expired" in text_of(preview)
    assert promote_writes(world) == []


def test_rollout_is_followed_to_active(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])

    for _ in range(12):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    assert parent.edits >= 2
    assert "live" in text_of(parent)
    replies = [text_of(r) for r in parent.replies]
    assert any("ACTIVE" in r for r in replies)
    closing = replies[-1]
    # Between the first reply and the closing one, only real transitions (before → after) are reported.
    assert all("→" in line for r in parent.replies[1:-1] for line in r.text.splitlines())
    assert "is live in hello-chain/*production*" in closing
    assert "`dep-hello-3` was scaled down to zero" in closing
    status = world.sim.requests
    assert any(r.path.endswith("/deployments/dep-hello-4") for r in status)


def test_failed_rollout_mentions_requester_and_shows_errors(world: World) -> None:
    world.sim.fail_rollouts("RandInt", status=DeploymentStatus.DEPLOY_FAILED)
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])

    for _ in range(12):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    closing = text_of(parent.replies[-1])
    assert "<@U0ALICE>" in closing and "failed" in closing
    assert "RandInt" in closing and "DEPLOY_FAILED" in closing
    assert "failed" in text_of(parent)
    # Where to read the rest: the chain in Baseten's dashboard.
    assert "Full logs are in <https://app.baseten.co/chains/chain-hello/overview|Baseten>." in json.dumps(
        parent.replies[-1].blocks
    )


def test_rollout_messages_link_to_the_chain_in_baseten(world: World) -> None:
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)

    page = "https://app.baseten.co/chains/chain-hello/overview"
    [parent] = world.channel_messages()
    assert f"· <{page}|open in Baseten>" in json.dumps(parent.blocks, ensure_ascii=False)
    assert f"<{page}|hello-chain in Baseten>" in json.dumps(parent.replies[-1].blocks)
    assert "in Baseten" not in parent.replies[-1].text  # the notification text stays the sentence


def test_a_failed_chainlets_report_shows_its_final_unleveled_exception_line_escaped(world: World) -> None:
    world.sim.fail_rollouts("RandInt", status=DeploymentStatus.DEPLOY_FAILED)
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    started = world.clock.now
    world.clock.advance(3600)  # an hour later: older than Baseten's default 30-minute window
    for _ in range(12):
        world.follow(seconds=10)

    final = world.channel_messages()[0].replies[-1]
    closing = text_of(final)
    # The traceback has no level: asking Baseten for ERROR and above would have dropped all of it.
    assert "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB" in closing
    assert "line 42, in <module>" in closing and "check(a < b && c)" in closing  # as a person reads it
    sent = json.dumps(final.blocks)  # as Slack received it: escaped, so never taken for markup
    assert "in &lt;module&gt;" in sent and "check(a &lt; b &amp;&amp; c)" in sent
    assert "<module>" not in sent and "&amp;lt;" not in sent
    assert "Stopping replica" not in closing  # INFO lines are not errors
    [read] = [r for r in world.sim.requests if r.path.endswith("/logs")]
    assert "min_level" not in read.query
    assert int(read.query["start_epoch_millis"]) <= started * 1000 <= int(read.query["end_epoch_millis"])


def test_log_levels_baseten_adds_later_are_shown_as_errors(world: World) -> None:
    world.contract.newer_baseten = True  # a log level the OpenAPI does not list yet
    world.sim.fail_rollouts(
        "RandInt", log_lines=[("INFO", "warming up"), ("CRITICAL", "GPU lost"), ("INFO", "bye")]
    )
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)

    closing = text_of(world.channel_messages()[0].replies[-1])
    assert "GPU lost" in closing and "warming up" not in closing


def test_bot_not_in_channel_tells_requester_privately_how_to_follow_the_change_and_invite_it(world: World) -> None:
    world.slack.channels_without_bot.add("C0SECRET")
    world.command(PROMOTE + " --keep-previous", channel="C0SECRET")

    # Nothing asks Slack before the write: the change is made, and the channel's refusal is said privately.
    assert len(promote_writes(world)) == 1
    told = world.private_text()
    assert "I can't post in" in told and "/chain status hello-chain production" in told
    assert "/invite @chainops" in told


def test_the_preview_says_what_the_environments_promotion_settings_will_do(world: World) -> None:
    world.sim.set_promotion_settings(
        "chain-hello", "production", promotion_cleanup_strategy="DEACTIVATE", redeploy_on_promotion=True
    )
    world.command(PROMOTE)

    shown = world.private_text()
    assert "Will be deactivated" in shown and "no rollback will be possible" in shown
    assert "redeploys on every promotion" in shown
    assert "will be deactivated" in world.buttons()["chainops_confirm"]["confirm"]["text"]["text"]
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    closing = text_of(parent.replies[-1])
    assert "is live in" in closing and "`dep-hello-3` is inactive (deactivated)" in closing
    assert "chainops_rollback" not in json.dumps(parent.replies[-1].blocks)


def test_a_keep_strategy_is_shown_as_kept_running(world: World) -> None:
    world.sim.set_promotion_settings("chain-hello", "production", promotion_cleanup_strategy="KEEP")
    world.command(PROMOTE)
    assert "Will be kept running" in world.private_text()
