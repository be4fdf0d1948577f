"""Text from people and from Baseten is shown as text: it can never ping, link or break a message.

The fake Slack refuses unescaped `&`, `<` and `>` and any broadcast, so every test here also proves that
Slack would accept what was sent; the assertions check what a person reads."""

from __future__ import annotations

import json

from bot.baseten.models import DeploymentStatus
from bot.slack.markup import md, readable
from tests.fakes.slack_api import text_of
from tests.world import World

HOSTILE = "<!channel> <@U0BOSS> <https://evil.example|click to approve>"


def raw(item: object) -> str:
    """Everything sent, as Slack received it."""
    return json.dumps(item.__dict__ if hasattr(item, "__dict__") else item)


def test_a_hostile_lock_reason_is_shown_as_text_in_the_channel(world: World) -> None:
    world.command(f"lock hello-chain production {HOSTILE}")

    [message] = world.channel_messages()
    sent = raw(message)
    assert "<!channel>" not in sent and "<@U0BOSS>" not in sent and "<https://evil" not in sent
    assert "&lt;!channel&gt; &lt;@U0BOSS&gt; &lt;https://evil.example|click to approve&gt;" in message.text
    assert text_of(message).startswith(":lock: <@U0ALICE> locked hello-chain/*production*: " + HOSTILE)

    world.command("promote hello-chain production dep-hello-4", response="refused")
    refused = world.slack.shown_responses("refused")
    assert "<!channel>" not in raw(refused) and HOSTILE in world.private_text("refused")

    world.command("status hello-chain production", response="status")
    assert "<!channel>" not in raw(world.slack.shown_responses("status"))
    assert HOSTILE in world.private_text("status")


def test_help_and_usage_send_placeholders_escaped(world: World) -> None:
    world.command("help", response="help")
    world.command("promote hello-chain", response="usage")

    help_sent = raw(world.slack.shown_responses("help"))
    assert "&lt;chain&gt; &lt;env&gt; &lt;deployment_id&gt;" in help_sent and "<chain>" not in help_sent
    assert "*/chain promote* `<chain> <env> <deployment_id> [--keep-previous] [--force]`" in world.private_text("help")
    usage = world.slack.shown_responses("usage")[0]["text"]
    assert usage.startswith("promote: missing &lt;env&gt; &lt;deployment_id&gt;.")


def test_unknown_words_are_echoed_as_text(world: World) -> None:
    world.command("status <!here>&co", response="unknown")

    assert "<!here>" not in raw(world.slack.shown_responses("unknown"))
    assert "not a valid" in world.private_text("unknown")


def test_names_from_baseten_with_markup_characters_stay_text_through_a_failed_rollout(world: World) -> None:
    world.sim.add_chain("R&D <beta>", "chain-rd", {"Pre_proc": "1x4", "Ok": "1x2"}, {"production": (1, 2)})
    world.sim.add_deployment("chain-rd", "dep-rd-1", environment="production")
    world.sim.add_deployment("chain-rd", "dep-rd-2")
    world.sim.fail_rollouts("Pre_proc", status=DeploymentStatus.DEPLOY_FAILED)

    world.command("status chain-rd production", response="status")
    assert "R&D <beta> · production" in world.private_text("status")
    assert "*Pre_proc*" in world.private_text("status")

    world.command("promote chain-rd production dep-rd-2")
    assert "Promote* R&D <beta> to *production*" in world.private_text()
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(12):
        world.follow(seconds=10)

    [parent] = world.channel_messages()
    assert "is promoting R&D <beta> deployment" in text_of(parent)
    closing = text_of(parent.replies[-1])
    assert "R&D <beta>/*production* failed: *Pre_proc* (DEPLOY_FAILED)" in closing
    # Baseten's log lines are code, and code is full of markup characters.
    assert "line 42, in <module>" in closing and "check(a < b && c)" in closing
    sent = raw(parent.replies[-1])
    assert "in &lt;module&gt;" in sent and "a &lt; b &amp;&amp; c" in sent


