"""`/chain ...`: acknowledged at once, then run. What needs no Baseten call (help, a usage error, a form
to open: its trigger expires 3 seconds after the click) is answered right after the ack on the lane that
never waits for Baseten; everything else runs on the work pool, changes before reads."""

from typing import Any

from slack_bolt import App

from handlers.context import chainops_of, command_invocation


def chain_command(ack: Any, body: dict[str, Any], context: Any) -> None:
    ack()
    chainops = chainops_of(context)
    text, invocation = str(body.get("text", "")), command_invocation(body)
    if not chainops.operations.needs_baseten(text):
        chainops.answer_at_once(invocation, chainops.operations.run_command, text, invocation)
    else:
        priority = chainops.operations.priority_of(text)
        chainops.after_ack(priority, invocation, chainops.operations.run_command, text, invocation)


def register(app: App) -> None:
    app.command("/chain")(chain_command)
