"""`/chain ...`: acknowledged at once. A form opens on the spot (its trigger expires in 3 seconds and a busy
work pool must not make it wait); everything else runs on the work pool."""

from typing import Any

from slack_bolt import App

from handlers.context import chainops_of, command_invocation


def chain_command(ack: Any, body: dict[str, Any], context: Any) -> None:
    ack()
    chainops = chainops_of(context)
    text, invocation = str(body.get("text", "")), command_invocation(body)
    if chainops.operations.opens_form(text):
        chainops.operations.run_command(text, invocation)
    else:
        chainops.work.submit(chainops.operations.run_command, text, invocation)


def register(app: App) -> None:
    app.command("/chain")(chain_command)
