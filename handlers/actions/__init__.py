"""Buttons on previews, approval requests and rollout threads, and the pickers in forms: acknowledged at
once, then run on the work pool ahead of every command."""

from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot.runtime import metrics
from bot.runtime.workpool import Priority
from bot.slack.ids import Action
from bot.slack.markup import lines
from bot.slack.modals import HomePick
from handlers.context import action_invocation, action_value, chainops_of

# What a press on the App Home came to when nothing else was said (a refusal always says why).
DONE = {
    "approve": ":white_check_mark: Approved: the change is being made; its channel's thread follows it.",
    "confirm": ":white_check_mark: Confirmed: the change is being made; its channel's thread follows it.",
    "reject": ":no_entry_sign: Rejected.",
    "cancel": ":no_entry_sign: Cancelled.",
}


def _decision(decision: str) -> Any:
    def decide(body: dict[str, Any], context: Any) -> None:
        inv = action_invocation(body)
        chainops = chainops_of(context)
        chainops.operations.decide(action_value(body), decision, inv)
        if inv.notes is not None:  # pressed on the App Home: it shows what became of it
            chainops.home.publish(inv.user, notice=lines(inv.notes) if inv.notes else DONE[decision])

    decide.__name__ = f"decide_{decision}"
    return decide


def roll_back(body: dict[str, Any], context: Any) -> None:
    chainops_of(context).operations.rollback(action_value(body), action_invocation(body))


def home_form(body: dict[str, Any], context: Any) -> None:
    """A line's menu on the App Home: open the chosen form for that chain and environment."""
    action = (body.get("actions") or [{}])[0]
    try:
        pick = HomePick.model_validate_json(str((action.get("selected_option") or action).get("value", "")))
    except ValueError:
        return  # not a value the home wrote: nothing to open
    inv = action_invocation(body)
    chainops = chainops_of(context)
    chainops.forms.open_for_line(pick, inv)
    if inv.notes:
        chainops.home.publish(inv.user, notice=lines(inv.notes))


def chain_picked(body: dict[str, Any], context: Any) -> None:
    selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
    with metrics.command("pick-chain"):
        chainops_of(context).forms.chain_picked(body["view"], str(selected.get("value", "")))


def env_picked(body: dict[str, Any], context: Any) -> None:
    selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
    with metrics.command("pick-env"):
        chainops_of(context).forms.env_picked(body["view"], str(selected.get("value", "")))


def ack_then(work: Callable[[dict[str, Any], Any], None]) -> Callable[..., None]:
    def listener(ack: Any, body: dict[str, Any], context: Any) -> None:
        ack()
        chainops_of(context).after_ack(Priority.CLICK, action_invocation(body), work, body, context)

    listener.__name__ = work.__name__
    return listener


def register(app: App) -> None:
    app.action(Action.PICK_CHAIN.value)(ack_then(chain_picked))
    app.action(Action.PICK_ENV.value)(ack_then(env_picked))
    app.action(Action.CONFIRM.value)(ack_then(_decision("confirm")))
    app.action(Action.APPROVE.value)(ack_then(_decision("approve")))
    app.action(Action.REJECT.value)(ack_then(_decision("reject")))
    app.action(Action.CANCEL.value)(ack_then(_decision("cancel")))
    app.action(Action.ROLLBACK.value)(ack_then(roll_back))
    app.action(Action.HOME_FORM.value)(ack_then(home_form))
    app.action(Action.REVERT.value)(ack_then(roll_back))
