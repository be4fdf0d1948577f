"""The narrow interface through which the core talks to Slack. The Web API implementation serves Slack;
the console implements the same protocol, so no flow exists twice."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot import metrics

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


class NotInChannel(Exception):
    """The bot cannot post in the channel; the requester must invite it."""


class SlackFailure(Exception):
    """Slack refused a call; the message holds Slack's error code only, never a token."""


class StaleView(SlackFailure):
    """`views.update` with a hash Slack no longer shows: a newer view of that modal is already up."""


class Gateway(Protocol):
    def post(
        self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None
    ) -> str: ...

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


class ChannelPacer:
    """Slack allows about one message per second per channel: space posts out instead of tripping 429s."""

    def __init__(self, min_interval: float = 1.0) -> None:
        self._min_interval = min_interval
        self._next: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next[channel])
            self._next[channel] = at + self._min_interval
        if at > now:
            time.sleep(at - now)


class WebApiGateway:
    def __init__(self, token: str, *, base_url: str = "https://slack.com/api/", pace: float = 1.0) -> None:
        self.client = metrics.MeteredWebClient(token=token, base_url=base_url, timeout=10)
        self.client.retry_handlers = [
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ]
        self._pacer = ChannelPacer(pace)

    def post(
        self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None
    ) -> str:
        self._pacer.wait(channel)
        resp = self._call(
            "chat_postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
        )
        return str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        self._call("chat_update", channel=channel, ts=ts, text=text, blocks=blocks or [])

    def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, replace_original: bool = False
    ) -> None:
        hook = WebhookClient(
            response_url, timeout=10, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
        )
        started = time.monotonic()
        try:
            resp = hook.send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=replace_original
            )
        except Exception:
            metrics.slack_call("response_url", "unreachable", time.monotonic() - started)
            raise
        metrics.slack_call("response_url", _webhook_outcome(resp.status_code), time.monotonic() - started)
        if resp.status_code >= 300:
            log.warning("response_url answered HTTP %s", resp.status_code)

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

    def _call(self, method: str, **kwargs: Any) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in ("not_in_channel", "channel_not_found", "is_archived"):
                raise NotInChannel(error) from None
            if error == "hash_conflict":
                raise StaleView(error) from None
            raise SlackFailure(f"Slack {method.replace('_', '.')} failed: {error}") from None


def _webhook_outcome(status: int) -> str:
    return "ok" if status < 300 else "rate_limited" if status == 429 else "error"
