"""Small translations from Bolt's payloads into the core's types."""

from __future__ import annotations

from typing import Any

from bot.bootstrap import Chainops
from bot.slack.invocation import Invocation


def chainops_of(context: Any) -> Chainops:
    chainops: Chainops = context["chainops"]
    return chainops


def command_invocation(body: dict[str, Any]) -> Invocation:
    return Invocation(
        user=str(body.get("user_id", "")),
        channel=str(body.get("channel_id", "")),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )


def action_invocation(body: dict[str, Any]) -> Invocation:
    if from_home(body):
        return Invocation(
            user=str((body.get("user") or {}).get("id", "")),
            channel="",
            trigger_id=body.get("trigger_id"),
            notes=[],
        )
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    return Invocation(
        user=str((body.get("user") or {}).get("id", "")),
        channel=str(channel),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value", ""))


def from_home(body: dict[str, Any]) -> bool:
    """A click on a button of the App Home (a view of type home, with no channel or response_url)."""
    return (body.get("view") or {}).get("type") == "home"
