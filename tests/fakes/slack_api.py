"""A fake Slack Web API on loopback.

Real `slack_sdk.WebClient`s and Bolt's `respond()` talk to it over HTTP, so tests exercise serialisation,
auth headers, retry handlers and error codes, then assert on what a person in Slack would see."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import slack_rules

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"

# Fields WebClient may send as a JSON string inside a form body.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")
# What the installed app was granted; reading a channel's history needs the scope for its kind.
DEFAULT_SCOPES = frozenset(
    {
        "commands",
        "chat:write",
        "usergroups:read",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
    }
)
HISTORY_LIMIT = 999  # conversations.history and .replies return at most this many per page
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
# A response_url may be used this many times within this many seconds (Slack's documented limits).
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60
# Keys whose text a person does not see on the message itself (dialogs, hidden state).
_HIDDEN_KEYS = {"confirm", "state", "private_metadata", "value", "action_id", "block_id", "url"}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float
    error: str | None = None  # the error code answered, if any ("ratelimited", "not_in_channel", ...)
    answered_at: float | None = None  # when the answer went back (later than `at` for a slow method)


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    channel: str
    user: str = BOT_USER_ID
    bot_id: str = BOT_ID
    thread_ts: str | None = None
    replies: list[Message] = field(default_factory=list)
    edits: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)
    to: str | None = None  # recipient of an ephemeral message
    metadata: dict[str, Any] | None = None  # message metadata (event_type, event_payload), if posted with it

    def as_dict(self) -> dict[str, Any]:
        """The shape Slack puts in `message` of a block_actions payload."""
        out: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "text": self.text,
            "user": self.user,
            "bot_id": self.bot_id,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out

    def in_history(self, *, with_metadata: bool) -> dict[str, Any]:
        """The shape conversations.history and .replies give: metadata only when asked for."""
        out = self.as_dict()
        if self.replies:
            out.update(thread_ts=self.ts, reply_count=len(self.replies))
        if with_metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out


@dataclass
class _Origin:
    """Where a response_url came from, so replace_original/delete_original hit the right message.

    Only a response_url from an interaction (a button) can replace or delete its message; a slash
    command's response_url has no message of its own, so Slack shows each answer as a new message."""

    channel: str | None
    message_ts: str | None = None
    ephemeral: bool = True
    from_command: bool = False
    created_at: float | None = None
    uses: int = 0
    clicked: tuple[str, str] | None = None  # (action_id, value) of the button on an ephemeral message


