"""Typeahead options for the chain picker; answered inline from a briefly cached list."""

from typing import Any

from slack_bolt import App

from bot.baseten.errors import BasetenError
from bot.runtime import metrics
from bot.slack.ids import Action
from handlers.context import chainops_of


def chain_options(ack: Any, body: dict[str, Any], context: Any) -> None:
    with metrics.command("chain-options"):
        try:
            ack(options=chainops_of(context).forms.chain_options(str(body.get("value", ""))))
        except BasetenError:
            metrics.outcome(metrics.ERROR)
            ack(options=[])


def register(app: App) -> None:
    app.options(Action.PICK_CHAIN.value)(chain_options)
