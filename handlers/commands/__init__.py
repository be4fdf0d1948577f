"""`/chain ...`: acknowledged at once, then run. A form opens right after the ack on the Slack lane (its
trigger expires 3 seconds after the click, and a pool busy with Baseten must not make it wait);
everything else runs on the work pool, changes before reads."""

from typing import Any

from slack_bolt import App

from bot.replays import unless_replayed
from handlers.context import chainops_of, command_invocation


def chain_command(ack: Any, body: dict[str, Any], context: Any) -> None:
    ack()
    chainops = chainops_of(context)
    text, invocation = str(body.get("text", "")), command_invocation(body)
    if chainops.operations.opens_form(text):
        chainops.work.run_on_slack_lane(unless_replayed(chainops.operations.run_command), text, invocation)
    else:
        priority = chainops.operations.priority_of(text)
        chainops.after_ack(priority, invocation, chainops.operations.run_command, text, invocation)


def register(app: App) -> None:
    app.command("/chain")(chain_command)