class FakeSlack:
    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.channels_without_bot: set[str] = set()
        self.archived_channels: set[str] = set()  # posts and updates answer is_archived
        self.deleted_channels: set[str] = set()  # every call naming them answers channel_not_found
        self.scopes: set[str] = set(DEFAULT_SCOPES)
        self.usergroups: dict[str, list[str]] = {}
        # Channel -> its members (users.conversations); a private channel is seen by its members only.
        self.members: dict[str, set[str]] = {}
        self.private_channels: set[str] = set()
        self.homes: dict[str, dict[str, Any]] = {}  # user -> the App Home last published for them
        self.expired_triggers: set[str] = set()
        self.latency: float = 0.0
        self.slow: dict[str, float] = {}  # Web API method -> seconds its answer takes (after doing its work)
        self.slow_responses: float = 0.0  # seconds a response_url post takes to be answered (after its work)
        self._respond_limits: list[int] = [0, 0]  # response_url posts still to answer 429, and Retry-After
        self._released = threading.Event()  # set by heal/close: slow answers go out at once
        self.calls: list[ApiCall] = []
        self.responses: list[dict[str, Any]] = []

        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0
        self._channels: dict[str, list[Message]] = {}
        self._by_ts: dict[tuple[str, str], Message] = {}
        self._ephemeral: dict[str, list[Message]] = {}
        self._response_names: list[str] = []
        self._shown: dict[str, list[dict[str, Any]]] = {}
        self._origins: dict[str, _Origin] = {}
        self._used_triggers: set[str] = set()
        self._views: dict[str, dict[str, Any]] = {}
        self._latest_view_id: str | None = None
        self.app_token = "xapp-test-app-token"
        self.socket_mode_url: str | None = None
        self._rate_limits: dict[str, list[int]] = {}  # method -> [remaining, retry_after]
        # Every payload Slack would refuse, with the reason; a test using this fake fails if any is left.
        self.violations: list[str] = []
        # What people typed (and names Baseten gave, when a test says so): shown as typed, never as formatting.
        self.typed: list[str] = []
        self.clock: Callable[[], float] = time.time
        self._url_serial = 0
        # method -> [(status, error code, channel or None for any)]
        self._faults: dict[str, list[tuple[int, str | None, str | None]]] = {}
        self._late: dict[str, list[float]] = {}  # method -> seconds the next answers take
        self._last_ts = 0

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeSlack:
        """Serve on loopback: on `port`, or on a free one when it is 0."""
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll: shutdown() waits up to one poll interval, and every test closes a fake Slack.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; safe to call twice (fixtures and tests both close)."""
        server, self._server = self._server, None
        self._released.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.assert_no_violations()

    def assert_no_violations(self) -> None:
        """Fail the test if the bot sent anything Slack would have refused."""
        with self._lock:
            found, self.violations = self.violations, []
        if found:
            raise AssertionError("Slack would have refused:\n  " + "\n  ".join(found))

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    def response_url(self, name: str = "default") -> str:
        return f"{self.base_url}respond/{name}"

    def bind_response_url(
        self,
        name: str,
        *,
        channel: str | None,
        message_ts: str | None = None,
        ephemeral: bool = True,
        from_command: bool = False,
        clicked: tuple[str, str] | None = None,
    ) -> str:
        """A fresh response_url for one request, filed under `name` for the test to read answers by.

        Returns the URL; its uses and age are counted against Slack's limits."""
        with self._lock:
            self._url_serial += 1
            key = f"{name}/{self._url_serial}"
            self._origins[key] = _Origin(
                channel,
                message_ts,
                ephemeral,
                from_command=from_command,
                created_at=self.clock(),
                clicked=clicked,
            )
        return f"{self.base_url}respond/{key}"

    # -- fault injection ---------------------------------------------------------------------------------

    def rate_limit_next(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._rate_limits[method] = [times, retry_after]

    def rate_limit_responses(self, times: int = 1, retry_after: int = 120) -> None:
        """The next `times` response_url posts are answered 429 with `Retry-After` (nothing is shown)."""
        with self._lock:
            self._respond_limits = [times, retry_after]

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """The next calls of `method` (naming `channel`, if given) fail: HTTP `status` with an HTML page
        (what a proxy in front of Slack answers in an outage), or with `error`, HTTP 200 and `ok: false`
        with that error code."""
        with self._lock:
            self._faults.setdefault(method, []).extend([(status, error, channel)] * times)

    def answer_late(self, method: str, seconds: float, times: int = 1) -> None:
        """The next calls of `method` do their work at once but answer only after `seconds`, as Slack
        does when it is slow: a client that gives up first never learns that it worked."""
        with self._lock:
            self._late.setdefault(method, []).extend([seconds] * times)

    def _take_late(self, method: str) -> float:
        with self._lock:
            pending = self._late.get(method)
            return pending.pop(0) if pending else 0.0

    def _take_fault(self, method: str, params: dict[str, Any]) -> tuple[int, str | None] | None:
        faults = self._faults.get(method) or []
        for index, (status, error, channel) in enumerate(faults):
            if channel is None or channel == params.get("channel"):
                faults.pop(index)
                return status, error
        return None

    def heal(self) -> None:
        """Slack works again: scripted faults still waiting are dropped."""
        with self._lock:
            self._faults.clear()
            self._rate_limits.clear()
            self._late.clear()
            self._respond_limits = [0, 0]
        self._released.set()

    # -- recordings --------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def responses_to(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for n, r in zip(self._response_names, self.responses, strict=True) if n == name]

    # -- what a person sees ------------------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages in the channel, oldest first; snapshots, so later edits don't shift them."""
        with self._lock:
            return copy.deepcopy(self._channels.get(channel, []))

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            found = self._by_ts.get((channel, ts))
            return copy.deepcopy(found) if found else None

    def thread(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            parent = self._by_ts.get((channel, ts))
            return copy.deepcopy(parent.replies) if parent else []

    def direct_messages(self, user: str) -> list[Message]:
        """What the bot said to this person in its DM with them (the app's Messages tab)."""
        return self.messages(_dm_channel(user))

    def ephemeral(self, user: str) -> list[Message]:
        with self._lock:
            return copy.deepcopy(self._ephemeral.get(user, []))

    def shown_responses(self, name: str = "default") -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._shown.get(name, []))

    def last_response(self, name: str = "default") -> dict[str, Any] | None:
        shown = self.shown_responses(name)
        return shown[-1] if shown else None

    def latest_view(self) -> dict[str, Any] | None:
        """The view most recently opened or updated, as Slack now shows it (with its id)."""
        with self._lock:
            return copy.deepcopy(self._latest_view_id and self._views.get(self._latest_view_id))

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s; recent Slack traffic:\n{self._dump()}"
                )
            time.sleep(0.01)

    def _dump(self, last: int = 12) -> str:
        with self._lock:
            lines = [
                f"  {c.method} {_short(c.params)}" + (f" -> {c.error}" if c.error else "")
                for c in self.calls[-last:]
            ]
            lines += [
                f"  respond/{n} {_short(r)}"
                for n, r in list(zip(self._response_names, self.responses, strict=True))[-last:]
            ]
        return "\n".join(lines) or "  (nothing)"

    # -- Web API -----------------------------------------------------------------------------------------

    def _api(
        self, method: str, params: dict[str, Any], auth: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        token = (
            auth.removeprefix("Bearer ").strip()
            if auth and auth.startswith("Bearer ")
            else params.get("token")
        )
        params = {k: v for k, v in params.items() if k != "token"}
        with self._lock:
            call = ApiCall(method, params, time.monotonic())
            self.calls.append(call)
            if not token:
                body = _error("not_authed")
            elif token != (self.app_token if method == "apps.connections.open" else self.token):
                body = _error("invalid_auth")
            elif (limit := self._take_rate_limit(method)) is not None:
                call.error = "ratelimited"
                return 429, _error("ratelimited"), {"Retry-After": str(limit)}
            elif (fault := self._take_fault(method, params)) is not None:
                status, error = fault
                call.error = error or f"http_{status}"
                if error is None:
                    return status, {}, {"X-Html": "1"}
                return 200, _error(error), {}
            elif problems := _payload_problems(method, params, self.typed):
                self.violations.append(f"{method}: " + "; ".join(problems))
                code = "invalid_blocks" if method.startswith("chat.") else "invalid_arguments"
                if all(problem.startswith("metadata") for problem in problems):
                    code = "invalid_metadata_format"
                body = {**_error(code), "response_metadata": {"messages": problems}}
            else:
                handler = _METHODS.get(method)
                try:
                    body = handler(self, params) if handler else {"ok": True}
                except _Refused as exc:
                    body = _error(str(exc))
            call.error = None if body.get("ok") else str(body.get("error"))
        headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))} if method == "auth.test" else {}
        return 200, body, headers

    def _take_rate_limit(self, method: str) -> int | None:
        pending = self._rate_limits.get(method)
        if not pending or pending[0] <= 0:
            return None
        pending[0] -= 1
        return pending[1]

    def _next_ts(self) -> str:
        """Slack's ts: its wall clock when the message was made, unique in the workspace here."""
        micros = max(self._last_ts + 1, time.time_ns() // 1000)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:08X}"

    def _connections_open(self, _params: dict[str, Any]) -> dict[str, Any]:
        """Socket Mode: where the app's websocket should connect (set `socket_mode_url` first)."""
        if not self.socket_mode_url:
            return _error("invalid_auth")
        return {"ok": True, "url": self.socket_mode_url}

    def _auth_test(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://chainops-test.slack.com/",
            "team": "Chainops Test",
            "user": "chainops",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        if channel.startswith(("U", "W")):  # a user id: the bot's DM with that person
            channel = _dm_channel(channel)
        if refused := self._refuses_posts(channel):
            return _error(refused)
        if not p.get("text") and not p.get("blocks") and not p.get("attachments"):
            return _error("no_text")
        message = Message(
            ts=self._next_ts(),
            text=str(p.get("text") or ""),
            blocks=list(p.get("blocks") or []),
            attachments=list(p.get("attachments") or []),
            channel=channel,
            metadata=_parsed_metadata(p.get("metadata")),
        )
        if thread_ts := p.get("thread_ts"):
            parent = self._by_ts.get((channel, str(thread_ts)))
            if parent is None:
                return _error("thread_not_found")
            if parent.thread_ts:  # a reply's ts: Slack files it under the thread's parent
                parent = self._by_ts[(channel, parent.thread_ts)]
            message.thread_ts = parent.ts
            parent.replies.append(message)
        else:
            self._channels.setdefault(channel, []).append(message)
        self._by_ts[(channel, message.ts)] = message
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_dict()}

    def _refuses_posts(self, channel: str) -> str | None:
        """Slack's error for a post or update in this channel, if it takes none."""
        if not channel or channel in self.deleted_channels:
            return "channel_not_found"
        if channel in self.channels_without_bot:
            return "not_in_channel"
        if channel in self.archived_channels:
            return "is_archived"
        return None

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        if refused := self._refuses_posts(channel):
            return _error(refused)
        message = self._by_ts.get((channel, ts))
        if message is None:
            return _error("message_not_found")
        # Like Slack: omitted fields keep their old value; `blocks: []` clears them.
        if "text" in p:
            message.text = str(p["text"] or "")
        if "blocks" in p:
            message.blocks = list(p["blocks"] or [])
        if "attachments" in p:
            message.attachments = list(p["attachments"] or [])
        if "metadata" in p:
            message.metadata = _parsed_metadata(p["metadata"])
        message.edits += 1
        return {"ok": True, "channel": channel, "ts": ts, "text": message.text, "message": message.as_dict()}

    def _post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, user = str(p.get("channel") or ""), str(p.get("user") or "")
        if channel in self.channels_without_bot:
            return _error("not_in_channel")
        if not user:
            return _error("user_not_in_channel")
        message = Message(
            ts=self._next_ts(),
            text=str(p.get("text") or ""),
            blocks=list(p.get("blocks") or []),
            attachments=list(p.get("attachments") or []),
            channel=channel,
            thread_ts=p.get("thread_ts"),
            to=user,
        )
        self._ephemeral.setdefault(user, []).append(message)
        return {"ok": True, "message_ts": message.ts}

    def _readable(self, channel: str) -> dict[str, Any] | None:
        """The error conversations.history / .replies answer for this channel, if the bot may not read it."""
        if not channel or channel in self.deleted_channels:
            return _error("channel_not_found")
        needed = (
            "groups:history"
            if channel.startswith("G")
            else "im:history"
            if channel.startswith("D")
            else "channels:history"
        )
        if needed not in self.scopes:
            return {**_error("missing_scope"), "needed": needed, "provided": ",".join(sorted(self.scopes))}
        if channel in self.channels_without_bot:
            return _error("not_in_channel")
        return None

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        if (refused := self._readable(channel)) is not None:
            return refused
        return _page(list(reversed(self._channels.get(channel, []))), p)

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        if (refused := self._readable(channel)) is not None:
            return refused
        if not ts:
            return _error("invalid_arguments")
        parent = self._by_ts.get((channel, ts))
        if parent is None:
            return _error("thread_not_found")
        if parent.thread_ts:  # a reply's ts names its thread
            parent = self._by_ts[(channel, parent.thread_ts)]
        answer = _page(list(parent.replies), p)
        if "messages" in answer:  # the thread's parent always comes first
            answer["messages"].insert(
                0, parent.in_history(with_metadata=_truthy(p.get("include_all_metadata")))
            )
        return answer

    def _permalink(self, p: dict[str, Any]) -> dict[str, Any]:
        """Needs no scope (Slack documents none); the message must exist, in a channel that does."""
        channel, ts = str(p.get("channel") or ""), str(p.get("message_ts") or "")
        if not channel or channel in self.deleted_channels:
            return _error("channel_not_found")
        message = self._by_ts.get((channel, ts))
        if message is None:
            return _error("message_not_found")
        link = f"https://chainops-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if message.thread_ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _use_trigger(self, trigger_id: str) -> bool:
        """Triggers are single-use; an expired or reused one is refused the same way."""
        if not trigger_id or trigger_id in self.expired_triggers or trigger_id in self._used_triggers:
            return False
        self._used_triggers.add(trigger_id)
        return True

    def _store_view(
        self, view: Any, *, view_id: str | None = None, previous: str | None = None
    ) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise _Refused("invalid_arguments")
        stored = {
            **view,
            "id": view_id or self._next_id("V"),
            "team_id": TEAM_ID,
            "app_id": "A0CHAINOPS",
            "bot_id": BOT_ID,
            "hash": f"{time.time_ns()}.{self._next_id('h')}",
            "state": {"values": {}},
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "previous_view_id": previous,
        }
        stored["root_view_id"] = stored["id"] if previous is None else self._views[previous]["root_view_id"]
        self._views[stored["id"]] = stored
        self._latest_view_id = stored["id"]
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self._use_trigger(str(p.get("trigger_id") or "")):
            return _error("expired_trigger_id")
        return self._store_view(p.get("view"))

    def _views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self._use_trigger(str(p.get("trigger_id") or "")):
            return _error("expired_trigger_id")
        top = next(reversed(self._views), None) if self._views else None
        return self._store_view(p.get("view"), previous=top)

    def _views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view_id = p.get("view_id")
        if not view_id and p.get("external_id"):
            view_id = next(
                (v["id"] for v in self._views.values() if v["external_id"] == p["external_id"]), None
            )
        current = self._views.get(str(view_id or ""))
        if current is None:
            return _error("not_found")
        if p.get("hash") and p["hash"] != current["hash"]:
            return _error("hash_conflict")
        return self._store_view(p.get("view"), view_id=current["id"], previous=current["previous_view_id"])

    def _usergroup_users(self, p: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(str(p.get("usergroup") or ""))
        if users is None:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _needs(self, *scopes: str) -> dict[str, Any] | None:
        if not set(scopes) <= self.scopes:
            return {**_error("missing_scope"), "needed": ",".join(scopes), "provided": ",".join(sorted(self.scopes))}
        return None

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("user_id") or "")
        if not user.startswith(("U", "W")):
            return _error("user_not_found")
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        stored = {**view, "id": self._next_id("V"), "team_id": TEAM_ID, "app_id": "A0CHAINOPS", "bot_id": BOT_ID}
        self.homes[user] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def home(self, user: str) -> dict[str, Any] | None:
        """The App Home the user sees now."""
        with self._lock:
            return copy.deepcopy(self.homes.get(user))

    def _user_conversations(self, p: dict[str, Any]) -> dict[str, Any]:
        if (refused := self._needs("channels:read", "groups:read")) is not None:
            return refused
        user = str(p.get("user") or "")
        channels = [
            {"id": c, "is_private": c in self.private_channels, "is_channel": True}
            for c, members in sorted(self.members.items())
            if user in members
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversation_info(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        if not channel or channel in self.deleted_channels:
            return _error("channel_not_found")
        private = channel in self.private_channels
        if (refused := self._needs("groups:read" if private else "channels:read")) is not None:
            return refused
        if private and channel in self.channels_without_bot:
            return _error("channel_not_found")  # a private channel the bot is not in does not exist for it
        info = {"id": channel, "name": channel.lower(), "is_channel": True, "is_private": private}
        return {"ok": True, "channel": {**info, "is_member": channel not in self.channels_without_bot}}

    def _user_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("user") or "")
        if not user:
            return _error("user_not_found")
        name = user.removeprefix("U0").lower()
        profile = {"display_name": name, "real_name": name.title()}
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM_ID,
                "name": name,
                "is_bot": False,
                "tz": "UTC",
                "profile": profile,
            },
        }

    # -- response_url ------------------------------------------------------------------------------------

    def _respond(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        """A post to a response_url: (HTTP status, body) as Slack answers it."""
        name, _, _serial = path.partition("/")
        with self._lock:
            origin = self._origins.get(path) or self._origins.get(name) or _Origin(channel=None)
            if problems := slack_rules.check_message(body, surface=f"respond/{name}", typed=self.typed):
                self.violations.append("; ".join(problems))
                return 400, "invalid_blocks"
            if origin.created_at is not None and self.clock() - origin.created_at > RESPONSE_URL_SECONDS:
                self.violations.append(f"respond/{name}: response_url used after 30 minutes")
                return 404, "expired_url"
            origin.uses += 1
            if origin.uses > RESPONSE_URL_USES:
                self.violations.append(
                    f"respond/{name}: response_url used more than {RESPONSE_URL_USES} times"
                )
                return 404, "used_url"
            self.responses.append(body)
            self._response_names.append(name)
            shown = self._shown.setdefault(name, [])
            replace, delete = _truthy(body.get("replace_original")), _truthy(body.get("delete_original"))
            if origin.from_command:
                # A command's response_url has no original message: nothing is replaced or deleted.
                replace = delete = False
            visible = {k: v for k, v in body.items() if k not in ("replace_original", "delete_original")}
            original = self._by_ts.get((origin.channel or "", origin.message_ts or ""))
            if original is not None and not origin.ephemeral and (replace or delete):
                # The button sat on a channel message: Slack edits or deletes that message for everyone.
                if delete:
                    self._delete(original)
                else:
                    original.text = str(body.get("text") or "")
                    original.blocks = list(body.get("blocks") or [])
                    original.edits += 1
            elif delete:
                if shown:
                    shown.pop(self._clicked_index(shown, origin))
            elif replace and shown:
                shown[self._clicked_index(shown, origin)] = visible
            elif body.get("response_type") == "in_channel" and origin.channel and not replace:
                params = {k: body.get(k) for k in ("text", "blocks", "thread_ts") if body.get(k)}
                self._post_message({**params, "channel": origin.channel})
            else:
                shown.append(visible)
        return 200, "ok"

    @staticmethod
    def _clicked_index(shown: list[dict[str, Any]], origin: _Origin) -> int:
        """The private message whose button was clicked: the newest one carrying that button."""
        if origin.clicked is not None:
            for index in range(len(shown) - 1, -1, -1):
                if any((b["action_id"], b["value"]) == origin.clicked for b in buttons(shown[index])):
                    return index
        return len(shown) - 1

    def check_ack(self, request_body: str, status: int, response_body: str) -> None:
        """What the app answered Slack in the HTTP response (options, view_submission errors)."""
        if status != 200 or not response_body:
            return
        try:
            answer = json.loads(response_body)
        except ValueError:
            answer = {"text": response_body}
        if not isinstance(answer, dict):
            return
        payload: dict[str, Any] = {}
        raw = parse_qs(request_body).get("payload")
        if raw:
            payload = json.loads(raw[0])
        kind = payload.get("type")
        if kind == "block_suggestion":
            problems = slack_rules.check_options(answer)
        elif kind == "view_submission":
            problems = slack_rules.check_view_response(answer, payload.get("view"), self.typed)
        else:
            problems = slack_rules.check_message(answer, surface="ack", typed=self.typed)
        if problems:
            with self._lock:
                self.violations.append(f"ack of {kind or 'command'}: " + "; ".join(problems))

    def _delete(self, message: Message) -> None:
        self._by_ts.pop((message.channel, message.ts), None)
        if message.thread_ts:
            parent = self._by_ts.get((message.channel, message.thread_ts))
            if parent:
                parent.replies = [r for r in parent.replies if r.ts != message.ts]
        else:
            top = self._channels.get(message.channel, [])
            self._channels[message.channel] = [m for m in top if m.ts != message.ts]


class _Refused(Exception):
    """A Slack error code raised from deep inside a method."""


_METHODS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "apps.connections.open": FakeSlack._connections_open,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "chat.getPermalink": FakeSlack._permalink,
    "views.open": FakeSlack._views_open,
    "views.update": FakeSlack._views_update,
    "views.push": FakeSlack._views_push,
    "views.publish": FakeSlack._views_publish,
    "users.conversations": FakeSlack._user_conversations,
    "usergroups.users.list": FakeSlack._usergroup_users,
    "conversations.info": FakeSlack._conversation_info,
    "conversations.history": FakeSlack._history,
    "conversations.replies": FakeSlack._replies,
    "users.info": FakeSlack._user_info,
}


