"""Buttons on previews, approval requests and rollout threads."""

from typing import Any

from slack_bolt import App

from bot import metrics
from bot.ids import Action
from handlers.context import action_invocation, action_value, chainops_of, just_ack


def _decision(decision: str) -> Any:
    def decide(body: dict[str, Any], context: Any) -> None:
        chainops_of(context).operations.decide(action_value(body), decision, action_invocation(body))

    decide.__name__ = f"decide_{decision}"
    return decide


def roll_back(body: dict[str, Any], context: Any) -> None:
    chainops_of(context).operations.rollback(action_value(body), action_invocation(body))


def chain_picked(body: dict[str, Any], context: Any) -> None:
    selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
    with metrics.command("pick-chain"):
        chainops_of(context).forms.chain_picked(body["view"], str(selected.get("value", "")))


def env_picked(body: dict[str, Any], context: Any) -> None:
    selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
    with metrics.command("pick-env"):
        chainops_of(context).forms.env_picked(body["view"], str(selected.get("value", "")))


def register(app: App) -> None:
    app.action(Action.PICK_CHAIN.value)(ack=just_ack, lazy=[chain_picked])
    app.action(Action.PICK_ENV.value)(ack=just_ack, lazy=[env_picked])
    app.action(Action.CONFIRM.value)(ack=just_ack, lazy=[_decision("confirm")])
    app.action(Action.APPROVE.value)(ack=just_ack, lazy=[_decision("approve")])
    app.action(Action.REJECT.value)(ack=just_ack, lazy=[_decision("reject")])
    app.action(Action.CANCEL.value)(ack=just_ack, lazy=[_decision("cancel")])
    app.action(Action.ROLLBACK.value)(ack=just_ack, lazy=[roll_back])
