"""`/chain ...`: acknowledged at once, read once, then run. What needs no Baseten call (help, a usage
error, a form to open: its trigger expires 3 seconds after the click) is answered right after the ack on
the lane that never waits for Baseten; everything else runs on the work pool, changes before reads. A
verb alone opens its form here, on the Slack surface: the change lifecycle never calls back up into it."""

from typing import Any

from slack_bolt import App

from bot.commands import registry as verbs
from handlers.context import chainops_of, command_invocation


def chain_command(ack: Any, body: dict[str, Any], context: Any) -> None:
    ack()
    chainops = chainops_of(context)
    parsed, invocation = verbs.read(str(body.get("text", ""))), command_invocation(body)
    if parsed.opens_form:
        chainops.answer_at_once(invocation, chainops.forms.open_command, parsed, invocation)
    elif not parsed.needs_baseten:
        chainops.answer_at_once(invocation, chainops.operations.run_command, parsed, invocation)
    else:
        chainops.after_ack(parsed.priority, invocation, chainops.operations.run_command, parsed, invocation)


def register(app: App) -> None:
    app.command("/chain")(chain_command)