def _payload_problems(method: str, params: dict[str, Any], typed: list[str]) -> list[str]:
    if method in ("chat.postMessage", "chat.update"):
        return slack_rules.check_message(params, surface=method, typed=typed) + _metadata_problems(
            params.get("metadata")
        )
    if method == "chat.postEphemeral":
        return slack_rules.check_message(params, surface=method, typed=typed)
    if method in ("views.open", "views.update", "views.push"):
        return slack_rules.check_view(params.get("view"), typed)
    if method == "views.publish":
        return slack_rules.check_home(params.get("view"), typed)
    return []


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


def _dm_channel(user: str) -> str:
    return "D" + user[1:]


def _parsed_metadata(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value:
        value = json.loads(value)
    return copy.deepcopy(value) if isinstance(value, dict) else None


def _metadata_problems(value: Any) -> list[str]:
    """Slack's rules for message metadata: an object with an alphanumeric event_type and an object
    event_payload whose values are strings, numbers, booleans, objects or arrays of them."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ["metadata is not JSON"]
    if not isinstance(value, dict) or set(value) != {"event_type", "event_payload"}:
        return ["metadata must be an object of exactly event_type and event_payload"]
    problems = []
    if not isinstance(value["event_type"], str) or not _EVENT_TYPE.match(value["event_type"]):
        problems.append(f"metadata event_type {value['event_type']!r} is not an alphanumeric name")
    payload = value["event_payload"]
    if not isinstance(payload, dict):
        problems.append("metadata event_payload must be an object")
    elif not all(_payload_value(v) for v in payload.values()):
        problems.append("metadata event_payload holds a null or a value Slack does not take")
    return problems


def _payload_value(value: Any) -> bool:
    if isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(_payload_value(v) for v in value)
    if isinstance(value, dict):
        return all(_payload_value(v) for v in value.values())
    return False


def _page(newest_first: list[Message], p: dict[str, Any]) -> dict[str, Any]:
    """One page of messages as conversations.history pages them: `oldest`/`latest` bound them (exclusive
    unless `inclusive`), at most `limit` (default 100), and a cursor for the rest."""
    try:
        oldest = float(p.get("oldest") or 0)
        latest = float(p["latest"]) if p.get("latest") else float("inf")
        limit = min(int(p.get("limit") or 100), HISTORY_LIMIT)
        start = int(base64.b64decode(str(p["cursor"])).decode().removeprefix("at:")) if p.get("cursor") else 0
    except (TypeError, ValueError):
        return _error("invalid_arguments")
    if limit < 1:
        return _error("invalid_limit")
    inclusive = _truthy(p.get("inclusive"))

    def within(m: Message) -> bool:
        ts = float(m.ts)
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    kept = [m for m in newest_first if within(m)]
    page, more = kept[start : start + limit], len(kept) > start + limit
    cursor = base64.b64encode(f"at:{start + limit}".encode()).decode() if more else ""
    with_metadata = _truthy(p.get("include_all_metadata"))
    return {
        "ok": True,
        "messages": [m.in_history(with_metadata=with_metadata) for m in page],
        "has_more": more,
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "1"))


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_params(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if raw and content_type.startswith("application/json"):
        params.update(json.loads(raw))
    elif raw:
        params.update({k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()})
        for key in _JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                params[key] = json.loads(value)
    return params


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            if fake.latency:
                time.sleep(fake.latency)
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type") or ""
            if url.path.startswith("/respond/"):
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, b"invalid_payload", "text/plain")
                    return
                with fake._lock:
                    limited = fake._respond_limits[0] > 0
                    if limited:
                        fake._respond_limits[0] -= 1
                        retry_after = fake._respond_limits[1]
                if limited:
                    self._send(429, b"rate_limited", "text/plain", {"Retry-After": str(retry_after)})
                    return
                # Slack answers response_url posts with a bare "ok", or an error word and a 4xx.
                status, word = fake._respond(url.path.removeprefix("/respond/"), body)
                if fake.slow_responses:
                    fake._released.wait(fake.slow_responses)
                self._send(status, word.encode(), "text/plain")
                return
            if not url.path.startswith("/api/"):
                self._send(404, b"not found", "text/plain")
                return
            try:
                params = _parse_params(content_type, raw, url.query)
            except ValueError:
                self._json(200, _error("invalid_json"), {})
                return
            method = url.path.removeprefix("/api/")
            status, answer, headers = fake._api(method, params, self.headers.get("Authorization"))
            if delay := fake.slow.get(method) or fake._take_late(method):
                time.sleep(delay)
            with fake._lock:
                if call := next(
                    (c for c in reversed(fake.calls) if c.method == method and c.params == params), None
                ):
                    call.answered_at = time.monotonic()
            if headers.pop("X-Html", None):
                page = b"<html><head><title>500 Internal Server Error</title></head><body>upstream error</body></html>"
                self._send(status, page, "text/html; charset=utf-8")
                return
            self._json(status, answer, headers)

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

        def _send(
            self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: Slack's work is done all the same

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler


# -- reading messages like a person ---------------------------------------------------------------------


def _parts(item: Message | dict[str, Any] | list[Any] | str | None) -> Iterator[Any]:
    if isinstance(item, Message):
        yield item.text
        yield item.blocks
        yield item.attachments
    else:
        yield item


def text_of(item: Message | dict[str, Any] | list[Any] | str | None) -> str:
    """All text a person can read in a message, response or block list, one piece per line, with
    `&lt;`, `&gt;` and `&amp;` read as the characters they stand for."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in _HIDDEN_KEYS:
                    continue
                if key == "text" and isinstance(value, str):
                    out.append(value)
                elif isinstance(value, dict | list):
                    walk(value)

    for part in _parts(item):
        walk(part)
    # A person reads escaped text as the characters it stands for; mentions and links stay as markup
    # so tests can tell who was mentioned (the raw payload shows whether a `<` was escaped).
    return "\n".join(_unescape(piece) for piece in out if piece)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def buttons(item: Message | dict[str, Any] | list[Any] | None) -> list[dict[str, Any]]:
    """Every button in the message's blocks: action_id, value, text (plain string), block_id, style, confirm, url."""
    found: list[dict[str, Any]] = []

    def walk(node: Any, block_id: str | None) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child, block_id)
        elif isinstance(node, dict):
            block_id = node.get("block_id", block_id)
            if node.get("type") == "button":
                label = node.get("text")
                found.append(
                    {
                        "action_id": node.get("action_id"),
                        "value": node.get("value"),
                        "text": label.get("text") if isinstance(label, dict) else label,
                        "block_id": block_id,
                        "style": node.get("style"),
                        "confirm": node.get("confirm"),
                        "url": node.get("url"),
                    }
                )
                return
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value, block_id)

    for part in _parts(item):
        if not isinstance(part, str):
            walk(part, None)
    return found
