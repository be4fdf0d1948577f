"""Modal submissions: checked against Baseten before the modal closes, errors shown on the field."""

from typing import Any

from slack_bolt import App

from bot.bootstrap import Chainops
from bot.changes.plans import ChangePlan
from bot.runtime import metrics
from bot.runtime.workpool import Priority
from bot.slack.ids import View
from bot.slack.invocation import Invocation
from bot.slack.markup import lines
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
    chainops.after_ack(Priority.CLICK, checked.invocation, offer, chainops, checked.plan, checked.invocation)


def offer(chainops: Chainops, plan: ChangePlan, inv: Invocation) -> None:
    # A form's submit says "Preview": the change runs only from the preview's Confirm.
    chainops.operations.request(plan, inv, preview=True)
    if inv.notes is not None:  # opened from the App Home: the preview is shown there
        chainops.home.publish(inv.user, notice=lines(inv.notes) if inv.notes else None)


def register(app: App) -> None:
    app.view(View.PROMOTE.value)(submit_form)
    app.view(View.INSTANCE_TYPE.value)(submit_form)
    app.view(View.AUTOSCALING.value)(submit_form)
