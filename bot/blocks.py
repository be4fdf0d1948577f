"""Pure Block Kit builders: typed data in, blocks out. No Slack calls, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.audit import Change
from bot.baseten.models import ChainDeployment, Chainlet, DeploymentStatus, Phase
from bot.ids import Action
from bot.plans import InstanceTypePlan, PromotePlan

Blocks = list[dict[str, Any]]

EMOJI = {
    Phase.IN_PROGRESS: ":hourglass_flowing_sand:",
    Phase.LIVE: ":large_green_circle:",
    Phase.FAILED: ":red_circle:",
    Phase.OFF: ":white_circle:",
}
MAX_TEXT = 2900  # section text limit is 3000; leave room for markup


def emoji(status: DeploymentStatus) -> str:
    return EMOJI[status.phase]


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:MAX_TEXT]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text)}


def section(text: str, fields: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f[:1900]) for f in fields[:10]]
    return block


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def button(
    text: str, action: Action, value: str, *, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text),
        "action_id": action.value,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: str, yes: str, *, danger: bool = True) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": plain(title[:100]),
        "text": plain(text[:300]),
        "confirm": plain(yes[:30]),
        "deny": plain("Go back"),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def when(moment: datetime | float) -> str:
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- status -------------------------------------------------------------------------------------------


def chainlet_fields(chainlet: Chainlet) -> list[str]:
    scaling = chainlet.autoscaling_settings
    replicas = f"{scaling.min_replica}–{scaling.max_replica}" if scaling else "not set yet"
    return [
        f"*{chainlet.name}*\n{emoji(chainlet.status)} {chainlet.status.value}",
        f"*Instance type*\n{chainlet.instance_type_name}",
        f"*Active replicas*\n{chainlet.active_replica_count}",
        f"*Autoscaling*\n{replicas}",
    ]


def deployment_blocks(deployment: ChainDeployment) -> Blocks:
    """The chainlet status blocks: one section per chainlet (name, status, type, replicas, autoscaling)."""
    blocks: Blocks = []
    for chainlet in deployment.chainlets[:20]:
        fields = chainlet_fields(chainlet)
        blocks.append(section(fields[0], fields[1:]))
    return blocks


def status_message(
    chain_name: str, env: str, deployment: ChainDeployment | None, lock_line: str | None = None
) -> Blocks:
    blocks: Blocks = [header(f"{chain_name} · {env}")]
    if lock_line:
        blocks.append(context(lock_line))
    if deployment is None:
        blocks.append(section("_No deployment is live in this environment._"))
        return blocks
    blocks.append(
        section(
            f"{emoji(deployment.status)} Deployment `{deployment.id}` is *{deployment.status.value}* (created {when(deployment.created_at)})"
        )
    )
    blocks.extend(deployment_blocks(deployment))
    return blocks


# -- previews -----------------------------------------------------------------------------------------


def _instance_line(plan_change: Any) -> str:
    current = plan_change.current
    new = plan_change.new
    before = f"`{current.id}` ({current.summary})" if current else "_unknown_"
    return f"*{plan_change.chainlet}*: {before} → `{new.id}` ({new.summary})"


def _hourly(price_per_minute: float | None) -> str:
    return f"${price_per_minute * 60:,.2f}/h" if price_per_minute is not None else "price unknown"


def cost_lines(plan: InstanceTypePlan) -> list[str]:
    """Per replica-hour prices and the change in hourly cost at the environment's min and max replicas."""
    lines: list[str] = []
    delta_min = delta_max = 0.0
    known = True
    for change in plan.changes:
        before, after = change.current_price_per_minute, change.new_price_per_minute
        lines.append(f"{change.chainlet}: {_hourly(before)} → {_hourly(after)} per replica")
        if before is None or after is None or change.min_replica is None or change.max_replica is None:
            known = False
            continue
        delta_min += (after - before) * 60 * change.min_replica
        delta_max += (after - before) * 60 * change.max_replica
    if known:
        lines.append(
            f"Change in hourly cost: {_signed(delta_min)} at min replicas, {_signed(delta_max)} at max replicas"
        )
    else:
        lines.append("Change in hourly cost: unknown (a price or the autoscaling range is missing)")
    return lines


def _signed(dollars: float) -> str:
    sign = "+" if dollars >= 0 else "−"
    return f"{sign}${abs(dollars):,.2f}/h"


