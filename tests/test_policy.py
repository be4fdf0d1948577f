"""The policy file: who may request, from where, and who must approve."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import buttons, text_of
from tests.world import World, make_world

POLICY = """
defaults:
  requesters: ["*"]
environments:
  production:
    requesters: [U0ALICE, S0PLATFORM]
    approvers: [U0BOB, S0SRE]
    channels: [C0DEPLOYS]
"""
PROMOTE = "promote hello-chain production dep-hello-4"


@pytest.fixture
def governed(tmp_path: Path) -> Iterator[World]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    world = make_world(tmp_path, env={"chainops_policy": str(path), "chainops_audit_channel": "C0AUDIT"})
    world.slack.usergroups.update({"S0PLATFORM": ["U0CAROL"], "S0SRE": ["U0SAM"]})
    yield world
    world.chainops.close()
    world.slack.close()


def approval_message(world: World):  # type: ignore[no-untyped-def]
    [message] = world.channel_messages()
    return message, {b["action_id"]: b for b in buttons(message)}


def test_outsider_is_refused_with_who_may_do_it_instead(governed: World) -> None:
    governed.command(PROMOTE, user="U0DAVE")

    shown = governed.private_text()
    assert "You may not request changes to *production*" in shown
    assert "<@U0ALICE>" in shown and "<!subteam^S0PLATFORM>" in shown
    assert governed.channel_messages() == [] and governed.writes == []


def test_wrong_channel_is_refused(governed: World) -> None:
    governed.command(PROMOTE, channel="C0RANDOM")

    assert "may only be requested in <#C0DEPLOYS>" in governed.private_text()
    assert governed.writes == []


def test_user_group_members_may_request(governed: World) -> None:
    governed.command(PROMOTE, user="U0CAROL")

    message, actions = approval_message(governed)
    assert "<@U0CAROL> asks for approval" in text_of(message)
    assert set(actions) == {"chainops_approve", "chainops_reject", "chainops_cancel"}


def test_environments_without_rules_use_the_defaults(governed: World) -> None:
    governed.command("promote hello-chain staging dep-hello-4", user="U0DAVE", channel="C0ANYWHERE")

    assert "chainops_confirm" in governed.buttons()


def test_requester_cannot_approve_their_own_request(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)

    governed.click(actions["chainops_approve"], message_ts=message.ts, response="self")

    assert "can't approve or reject your own request" in governed.private_text("self")
    assert governed.writes == []


def test_non_approver_is_refused(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)

    governed.click(actions["chainops_approve"], user="U0DAVE", message_ts=message.ts, response="dave")

    assert "not an approver" in governed.private_text("dave")
    assert governed.writes == []


def test_approval_executes_once_and_names_both(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)

    clicks = [
        threading.Thread(target=governed.click, args=(actions["chainops_approve"],), kwargs={"user": user, "message_ts": message.ts, "response": user})
        for user in ("U0BOB", "U0SAM", "U0BOB")
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    governed.settle()

    assert len([w for w in governed.writes if w.path.endswith("/promote")]) == 1
    approval, parent = governed.channel_messages()
    assert buttons(approval) == [] and "Approved by" in text_of(approval)
    assert "<@U0ALICE> is promoting" in parent.text and "approved by <@U0" in parent.text
    announcement = governed.slack.messages("C0AUDIT")
    assert len(announcement) == 1 and "is promoting" in announcement[0].text


def test_an_approved_request_links_to_the_rollout_thread(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)

    governed.click(actions["chainops_approve"], user="U0BOB", message_ts=message.ts, response="bob")

    approval, parent = governed.channel_messages()
    thread = f"https://chainops-test.slack.com/archives/C0DEPLOYS/p{parent.ts.replace('.', '')}"
    assert buttons(approval) == []
    assert f"Approved by <@U0BOB>; follow it in the <{thread}|thread>." in text_of(approval)


def test_reject_and_cancel(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)
    governed.click(actions["chainops_cancel"], user="U0BOB", message_ts=message.ts, response="bob")
    assert "Only <@U0ALICE> can cancel" in governed.private_text("bob")

    governed.click(actions["chainops_reject"], user="U0BOB", message_ts=message.ts, response="bob2")

    [message] = governed.channel_messages()
    assert "Rejected by <@U0BOB>" in text_of(message) and buttons(message) == []
    assert governed.writes == []


def test_approval_requests_expire(governed: World) -> None:
    governed.command(PROMOTE)
    governed.clock.advance(16 * 60)
    governed.follow()

    [message] = governed.channel_messages()
    assert "Expired" in text_of(message) and buttons(message) == []


def test_history_names_requester_approver_and_outcome(governed: World) -> None:
    governed.command(PROMOTE)
    message, actions = approval_message(governed)
    governed.click(actions["chainops_approve"], user="U0BOB", message_ts=message.ts)
    for _ in range(12):
        governed.follow(seconds=10)
    governed.command("promote hello-chain staging dep-hello-4", response="second")
    governed.click(governed.buttons("second")["chainops_cancel"], response="second")

    governed.command("history hello-chain", response="history")

    lines = [line for line in governed.private_text("history").splitlines() if "<@U0ALICE>" in line]
    assert "staging" in lines[0] and "cancelled" in lines[0]
    assert "production" in lines[1] and "succeeded" in lines[1] and "approved by <@U0BOB>" in lines[1]


def test_invalid_policy_file_stops_start_up_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("environments:\n  production:\n    approvers: [bob]\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "BASETEN_API_KEY": "k", "CHAINOPS_POLICY": str(path), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 2
    assert str(path) in result.stderr and "environments.production.approvers" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_user_group_counts_as_not_a_member(governed: World) -> None:
    governed.slack.usergroups.clear()  # Slack answers no_such_subteam

    governed.command(PROMOTE, user="U0CAROL")

    assert "You may not request changes to *production*" in governed.private_text()
    assert governed.writes == []


def test_only_approvers_may_force_past_a_lock(governed: World) -> None:
    governed.command("lock hello-chain production incident", user="U0BOB", response="lock")  # an approver
    assert "locked hello-chain/*production*" in governed.channel_messages()[-1].text

    governed.command(PROMOTE + " --force")
    assert "Only an approver of *production* may override its lock" in governed.private_text()

    governed.command(PROMOTE + " --force", user="U0SAM", response="sam")  # an approver through S0SRE
    assert "may not request changes" in governed.private_text("sam")  # but not a requester there
    assert governed.writes == []


def test_outsiders_may_not_lock(governed: World) -> None:
    governed.command("lock hello-chain production mine", user="U0DAVE")

    assert "You may not request changes to *production*" in governed.private_text()
    assert governed.channel_messages() == []
    assert governed.channel_messages() == []


def test_autoscaling_asks_the_approvers_even_for_a_scale_up(governed: World) -> None:
    governed.command("autoscaling hello-chain production HelloWorld max=4")

    message, actions = approval_message(governed)
    assert "asks for approval" in text_of(message) and "max 3 → *4*" in text_of(message)
    assert [w for w in governed.writes if w.path.endswith("/autoscaling_settings")] == []
    governed.click(actions["chainops_approve"], user="U0BOB", message_ts=message.ts)
    [write] = [w for w in governed.writes if w.path.endswith("/autoscaling_settings")]
    assert write.json["updates"][0]["autoscaling_settings"] == {"max_replica": 4}
