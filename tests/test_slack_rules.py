"""The fake Slack refuses what Slack refuses, so a payload Slack would reject fails the test that sent it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.fakes import slack_rules
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import SlackPayloads
from tests.local_http import LOCAL

TOKEN = "xoxb-test-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN).start()
    yield fake
    fake.violations.clear()  # each test here provokes violations on purpose and checks them itself
    fake.close()


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=5)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Form"}, "blocks": blocks, **extra}


CHAIN_INPUT = {
    "type": "input",
    "block_id": "chain",
    "label": {"type": "plain_text", "text": "Chain"},
    "element": {"type": "external_select", "action_id": "pick"},
}

BAD_MRKDWN = {
    "placeholder left raw": "Usage: /chain promote <chain> <env>",
    "broadcast": "<!channel> please approve",
    "here": "<!here>",
    "everyone": "<!everyone>",
    "bare ampersand": "a < b && c",
    "lone greater-than": "2 > 1",
    "cut entity": "Tom &am",
    "label with bare ampersand": "<https://example.com|R&D>",
    "date command": "<!date^1392734382^{date}|Feb 18>",
    "escaped twice": "Usage: &amp;lt;chain&amp;gt;",
}

GOOD_MRKDWN = [
    "<@U0ALICE> asked <!subteam^S0SRE> in <#C0DEPLOYS>",
    "see <https://example.com/a?b=1&c=2|the thread>",
    "a &lt; b &amp;&amp; c &gt; d",
    "*bold* `code` _italic_",
]


@pytest.mark.parametrize("text", BAD_MRKDWN.values(), ids=BAD_MRKDWN.keys())
def test_unescaped_or_forbidden_markup_is_refused(slack: FakeSlack, client: WebClient, text: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="fallback", blocks=[section(text)])

    assert refused.value.response["error"] == "invalid_blocks"
    assert slack.messages("C1") == []
    assert len(slack.violations) == 1


@pytest.mark.parametrize("text", GOOD_MRKDWN)
def test_mentions_links_and_entities_are_accepted(slack: FakeSlack, client: WebClient, text: str) -> None:
    client.chat_postMessage(channel="C1", text=text, blocks=[section(text)])

    assert slack.violations == []


def test_fallback_text_is_mrkdwn_too(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="<!channel> lock reason")
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts="1.0", text="a & b")
    with pytest.raises(SlackApiError):
        client.chat_postEphemeral(channel="C1", user="U1", text="<chain>")
    assert len(slack.violations) == 3


def test_plain_text_is_never_escaped(slack: FakeSlack, client: WebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "a &lt; b"}}
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x", blocks=[header])
    assert "plain_text shows an HTML entity" in slack.violations[0]


def test_block_kit_limits_come_from_slack_sdk(slack: FakeSlack, client: WebClient) -> None:
    too_long = section("x" * 3001)
    long_block_id = {**section("x"), "block_id": "b" * 256}
    unknown = {"type": "carousel"}
    many_fields = {**section("x"), "fields": [{"type": "mrkdwn", "text": "f"}] * 11}
    for block in (too_long, long_block_id, unknown, many_fields):
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C1", text="x", blocks=[block])
    assert len(slack.violations) == 4
    assert "3000" in slack.violations[0] and "255" in slack.violations[1]


def test_at_most_50_blocks_per_message_and_100_per_view(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x", blocks=[section("x")] * 51)
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="t1", view=modal([section("x")] * 101))
    assert refused.value.response["error"] == "invalid_arguments"
    assert "51 blocks" in slack.violations[0] and "100" in slack.violations[1]


def test_a_view_with_inputs_needs_submit(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="t1", view=modal([CHAIN_INPUT]))
    assert refused.value.response["error"] == "invalid_arguments"
    assert "needs submit" in slack.violations[0]

    client.views_open(
        trigger_id="t2", view=modal([CHAIN_INPUT], submit={"type": "plain_text", "text": "Next"})
    )
    assert len(slack.violations) == 1


def test_view_title_and_private_metadata_limits(slack: FakeSlack, client: WebClient) -> None:
    long_title = modal([section("x")])
    long_title["title"] = {"type": "plain_text", "text": "Change instance types now"}  # 25
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="t1", view=long_title)
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="t2", view=modal([section("x")], private_metadata="m" * 3001))
    assert "title" in slack.violations[0] and "private_metadata" in slack.violations[1]


def test_response_url_bodies_are_checked_and_refused(slack: FakeSlack) -> None:
    url = slack.bind_response_url("r", channel="C1", from_command=True)

    answer = WebhookClient(url).send(text="x", blocks=[section("<chain>")])

    assert answer.status_code == 400 and answer.body == "invalid_blocks"
    assert slack.shown_responses("r") == []
    assert len(slack.violations) == 1


def test_response_url_works_five_times_within_thirty_minutes(slack: FakeSlack) -> None:
    now = [1000.0]
    slack.clock = lambda: now[0]
    url = slack.bind_response_url("r", channel="C1", from_command=True)
    hook = WebhookClient(url)
    for i in range(5):
        assert hook.send(text=f"answer {i}").status_code == 200
    assert hook.send(text="sixth").status_code == 404
    assert "more than 5 times" in slack.violations[0]

    late = WebhookClient(slack.bind_response_url("late", channel="C1", from_command=True))
    now[0] += 30 * 60 + 1
    assert late.send(text="too late").status_code == 404
    assert "after 30 minutes" in slack.violations[1]


def test_a_commands_response_url_cannot_replace_anything(slack: FakeSlack) -> None:
    command = WebhookClient(slack.bind_response_url("r", channel="C1", from_command=True))
    command.send(text="preview")
    command.send(text="expired", replace_original=True)
    assert [r["text"] for r in slack.shown_responses("r")] == ["preview", "expired"]

    click = WebhookClient(slack.bind_response_url("r", channel="C1", message_ts="1.0"))
    click.send(text="closed", replace_original=True)
    assert [r["text"] for r in slack.shown_responses("r")] == ["preview", "closed"]
    assert slack.violations == []


def test_acknowledgements_are_checked(slack: FakeSlack) -> None:
    payloads = SlackPayloads(signing_secret="s", response_url_base=slack)
    suggestion = payloads.block_suggestion(action_id="pick", value="x").body
    too_many = [{"text": {"type": "plain_text", "text": f"o{i}"}, "value": f"v{i}"} for i in range(101)]
    slack.check_ack(suggestion, 200, json.dumps({"options": too_many}))
    long_option = [{"text": {"type": "plain_text", "text": "o" * 76}, "value": "v"}]
    slack.check_ack(suggestion, 200, json.dumps({"options": long_option}))

    shown = modal([CHAIN_INPUT], submit={"type": "plain_text", "text": "Next"})
    submission = payloads.view_submission(callback_id="form", values={}, blocks=shown["blocks"]).body
    slack.check_ack(submission, 200, json.dumps({"response_action": "errors", "errors": {"nope": "Choose"}}))
    slack.check_ack(submission, 200, json.dumps({"response_action": "update", "view": modal([CHAIN_INPUT])}))
    slack.check_ack(submission, 200, json.dumps({"response_action": "errors", "errors": {"chain": "Choose"}}))

    assert len(slack.violations) == 4
    assert "101" in slack.violations[0] and "75" in slack.violations[1]
    assert "no input block" in slack.violations[2] and "needs submit" in slack.violations[3]


def test_a_test_that_leaves_violations_fails_at_teardown() -> None:
    fake = FakeSlack(token=TOKEN).start()
    LOCAL.post(fake.api_url + "chat.postMessage", data={"token": TOKEN, "channel": "C1", "text": "<!here>"})

    with pytest.raises(AssertionError, match="Slack would have refused"):
        fake.close()


def test_mrkdwn_rule_reports_each_problem() -> None:
    problems = slack_rules.mrkdwn_problems("<!channel> a & b <https://x.example|ok>", "t")
    assert len(problems) == 2
    assert slack_rules.mrkdwn_problems("<@U1> &amp; <#C1|deploys>", "t") == []


def test_formatting_a_person_typed_must_not_reach_slack_as_formatting() -> None:
    typed = ["lock hello-chain production *ALL CLEAR* ~frozen~ _deploy now_ ```x``` `y` hello_chain"]
    problems = slack_rules.mrkdwn_problems(
        "locked: *ALL CLEAR* ~frozen~ _deploy now_ ```x``` `y`", "t", typed
    )
    for piece in ("*ALL CLEAR*", "~frozen~", "_deploy now_", "```x```", "`y`"):
        assert any(repr(piece) in p and "would show as formatting" in p for p in problems)
    # Shown as typed: look-alikes, the bot's own formatting around it, and words with an underscore.
    assert (
        slack_rules.mrkdwn_problems("locked *hello_chain*: ∗ALL CLEAR∗ ∼frozen∼ ˍdeploy nowˍ", "t", typed)
        == []
    )
    # The bot's own formatting sent as text shows look-alikes although nobody typed a `*`.
    assert "nobody typed it" in slack_rules.mrkdwn_problems("\u2217Preview\u2217 shows the change", "t", [])[0]
    # Inside the bot's own code span nothing is formatted; a backtick ending it early is.
    assert slack_rules.mrkdwn_problems("`*ALL CLEAR*`", "t", typed) == []
    assert slack_rules.mrkdwn_problems("see `x` `y` here", "t", typed) != []


def test_bidirectional_controls_are_refused_in_mrkdwn_and_plain_text(
    slack: FakeSlack, client: WebClient
) -> None:
    assert slack_rules.mrkdwn_problems("reason: \u202eevil", "t")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(
            channel="C1",
            text="ok",
            blocks=[{"type": "header", "text": {"type": "plain_text", "text": "a\u2066b"}}],
        )
    assert any("bidirectional" in v for v in slack.violations)


def test_the_fake_learns_what_people_type(slack: FakeSlack) -> None:
    payloads = SlackPayloads(signing_secret="s", response_url_base=slack)
    payloads.slash_command("lock hello-chain production *ALL CLEAR*")
    values = {"reason": {"text": {"type": "plain_text_input", "value": "_now_"}}}
    payloads.view_submission(callback_id="c", values=values)

    assert slack.typed == ["lock hello-chain production *ALL CLEAR*", "_now_"]