def test_a_baseten_error_message_is_shown_as_text(world: World) -> None:
    world.sim.fail_next(400, method="POST", body={"error": "deployment <dep> & <!everyone> is not promotable"})
    world.command("promote hello-chain production dep-hello-4")
    world.click(world.buttons()["chainops_confirm"])

    [parent] = world.channel_messages()
    reply = parent.replies[-1]
    assert "<!everyone>" not in raw(reply)
    assert "deployment <dep> & <!everyone> is not promotable" in text_of(reply)


FORMATTED = "*ALL CLEAR* ~frozen~ _deploy now_ ```x```"
RTL = "\u202e"


def test_a_lock_reason_with_formatting_is_shown_as_typed_in_the_announcement_and_every_refusal(
    world: World,
) -> None:
    # The fake Slack knows what was typed and refuses it shown as formatting, or any RTL override.
    world.command(f"lock hello-chain production {FORMATTED} {RTL}reversed")

    [message] = world.channel_messages()
    assert readable(message.text) == f":lock: @U0ALICE locked hello-chain/*production*: {FORMATTED} reversed"
    assert "locked hello-chain/*production*:" in message.text  # the bot's own formatting stays formatting
    for pattern in ("*ALL CLEAR*", "~frozen~", "_deploy now_", "```", RTL):
        assert pattern not in raw(message)

    world.command("promote hello-chain production dep-hello-4", response="refused")
    world.command("status hello-chain production", response="status")
    for name in ("refused", "status"):
        shown = world.slack.shown_responses(name)
        assert f"{FORMATTED} reversed" in readable(text_of(shown))
        assert "*ALL CLEAR*" not in raw(shown) and RTL not in raw(shown)
    assert world.writes == []


def test_names_from_baseten_with_formatting_are_shown_as_typed_and_cannot_leave_a_code_span(
    world: World,
) -> None:
    name = "*team* `a` ~old~"
    world.slack.typed.append(name)  # as if typed: the fake refuses it shown as formatting
    world.sim.add_chain(name, "chain-fmt", {"_Pre_": "1x4", "Ok`x": "1x2"}, {"production": (1, 2)})
    world.sim.add_deployment("chain-fmt", "dep-fmt-1", environment="production")
    world.slack.typed += ["_Pre_", "Ok`x"]

    world.command("status chain-fmt", response="status")

    [shown] = world.slack.shown_responses("status")
    header, *rest = shown["blocks"]
    assert header["text"] == {
        "type": "plain_text",
        "text": f"{name} · production",
        "emoji": True,
    }  # not parsed
    mrkdwn = raw(rest) + shown["text"]
    assert "*team*" not in mrkdwn and "`a`" not in mrkdwn and "~old~" not in mrkdwn and "_Pre_" not in mrkdwn
    assert readable(shown["text"]) == f"Status of {name}"
    seen = readable(text_of(rest))
    assert "*_Pre_*\n:large_green_circle: ACTIVE" in seen and "*Ok`x*" in seen and "`dep-fmt-1`" in seen


def test_a_value_in_the_bots_own_code_is_shown_exactly_and_cannot_end_it() -> None:
    assert md("Deployment `{}` is live", "dep_1*2") == "Deployment `dep_1*2` is live"
    assert md("`{}`", "a`b` *x*") == "`a\u02cbb\u02cb *x*`"  # a backtick in the value cannot close the span
    assert md("```{}```", "x```y\nz < 1") == "```x\u02cb\u02cb\u02cby\nz &lt; 1```"
    assert md("*{}* says {}", "hello_chain", "*hi*") == "*hello_chain* says \u2217hi\u2217"
    assert readable(md("{}", "> quoted\n*bold* `code` \u202eend")) == "> quoted\n*bold* `code` end"
