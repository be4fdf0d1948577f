"""Modal submissions: checked against Baseten before the modal closes, errors shown on the field."""

from functools import partial
from typing import Any

from slack_bolt import App

from bot.runtime import metrics
from bot.runtime.workpool import Priority
from bot.slack.ids import View
from handlers.context import chainops_of


def submit_form(ack: Any, body: dict[str, Any], context: Any) -> None:
    chainops = chainops_of(context)
    with metrics.command("form-submit"):
        checked = chainops.forms.check(body["view"], str(body["user"]["id"]))
        if checked.view is not None:
            ack(response_action="update", view=checked.view)
            return
        if checked.errors or checked.plan is None or checked.invocation is None:
            metrics.outcome(metrics.REFUSED)
            ack(response_action="errors", errors=checked.errors)
            return
    ack()
    # A form's submit says "Preview": the change runs only from the preview's Confirm.
    offer = partial(chainops.operations.request, preview=True)
    chainops.after_ack(Priority.CLICK, checked.invocation, offer, checked.plan, checked.invocation)


def register(app: App) -> None:
    app.view(View.PROMOTE.value)(submit_form)
    app.view(View.INSTANCE_TYPE.value)(submit_form)