def plan_summary(plan: PromotePlan | InstanceTypePlan) -> Blocks:
    if isinstance(plan, InstanceTypePlan):
        lines = [_instance_line(c) for c in plan.changes]
        blocks: Blocks = [
            section(f"*Change instance types* in *{plan.chain_name}* · *{plan.env}*\n" + "\n".join(lines)),
            section("*Cost*\n" + "\n".join(cost_lines(plan))),
        ]
        if plan.previous_deployment_id:
            blocks.append(
                context(
                    f"Baseten builds a new deployment and promotes it; `{plan.previous_deployment_id}` may be scaled down."
                )
            )
        return blocks
    verb = "Roll back" if plan.kind == "rollback" else "Promote"
    going = (
        f"`{plan.deployment_id}` ({plan.deployment_status.value}, created {when(plan.deployment_created_at)})"
    )
    fields = [f"*Chain*\n{plan.chain_name}", f"*Environment*\n{plan.env}", f"*Going live*\n{going}"]
    if plan.previous_deployment_id:
        fate = "scaled down" if plan.scale_down_previous else "kept running"
        fields.append(f"*Will be {fate}*\n`{plan.previous_deployment_id}`")
    else:
        fields.append("*Currently live*\nnothing")
    return [section(f"*{verb}* {plan.chain_name} to *{plan.env}*", fields)]


def preview(
    plan: PromotePlan | InstanceTypePlan,
    confirmation_id: str,
    *,
    ttl_minutes: int,
    warning: str | None = None,
) -> Blocks:
    blocks = plan_summary(plan)
    if warning:
        blocks.append(context(warning))
    question = (
        "Scale the previous deployment down?" if isinstance(plan, PromotePlan) else "Rebuild and promote?"
    )
    blocks.append(context(f"Only you can confirm. This preview expires in {ttl_minutes} minutes."))
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
                        f"{question} This changes {plan.chain_name}/{plan.env} for everyone.",
                        "Yes, do it",
                    ),
                ),
                button("Cancel", Action.CANCEL, confirmation_id),
            ],
        }
    )
    return blocks


def approval_request(
    plan: PromotePlan | InstanceTypePlan,
    confirmation_id: str,
    *,
    requester: str,
    approvers: str,
    ttl_minutes: int,
) -> Blocks:
    blocks: Blocks = [section(f":raised_hand: <@{requester}> asks for approval:")]
    blocks.extend(plan_summary(plan))
    blocks.append(
        context(f"Approvers: {approvers}. The requester cannot approve. Expires in {ttl_minutes} minutes.")
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


def closed(plan: PromotePlan | InstanceTypePlan, outcome: str) -> Blocks:
    """A used, cancelled or expired preview: the same summary, no buttons, and what happened."""
    return [*plan_summary(plan), context(outcome)]


# -- rollouts -----------------------------------------------------------------------------------------


def rollout_parent(
    headline: str, deployment: ChainDeployment | None, *, seconds: float, state_line: str
) -> Blocks:
    blocks: Blocks = [section(headline)]
    if deployment is not None:
        blocks.append(
            context(
                f"{emoji(deployment.status)} `{deployment.id}` *{deployment.status.value}* · {state_line} · {elapsed(seconds)}"
            )
        )
        for chainlet in deployment.chainlets[:20]:
            blocks.append(
                context(
                    f"{emoji(chainlet.status)} *{chainlet.name}* {chainlet.status.value} · {chainlet.instance_type_name} · {chainlet.active_replica_count} active"
                )
            )
    else:
        blocks.append(context(f"{state_line} · {elapsed(seconds)}"))
    return blocks


def rollback_button(rollout_id: str, previous: str, chain_env: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "chainops_rollback",
        "elements": [
            button(
                f"Roll back to {previous}"[:75],
                Action.ROLLBACK,
                rollout_id,
                confirm=confirm_dialog(
                    "Roll back?",
                    f"Start a rollback of {chain_env} to {previous}. You will see a preview first.",
                    "Show preview",
                    danger=False,
                ),
            )
        ],
    }


def history(title: str, changes: list[Change]) -> Blocks:
    """`/chain history`: newest first, who asked, what, how it ended, who approved."""
    lines = []
    for c in changes:
        line = f"{when(c.at)} · <@{c.requester}> · {c.summary} · *{c.outcome}*"
        if c.approver:
            line += f" · approved by <@{c.approver}>"
        if c.forced:
            line += " · forced past lock"
        if c.rollback:
            line += " · rollback"
        lines.append(line)
    return [header(title), section("\n".join(lines))]


def help_blocks() -> Blocks:
    return [
        header("chainops: Baseten Chains from Slack"),
        section(
            "*/chain promote* `<chain> <env> <deployment_id> [--keep-previous]`\n"
            "   e.g. `/chain promote hello-chain production dep-hello-4` (no arguments opens a form)\n"
            "*/chain instance-type* `<chain> <env> <chainlet>=<instance_type> ...`\n"
            "   e.g. `/chain instance-type hello-chain staging RandInt=2x8`\n"
            "*/chain status* `<chain> [<env>]`\n   e.g. `/chain status hello-chain production`\n"
            "*/chain history* `[<chain>] [<env>]`\n   e.g. `/chain history hello-chain`\n"
            "*/chain lock* `<chain> <env> [reason]` · */chain unlock* `<chain> <env>`\n"
            "   e.g. `/chain lock hello-chain production launch freeze`"
        ),
        context(
            "Changes that scale a deployment down ask for confirmation first. Add `--force` to override a lock."
        ),
    ]
