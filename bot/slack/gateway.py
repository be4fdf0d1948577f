"""The narrow interface through which the core talks to Slack. The Web API implementation serves Slack;
the console implements the same protocol, so no flow exists twice."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol
from urllib.error import URLError

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.runtime import metrics

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


class SlackFailure(Exception):
    """Slack refused a call; the message holds Slack's error code only, never a token."""


class NotInChannel(SlackFailure):
    """The bot cannot post in the channel; the requester must invite it."""


NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")  # Slack's codes for it


class SlackUnavailable(SlackFailure):
    """Slack could not answer (5xx, a body that is not JSON, a timeout): the same call may work later.

    `sent` is False only when the request surely never reached Slack (the connection was refused, or
    Slack said it did nothing); otherwise Slack may have done what was asked. `unanswered`: no answer
    came at all (a timeout, a reset), so Slack may even be doing it still."""

    def __init__(self, message: str, *, sent: bool = True, unanswered: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.unanswered = unanswered


class SlackRateLimited(SlackFailure):
    """Slack answered 429: nothing more may go out before `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Error codes Slack answers with `ok: false` for trouble on its side; with the last two it did nothing.
_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
_NOTHING_DONE = {"service_unavailable", "request_timeout"}
# Pages of conversations.history read when looking for a message whose post went unanswered.
HISTORY_PAGES = 5
HISTORY_PAGE_SIZE = 200


class MessageMetadata(BaseModel):
    """Slack message metadata: what the bot attaches to its posts so it can recognise them later."""

    event_type: str
    event_payload: dict[str, Any] = {}


class PostedMessage(BaseModel):
    """A message as conversations.history or conversations.replies shows it."""

    ts: str
    text: str = ""
    bot_id: str | None = None
    metadata: MessageMetadata | None = None


class StaleView(SlackFailure):
    """`views.update` with a hash Slack no longer shows: a newer view of that modal is already up."""


class Gateway(Protocol):
    def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        metadata: MessageMetadata | None = None,
    ) -> str: ...

    def history(self, channel: str, *, oldest: float, thread_ts: str | None = None) -> list[PostedMessage]:
        """Messages in the channel (or in the thread of `thread_ts`) since `oldest`, newest pages first."""
        ...

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None: ...

    def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, replace_original: bool = False
    ) -> None: ...

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str: ...

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        """Replace the view if it is still the one with `view_hash`; returns the new view's hash."""
        ...

    def usergroup_members(self, usergroup_id: str) -> list[str]: ...

    def permalink(self, channel: str, ts: str) -> str | None: ...

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        """Replace the person's App Home (`views.publish`)."""
        ...

    def member_channels(self, user: str) -> set[str]:
        """The public and private channels the person is a member of (`users.conversations`)."""
        ...

    def is_private(self, channel: str) -> bool:
        """Whether only its members may see the channel (`conversations.info`)."""
        ...


class WebApiGateway:
    """Slack's Web API. It retries nothing and never sleeps: the outbox decides when to try again."""

    def __init__(self, token: str, *, base_url: str = "https://slack.com/api/", timeout: int = 10) -> None:
        self.client = metrics.MeteredWebClient(token=token, base_url=base_url, timeout=timeout)
        self.client.retry_handlers = []
        self._held_until = 0.0  # monotonic end of the latest hold Slack put on private answers
        self._held_lock = threading.Lock()

    def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        metadata: MessageMetadata | None = None,
    ) -> str:
        resp = self._call(
            "chat_postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            metadata=metadata.model_dump() if metadata is not None else None,
        )
        return str(resp["ts"])

    def history(self, channel: str, *, oldest: float, thread_ts: str | None = None) -> list[PostedMessage]:
        method = "conversations_replies" if thread_ts else "conversations_history"
        found: list[PostedMessage] = []
        cursor = None
        for _page in range(HISTORY_PAGES):
            resp = self._call(
                method,
                channel=channel,
                ts=thread_ts,
                oldest=f"{oldest:.6f}",
                limit=HISTORY_PAGE_SIZE,
                include_all_metadata=True,
                cursor=cursor,
            )
            found += [PostedMessage.model_validate(m) for m in resp.get("messages") or []]
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not resp.get("has_more") or not cursor:
                break
        return found

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        self._call("chat_update", channel=channel, ts=ts, text=text, blocks=blocks or [])

    def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, replace_original: bool = False
    ) -> None:
        # No retry handler: one that sleeps out a 429's Retry-After (120 s, say) would hold this thread,
        # and whatever waits behind it, that long. A hold is waited out on a timer instead.
        hook = WebhookClient(response_url, timeout=10, retry_handlers=[])
        started = time.monotonic()
        try:
            resp = hook.send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=replace_original
            )
        except Exception:
            metrics.slack_call("response_url", "unreachable", time.monotonic() - started)
            raise
        metrics.slack_call("response_url", _webhook_outcome(resp.status_code), time.monotonic() - started)
        if resp.status_code == 429:
            wait = _retry_after(resp.headers)
            self._hold_private(wait)
            retry = threading.Timer(wait, self._respond_later, (response_url, text, blocks, replace_original))
            retry.daemon = True
            retry.start()
        elif resp.status_code >= 300:
            log.warning("response_url answered HTTP %s", resp.status_code)

    def _respond_later(
        self, response_url: str, text: str, blocks: Blocks | None, replace_original: bool
    ) -> None:
        try:
            self.respond(response_url, text, blocks, replace_original=replace_original)
        except Exception as exc:  # a late private answer is a courtesy; its change is in the thread
            log.warning("could not answer privately after Slack's hold (%s)", type(exc).__name__)

    def _hold_private(self, wait: float) -> None:
        """One log line per hold Slack puts on private answers, however many answers it holds."""
        now = time.monotonic()
        with self._held_lock:
            logged = now < self._held_until
            self._held_until = max(self._held_until, now + wait)
        if not logged:
            log.warning("Slack is rate limiting private answers (429): holding them for %.0f s", wait)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        return str(self._call("views_open", trigger_id=trigger_id, view=view)["view"]["id"])

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        return str(self._call("views_update", view_id=view_id, view=view, hash=view_hash)["view"]["hash"])

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        return [str(u) for u in self._call("usergroups_users_list", usergroup=usergroup_id)["users"]]

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str(self._call("chat_getPermalink", channel=channel, message_ts=ts)["permalink"])
        except SlackFailure:
            return None

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self._call("views_publish", user_id=user, view=view)

    def member_channels(self, user: str) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            page = self._call(
                "users_conversations",
                user=user,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=999,
                cursor=cursor,
            )
            found.update(str(c["id"]) for c in page.get("channels") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    def is_private(self, channel: str) -> bool:
        info = self._call("conversations_info", channel=channel)["channel"]
        return bool(info.get("is_private")) or bool(info.get("is_im")) or bool(info.get("is_mpim"))

    def _call(self, method: str, **kwargs: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        name = method.replace("_", ".")
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise _classify(name, exc.response.status_code, exc.response.data, exc.response.headers) from None
        except (OSError, TimeoutError) as exc:  # urllib's URLError, resets and timeouts
            refused = isinstance(exc, ConnectionRefusedError) or (
                isinstance(exc, URLError) and isinstance(exc.reason, ConnectionRefusedError)
            )
            raise SlackUnavailable(
                f"Slack {name} failed: {type(exc).__name__}", sent=not refused, unanswered=True
            ) from None


def _classify(method: str, status: int, data: object, headers: dict[str, Any]) -> SlackFailure:
    """Slack's answer as one of our errors. A 5xx may carry an HTML page instead of JSON: only the
    status and Slack's error code are read, never the body itself."""
    error = data.get("error") if isinstance(data, dict) else None
    if status == 429 or error == "ratelimited":
        return SlackRateLimited(f"Slack {method} was rate limited", _retry_after(headers))
    if status >= 500 or not isinstance(error, str) or error in _TRANSIENT or " " in error:
        return SlackUnavailable(f"Slack {method} failed: HTTP {status}", sent=error not in _NOTHING_DONE)
    if error in NOT_IN_CHANNEL:
        return NotInChannel(error)
    if error == "hash_conflict":
        return StaleView(error)
    return SlackFailure(f"Slack {method} failed: {error}")


def _retry_after(headers: Any) -> float:
    retry_after = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), "1")
    if isinstance(retry_after, list):  # the webhook client keeps every value of a header
        retry_after = retry_after[0] if retry_after else "1"
    try:
        return max(0.0, float(retry_after))
    except (TypeError, ValueError):
        return 1.0


def _webhook_outcome(status: int) -> str:
    return "ok" if status < 300 else "rate_limited" if status == 429 else "error"
