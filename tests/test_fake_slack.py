"""The fake Slack behaves like Slack for the real slack_sdk and slack_bolt."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import FakeSlack, buttons, text_of
from tests.fakes.slack_payloads import SlackPayloads, post

TOKEN = "xoxb-test-token"
SECRET = "fake-slack-signing-secret"

BLOCKS: list[dict[str, Any]] = [
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Rollout* is ACTIVE"},
        "fields": [{"type": "mrkdwn", "text": "env: prod"}],
    },
    {
        "type": "actions",
        "block_id": "act",
        "elements": [
            {
                "type": "button",
                "action_id": "go",
                "value": "42",
                "text": {"type": "plain_text", "text": "Go"},
                "style": "primary",
            },
        ],
    },
]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=5)


def test_post_update_and_thread_show_what_a_person_sees(slack: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="starting", blocks=BLOCKS)
    second = client.chat_postMessage(channel="C1", text="other")
    reply = client.chat_postMessage(channel="C1", thread_ts=first["ts"], text="step 1 done")
    client.chat_update(channel="C1", ts=first["ts"], text="done", blocks=[])

    assert float(first["ts"]) < float(second["ts"]) < float(reply["ts"])
    parent, other = slack.messages("C1")
    assert (parent.ts, parent.text, parent.blocks, parent.edits) == (first["ts"], "done", [], 1)
    assert other.replies == []
    assert (
        [r.text for r in parent.replies]
        == ["step 1 done"]
        == [r.text for r in slack.thread("C1", first["ts"])]
    )
    assert parent.replies[0].thread_ts == first["ts"]
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert missing.value.response["error"] == "message_not_found"


def test_text_of_and_buttons_read_blocks(slack: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="fallback", blocks=BLOCKS)
    [message] = slack.messages("C1")

    assert text_of(message).splitlines() == ["fallback", "*Rollout* is ACTIVE", "env: prod", "Go"]
    assert buttons(message) == [
        {
            "action_id": "go",
            "value": "42",
            "text": "Go",
            "block_id": "act",
            "style": "primary",
            "confirm": None,
            "url": None,
        }
    ]


def test_form_encoded_blocks_are_decoded(slack: FakeSlack, client: WebClient) -> None:
    # Some callers use api_call with form data: blocks arrive as a JSON string.
    client.api_call("chat.postMessage", data={"channel": "C1", "text": "t", "blocks": json.dumps(BLOCKS)})

    assert slack.messages("C1")[0].blocks == BLOCKS


def test_auth_is_checked(slack: FakeSlack) -> None:
    for token, error in ((None, "not_authed"), ("xoxb-wrong", "invalid_auth")):
        with pytest.raises(SlackApiError) as failure:
            WebClient(token=token, base_url=slack.api_url).chat_postMessage(channel="C1", text="x")
        assert failure.value.response["error"] == error
    assert slack.messages("C1") == []


def test_ephemeral_permalink_and_not_in_channel(slack: FakeSlack, client: WebClient) -> None:
    sent = client.chat_postEphemeral(channel="C1", user="U0BOB", text="only you")
    ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
    slack.channels_without_bot.add("C0SECRET")

    assert [(m.ts, m.text, m.to) for m in slack.ephemeral("U0BOB")] == [
        (sent["message_ts"], "only you", "U0BOB")
    ]
    assert slack.messages("C1")[0].text == "hi"  # the ephemeral one is not in the channel
    assert client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"].endswith(ts.replace(".", ""))
    for method, args in (
        (client.chat_postMessage, {}),
        (client.chat_postEphemeral, {"user": "U0BOB"}),
        (client.chat_update, {"ts": ts}),
    ):
        with pytest.raises(SlackApiError) as failure:
            method(channel="C0SECRET", text="x", **args)
        assert failure.value.response["error"] == "not_in_channel"


def test_triggers_are_single_use_and_views_update_checks_hash(slack: FakeSlack, client: WebClient) -> None:
    view = {
        "type": "modal",
        "callback_id": "form",
        "title": {"type": "plain_text", "text": "Form"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}],
    }
    opened = client.views_open(trigger_id="t-1", view=view)["view"]
    slack.expired_triggers.add("t-old")

    for trigger in ("t-1", "t-old"):
        with pytest.raises(SlackApiError) as failure:
            client.views_open(trigger_id=trigger, view=view)
        assert failure.value.response["error"] == "expired_trigger_id"
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**view, "callback_id": "form2"}
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    assert stale.value.response["error"] == "hash_conflict"
    assert client.views_push(trigger_id="t-2", view=view)["view"]["previous_view_id"] == opened["id"]
    assert slack.calls_to("views.open")[0].params["view"]["callback_id"] == "form"


def test_rate_limit_is_retried_by_slack_sdk(slack: FakeSlack, client: WebClient) -> None:
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit_next("chat.postMessage", retry_after=0)

    client.chat_postMessage(channel="C1", text="eventually")

    assert [c.error for c in slack.calls_to("chat.postMessage")] == ["ratelimited", None]
    assert [m.text for m in slack.messages("C1")] == ["eventually"]


def test_rate_limit_without_retry_handler_surfaces_429(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit_next("chat.update", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as failure:
        client.chat_update(channel="C1", ts="1.0", text="x")
    assert failure.value.response.status_code == 429
    headers = {k.lower(): v for k, v in failure.value.response.headers.items()}
    assert headers["retry-after"] == "7"


def test_latency_and_usergroups(slack: FakeSlack, client: WebClient) -> None:
    slack.usergroups["S0SRE"] = ["U0SAM", "U0KIM"]
    slack.latency = 0.2
    started = time.monotonic()

    assert client.usergroups_users_list(usergroup="S0SRE")["users"] == ["U0SAM", "U0KIM"]
    assert time.monotonic() - started >= 0.2
    with pytest.raises(SlackApiError) as failure:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert failure.value.response["error"] == "no_such_subteam"


def test_response_url_follows_slack_semantics(slack: FakeSlack) -> None:
    hook = WebhookClient(slack.response_url("r"))
    assert hook.send(text="first").body == "ok"
    hook.send(text="second")
    hook.send(text="second, edited", replace_original=True)
    assert [r["text"] for r in slack.shown_responses("r")] == ["first", "second, edited"]
    hook.send(text="", delete_original=True)

    assert slack.last_response("r") == {"text": "first"}
    assert len(slack.responses_to("r")) == 4 and slack.last_response("other") is None


def test_replace_original_from_a_channel_message_click_edits_that_message(
    slack: FakeSlack, client: WebClient
) -> None:
    payloads = SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    ts = client.chat_postMessage(channel="C1", text="approve?", blocks=BLOCKS)["ts"]
    click = payloads.block_action(
        action_id="go", value="42", channel="C1", message_ts=ts, response_url_name="c"
    )
    payload = json.loads(parse_qs(click.body)["payload"][0])

    assert payload["message"]["blocks"] == BLOCKS  # the clicked message, as Slack includes it
    WebhookClient(payload["response_url"]).send(text="Approved", replace_original=True)
    [message] = slack.messages("C1")
    assert (message.text, message.blocks, message.edits) == ("Approved", [], 1)
    assert slack.last_response("c") is None


def test_wait_for_times_out_with_a_dump(slack: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match="auth.test"):
        slack.wait_for(lambda: False, timeout=0.05)


# -- a tiny Bolt app against the fake --------------------------------------------------------------------


def build_app(slack: FakeSlack) -> App:
    app = App(token=TOKEN, signing_secret=SECRET, client=WebClient(token=TOKEN, base_url=slack.api_url))

    @app.command("/chain")
    def chain(ack: Ack, respond: Respond, command: dict[str, Any], client: WebClient) -> None:
        ack()
        respond(f"you said {command['text']}")
        client.chat_postMessage(channel=command["channel_id"], text=f"<@{command['user_id']}> asked for help")

    @app.action("go")
    def go(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="gone", replace_original=True)

    return app


def test_bolt_app_accepts_signed_requests_and_reaches_the_fake(slack: FakeSlack) -> None:
    app = build_app(slack)
    payloads = SlackPayloads(signing_secret=SECRET, response_url_base=slack)

    response = app.dispatch(payloads.slash_command("help").bolt_request())

    assert response.status == 200
    slack.wait_for(lambda: bool(slack.messages("C0DEPLOYS")) and slack.last_response() is not None)
    assert (slack.last_response() or {})["text"] == "you said help"
    assert text_of(slack.messages("C0DEPLOYS")[0]) == "<@U0ALICE> asked for help"
    assert slack.calls_to("auth.test")  # Bolt's eager token check went to the fake

    click = payloads.block_action(action_id="go", value="42", container_is_ephemeral=True)
    assert app.dispatch(click.bolt_request()).status == 200
    slack.wait_for(lambda: (slack.last_response() or {}).get("text") == "gone")
    assert len(slack.shown_responses()) == 1


def test_bolt_app_rejects_bad_signatures(slack: FakeSlack) -> None:
    app = build_app(slack)
    good = SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    forged = SlackPayloads(signing_secret="not-the-secret", response_url_base=slack)
    stale = SlackPayloads(signing_secret=SECRET, response_url_base=slack, clock=lambda: time.time() - 600)

    assert app.dispatch(forged.slash_command("help").bolt_request()).status == 401
    assert app.dispatch(stale.slash_command("help").bolt_request()).status == 401
    assert app.dispatch(good.slash_command("help").with_signature("v0=00").bolt_request()).status == 401
    assert slack.calls_to("chat.postMessage") == [] and slack.responses == []


def test_signed_requests_work_over_real_http(slack: FakeSlack) -> None:
    # The response_url endpoint doubles as a plain HTTP target to check `post()` sends body and headers as-is.
    payloads = SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    request = payloads.sign(json.dumps({"text": "over http"}))

    answer = post(slack.response_url("http"), request)

    assert (answer.status_code, answer.text) == (200, "ok")
    assert slack.last_response("http") == {"text": "over http"}


def test_view_submission_and_block_suggestion_reach_bolt_listeners(slack: FakeSlack) -> None:
    app = build_app(slack)
    payloads = SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    seen: dict[str, Any] = {}

    @app.view("form")
    def submitted(ack: Ack, view: dict[str, Any]) -> None:
        seen["values"] = view["state"]["values"]
        ack(response_action="errors", errors={"chain": "pick one"})

    @app.options("pick")
    def options(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=[{"text": {"type": "plain_text", "text": payload["value"]}, "value": "v"}])

    values = {"chain": {"pick": {"type": "static_select", "selected_option": None}}}
    submission = app.dispatch(payloads.view_submission(callback_id="form", values=values).bolt_request())
    suggestion = app.dispatch(payloads.block_suggestion(action_id="pick", value="summ").bolt_request())

    assert submission.status == 200 and json.loads(submission.body)["errors"] == {"chain": "pick one"}
    assert seen["values"] == values
    assert json.loads(suggestion.body)["options"][0]["text"]["text"] == "summ"


# -- reading history, message metadata and DMs, as Slack does ------------------------------------------------

META = {"event_type": "chainops_message", "event_payload": {"key": "k1", "version": 2}}


def test_history_is_newest_first_top_level_only_and_shows_metadata_only_when_asked(client: WebClient) -> None:
    before = time.time() - 1
    first = client.chat_postMessage(channel="C1", text="first", metadata=META)
    client.chat_postMessage(channel="C1", thread_ts=first["ts"], text="a reply")
    client.chat_postMessage(channel="C1", text="second")

    plain = client.conversations_history(channel="C1", oldest=str(before))
    assert [m["text"] for m in plain["messages"]] == ["second", "first"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["messages"][1]["reply_count"] == 1
    full = client.conversations_history(channel="C1", oldest=str(before), include_all_metadata=True)
    assert full["messages"][1]["metadata"] == META
    after_first = client.conversations_history(channel="C1", oldest=first["ts"])  # `oldest` is exclusive
    assert [m["text"] for m in after_first["messages"]] == ["second"]
    thread = client.conversations_replies(channel="C1", ts=first["ts"], include_all_metadata=True)
    assert [m["text"] for m in thread["messages"]] == ["first", "a reply"]


def test_history_pages_with_a_cursor(client: WebClient) -> None:
    for i in range(5):
        client.chat_postMessage(channel="C1", text=f"m{i}")
    page = client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in page["messages"]] == ["m4", "m3", "m2"] and page["has_more"]
    rest = client.conversations_history(channel="C1", limit=3, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["m1", "m0"] and not rest["has_more"]


def test_history_needs_the_history_scope_of_the_channel_kind_and_membership(slack: FakeSlack, client: WebClient) -> None:
    slack.scopes.discard("groups:history")
    with pytest.raises(SlackApiError) as missing:
        client.conversations_history(channel="G0PRIVATE")
    assert missing.value.response["error"] == "missing_scope" and missing.value.response["needed"] == "groups:history"
    slack.channels_without_bot.add("C0SECRET")
    with pytest.raises(SlackApiError) as outside:
        client.conversations_history(channel="C0SECRET")
    assert outside.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as no_thread:
        client.conversations_replies(channel="C1", ts="1.000001")
    assert no_thread.value.response["error"] == "thread_not_found"


@pytest.mark.parametrize(
    "metadata",
    [
        {"event_type": "has spaces", "event_payload": {}},
        {"event_type": "ok_name", "event_payload": {"key": None}},
        {"event_type": "ok_name"},
        {"event_type": "ok_name", "event_payload": [], "extra": 1},
    ],
)
def test_malformed_metadata_is_refused(slack: FakeSlack, client: WebClient, metadata: dict[str, Any]) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="x", metadata=metadata)
    assert refused.value.response["error"] == "invalid_metadata_format"
    assert slack.violations
    slack.violations.clear()


def test_a_post_to_a_user_id_lands_in_the_bots_dm_with_them(slack: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postMessage(channel="U0ALICE", text="about your change")
    assert answer["channel"].startswith("D")
    assert [m.text for m in slack.direct_messages("U0ALICE")] == ["about your change"]


@pytest.mark.parametrize(("where", "error"), [("archived_channels", "is_archived"), ("deleted_channels", "channel_not_found")])
def test_archived_and_deleted_channels_refuse_posts_and_updates(slack: FakeSlack, client: WebClient, where: str, error: str) -> None:
    ts = client.chat_postMessage(channel="C1", text="before")["ts"]
    getattr(slack, where).add("C1")
    for call in (lambda: client.chat_postMessage(channel="C1", text="x"), lambda: client.chat_update(channel="C1", ts=ts, text="y")):
        with pytest.raises(SlackApiError) as refused:
            call()
        assert refused.value.response["error"] == error


def test_an_answer_that_comes_late_comes_after_the_work_is_done(slack: FakeSlack) -> None:
    impatient = WebClient(token=TOKEN, base_url=slack.api_url, timeout=1)
    impatient.retry_handlers = []
    slack.answer_late("chat.postMessage", 1.5)
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="made anyway")
    assert [m.text for m in slack.messages("C1")] == ["made anyway"]


def test_a_published_home_is_what_the_person_sees(slack: FakeSlack, client: WebClient) -> None:
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": BLOCKS})

    assert text_of(slack.home("U0ALICE")) == text_of(BLOCKS) and slack.home("U0BOB") is None


@pytest.mark.parametrize(
    "view",
    [
        {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": BLOCKS},
        {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 101},
        {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a <!channel> b"}}]},
        {"type": "home", "blocks": []},
    ],
)
def test_a_home_slack_would_refuse_is_refused(slack: FakeSlack, client: WebClient, view: dict[str, Any]) -> None:
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U0ALICE", view=view)
    assert slack.violations and slack.home("U0ALICE") is None
    slack.violations.clear()


def test_private_channels_are_known_to_their_members_only(slack: FakeSlack, client: WebClient) -> None:
    slack.private_channels.add("C0SECRET")
    slack.members.update({"C0SECRET": {"U0ALICE"}, "C0OPEN": {"U0ALICE", "U0BOB"}})

    assert [c["id"] for c in client.users_conversations(user="U0ALICE")["channels"]] == ["C0OPEN", "C0SECRET"]
    assert [c["id"] for c in client.users_conversations(user="U0BOB")["channels"]] == ["C0OPEN"]
    assert client.conversations_info(channel="C0SECRET")["channel"]["is_private"] is True
    slack.scopes.discard("groups:read")
    with pytest.raises(SlackApiError) as missing:
        client.users_conversations(user="U0ALICE")
    assert missing.value.response["error"] == "missing_scope"
