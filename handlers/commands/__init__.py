"""`/chain ...`: acknowledged at once, then run on the worker pool."""

from typing import Any

from slack_bolt import App

from handlers.context import chainops_of, command_invocation, just_ack


def run_chain_command(body: dict[str, Any], context: Any) -> None:
    chainops_of(context).operations.run_command(str(body.get("text", "")), command_invocation(body))


def register(app: App) -> None:
    app.command("/chain")(ack=just_ack, lazy=[run_chain_command])
