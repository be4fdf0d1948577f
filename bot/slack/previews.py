"""Pure Block Kit builders of a change's preview, its approval request, and either once decided: the
change kind's summary (`ChangePlan.summary`) with the buttons that decide it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack.blocks import Blocks, button, confirm_dialog, context, section
from bot.slack.durations import duration
from bot.slack.ids import Action
from bot.slack.markup import Mrkdwn, md, user

if TYPE_CHECKING:
    from bot.changes.plans import ChangePlan


def chain_identity(plan: ChangePlan) -> Mrkdwn:
    """The chain by name, team and id: names are unique only within a team, so a preview says which."""
    if plan.chain_team:
        return md("{} (team {}, `{}`)", plan.chain_name, plan.chain_team, plan.chain_id)
    return md("{} (`{}`)", plan.chain_name, plan.chain_id)


def preview(
    plan: ChangePlan,
    confirmation_id: str,
    *,
    ttl: float,
    warning: str | None = None,
) -> Blocks:
    blocks = plan.summary()
    if warning:
        blocks.append(context(warning))
    blocks.append(context(f"Only you can confirm. This preview expires in {duration(ttl)}."))
    blocks.append(
        {
            "type": "actions",
            "block_id": "chainops_decision",
            "elements": [
                button(
                    "Confirm",
                    Action.CONFIRM,
                    confirmation_id,
                    style="danger",
                    confirm=confirm_dialog(
                        "Are you sure?",
                        f"{plan.question()} This changes {plan.chain_name}/{plan.env} for everyone.",
                        "Yes, do it",
                    ),
                ),
                button("Cancel", Action.CANCEL, confirmation_id),
            ],
        }
    )
    return blocks


def approval_request(
    plan: ChangePlan,
    confirmation_id: str,
    *,
    requester: str,
    approvers: Mrkdwn,
    ttl: float,
) -> Blocks:
    blocks: Blocks = [section(md(":raised_hand: {} asks for approval:", user(requester)))]
    blocks.extend(plan.summary())
    blocks.append(
        context(
            md(
                "Approvers: {}. The requester cannot approve. Expires in {}.",
                approvers,
                duration(ttl),
            )
        )
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": "chainops_decision",
            "elements": [
                button(
                    "Approve",
                    Action.APPROVE,
                    confirmation_id,
                    style="primary",
                    confirm=confirm_dialog(
                        "Approve this change?",
                        f"This changes {plan.chain_name}/{plan.env} for everyone.",
                        "Approve",
                        danger=False,
                    ),
                ),
                button("Reject", Action.REJECT, confirmation_id, style="danger"),
                button("Cancel", Action.CANCEL, confirmation_id),
            ],
        }
    )
    return blocks


def confirmed(verb: Mrkdwn, *, thread: Mrkdwn | None = None) -> Mrkdwn:
    """What a preview says once its change goes ahead; `thread` is the link to it, once known."""
    return md(":white_check_mark: {}; follow it in the {}.", verb, thread or "thread")


def closed(plan: ChangePlan, outcome: str) -> Blocks:
    """A used, cancelled or expired preview: the same summary, no buttons, and what happened."""
    return [*plan.summary(), context(outcome)]
