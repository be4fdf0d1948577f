"""What Slack sends to the bot, signed with the app's signing secret.

Each builder returns a `SignedRequest` usable both with `app.dispatch(request.bolt_request())` and as a
real HTTP POST (`post(url, request)`). The bodies are encoded exactly as Slack encodes them: slash commands as
plain form fields, interactivity as `payload=<json>`."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import FakeSlack
from tests.local_http import LOCAL

APP_ID = "A0CHAINOPS"
VERIFICATION_TOKEN = "legacy-verification-token"  # Slack still sends it; Bolt ignores it


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str]

    def bolt_request(self) -> BoltRequest:
        return BoltRequest(body=self.body, headers=dict(self.headers))

    def with_signature(self, signature: str) -> SignedRequest:
        """The same request with another signature, to prove forged requests are refused."""
        return replace(self, headers={**self.headers, "x-slack-signature": signature})


def post(url: str, request: SignedRequest, timeout: float = 10.0) -> httpx.Response:
    return LOCAL.post(url, content=request.body, headers=request.headers, timeout=timeout)


class SlackPayloads:
    def __init__(
        self,
        signing_secret: str,
        team_id: str = "T1",
        response_url_base: FakeSlack | str = "http://127.0.0.1:9/respond/",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self._base = response_url_base
        self._clock = clock
        self._counter = itertools.count(1)

    # -- builders ----------------------------------------------------------------------------------------

    def slash_command(
        self,
        text: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0DEPLOYS",
        command: str = "/chain",
        response_url_name: str | None = None,
        trigger_id: str | None = None,
    ) -> SignedRequest:
        self._typed(text)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "chainops-test",
            "channel_id": channel,
            "channel_name": _channel_name(channel),
            "user_id": user,
            "user_name": _user_name(user),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(response_url_name, channel=channel, from_command=True),
            "trigger_id": trigger_id or self.new_trigger_id(),
        }
        return self.sign(urlencode(fields))

    def block_action(
        self,
        *,
        action_id: str,
        value: str,
        user: str = "U0ALICE",
        channel: str = "C0DEPLOYS",
        message_ts: str | None = None,
        container_is_ephemeral: bool = False,
        response_url_name: str | None = None,
        block_id: str = "b",
        view: dict[str, Any] | None = None,
        selected_option: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        action_type: str | None = None,
    ) -> SignedRequest:
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": self._action_ts(),
        }
        if selected_option is not None:
            action |= {"type": action_type or "static_select", "selected_option": selected_option}
        else:
            action |= {"type": action_type or "button", "value": value}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.new_trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        if view is not None:
            # Clicks inside a modal carry the view and no channel or response_url, as in Slack.
            payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
            payload["view"] = view
            payload["state"] = view.get("state", {"values": {}})
            return self.sign(_interactive(payload))
        ts = message_ts or self._action_ts()
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": container_is_ephemeral,
        }
        payload["channel"] = {"id": channel, "name": _channel_name(channel)}
        if message_ts is not None and not container_is_ephemeral:
            payload["message"] = self._message(channel, message_ts)
        payload["response_url"] = self._response_url(
            response_url_name,
            channel=channel,
            message_ts=ts,
            ephemeral=container_is_ephemeral or message_ts is None,
            clicked=(action_id, value),
        )
        return self.sign(_interactive(payload))

    def view_submission(
        self,
        *,
        callback_id: str,
        values: dict[str, dict[str, dict[str, Any]]],
        private_metadata: str = "",
        user: str = "U0ALICE",
        view_id: str = "V1",
        blocks: list[dict[str, Any]] | None = None,
    ) -> SignedRequest:
        """`blocks`: the view as shown (Slack sends them back with the state)."""
        for block in values.values():
            for element in block.values():
                if isinstance(element.get("value"), str):
                    self._typed(element["value"])
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.new_trigger_id(),
            "view": {
                "id": view_id,
                "team_id": self.team_id,
                "type": "modal",
                "blocks": blocks or [],
                "private_metadata": private_metadata,
                "callback_id": callback_id,
                "state": {"values": values},
                "hash": f"{int(self._clock())}.hash",
                "root_view_id": view_id,
                "previous_view_id": None,
                "app_id": APP_ID,
                "external_id": "",
                "bot_id": "BBOT",
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.sign(_interactive(payload))

    def block_suggestion(
        self,
        *,
        action_id: str,
        value: str,
        block_id: str = "b",
        user: str = "U0ALICE",
        view: dict[str, Any] | None = None,
    ) -> SignedRequest:
        view = view or {
            "id": "V1",
            "type": "modal",
            "callback_id": "",
            "private_metadata": "",
            "state": {"values": {}},
        }
        payload = {
            "type": "block_suggestion",
            "user": self._user(user),
            "container": {"type": "view", "view_id": view.get("id", "V1")},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
        }
        return self.sign(_interactive(payload))

    # -- signing -----------------------------------------------------------------------------------------

    def app_home_opened(self, *, user: str = "U0ALICE", tab: str = "home") -> SignedRequest:
        """The event Slack sends when a person opens the app's Home (or Messages) tab."""
        serial = next(self._counter)
        body = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D" + user.removeprefix("U"),
                "tab": tab,
                "event_ts": f"{self._clock():.6f}",
            },
            "type": "event_callback",
            "event_id": f"Ev{serial:08d}",
            "event_time": int(self._clock()),
            "authorizations": [{"team_id": self.team_id, "user_id": "UBOT", "is_bot": True}],
        }
        signed = self.sign(json.dumps(body))
        return replace(signed, headers={**signed.headers, "content-type": "application/json"})

    def sign(self, body: str, *, timestamp: int | None = None) -> SignedRequest:
        """Sign `body` the way Slack does; the exact string signed is the one sent."""
        ts = str(timestamp if timestamp is not None else int(self._clock()))
        signature = str(self._verifier.generate_signature(timestamp=ts, body=body))
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature,
        }
        return SignedRequest(body=body, headers=headers)

    def new_trigger_id(self) -> str:
        return f"{next(self._counter)}.{int(self._clock())}.{time.time_ns():x}"

    # -- pieces ------------------------------------------------------------------------------------------

    def _response_url(
        self,
        name: str | None,
        *,
        channel: str,
        message_ts: str | None = None,
        ephemeral: bool = True,
        from_command: bool = False,
        clicked: tuple[str, str] | None = None,
    ) -> str:
        """Each request gets its own response_url, as in Slack; answers are read back by `name`."""
        name = name or "default"
        if isinstance(self._base, FakeSlack):
            return self._base.bind_response_url(
                name,
                channel=channel,
                message_ts=message_ts,
                ephemeral=ephemeral,
                from_command=from_command,
                clicked=clicked,
            )
        return f"{self._base.rstrip('/')}/{name}"

    def _message(self, channel: str, ts: str) -> dict[str, Any]:
        """The clicked message as Slack includes it; taken from the fake when it knows it."""
        if isinstance(self._base, FakeSlack) and (known := self._base.message(channel, ts)):
            return known.as_dict()
        return {"type": "message", "ts": ts, "text": "", "user": "UBOT", "bot_id": "BBOT", "blocks": []}

    def _typed(self, text: str) -> None:
        """The fake Slack learns what people type, to check it is shown as typed."""
        if isinstance(self._base, FakeSlack) and text:
            self._base.typed.append(text)

    def _user(self, user: str) -> dict[str, str]:
        return {"id": user, "username": _user_name(user), "name": _user_name(user), "team_id": self.team_id}

    def _team(self) -> dict[str, str]:
        return {"id": self.team_id, "domain": "chainops-test"}

    def _action_ts(self) -> str:
        return f"{self._clock():.6f}"


def _interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def _channel_name(channel: str) -> str:
    return channel.removeprefix("C0").lower()


def _user_name(user: str) -> str:
    return user.removeprefix("U0").lower()
