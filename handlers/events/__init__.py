"""Slack events: the App Home being opened. Acknowledged at once; the home is gathered and published
afterwards on the work pool (its Baseten reads never come before the ack)."""

from typing import Any

from slack_bolt import App

from bot.runtime.workpool import Priority
from bot.slack.invocation import Invocation
from handlers.context import chainops_of


def home_opened(body: dict[str, Any], context: Any) -> None:
    chainops_of(context).home.opened(str(body["event"]["user"]))


def on_home_opened(ack: Any, body: dict[str, Any], context: Any) -> None:
    ack()
    event = body.get("event") or {}
    if event.get("tab", "home") != "home" or not event.get("user"):
        return  # the Messages tab: nothing to show there
    inv = Invocation(user=str(event["user"]), channel="")
    chainops_of(context).after_ack(Priority.READ, inv, home_opened, body, context)


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)
