"""Offering a checked change: run at once when it needs neither approval nor confirmation, else a
private preview to confirm, or an approval request in the channel. The change kind says what the
preview shows; nothing here knows a particular verb."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bot.changes.execution import Execution, approval_key
from bot.changes.plans import ChangePlan, PlanCodec
from bot.governance.audit import AuditTrail
from bot.governance.locks import Locks
from bot.governance.policy import Policy, mentions
from bot.runtime import logs
from bot.slack import blocks, previews
from bot.slack.gateway import Gateway
from bot.slack.invocation import Invocation, invite_hint, tell
from bot.slack.markup import md, user
from bot.slack.outbox import Outbox
from bot.store import Confirmation, ConfirmationState, Store

# What Slack answers a post to a channel the bot cannot post in.
NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")


@dataclass(kw_only=True, eq=False)
class Offer:
    store: Store
    plans: PlanCodec
    gateway: Gateway
    outbox: Outbox
    policy: Policy
    audit: AuditTrail
    locks: Locks
    execution: Execution
    confirmation_ttl: float
    clock: Callable[[], float]

    def tell(self, inv: Invocation, text: str, block_list: blocks.Blocks | None = None) -> None:
        tell(self.gateway, inv, text, block_list)

    def __call__(self, plan: ChangePlan, inv: Invocation, *, preview: bool = False) -> None:
        """Offer a checked plan: approval in the channel, confirmation privately, or run it at once.
        `preview`: always confirm first (a form's submit button says Preview, so it never acts itself)."""
        request_id = uuid.uuid4().hex
        logs.annotate(request_id=request_id, chain=plan.chain_name, environment=plan.env)
        warning = None
        if plan.force:
            lock = self.store.lock(plan.chain_id, plan.chain_name, plan.env)
            if lock is None:
                # Nothing is overridden, so nothing is recorded or announced as an override.
                plan = plan.model_copy(update={"force": False})
                warning = md(
                    "`--force`: {}/{} is not locked; nothing to override.", plan.chain_name, plan.env
                )
            else:
                warning = md(
                    ":warning: Forcing past the lock on {}/{} {}.",
                    plan.chain_name,
                    plan.env,
                    self.locks.describe(lock),
                )
        self.audit.record("requested", inv.user, plan=plan, request_id=request_id, channel=inv.channel)
        approvers = self.policy.approvers(plan.env)
        if not approvers and not plan.destructive and not preview:
            self._run_at_once(plan, request_id, inv)
            return
        now = self.clock()
        confirmation = Confirmation(
            id=request_id,
            kind=plan.kind,
            requester=inv.user,
            channel=inv.channel,
            chain_name=plan.chain_name,
            env=plan.env,
            plan_json=self.plans.dump(plan),
            needs_approval=bool(approvers),
            response_url=inv.response_url,
            created_at=now,
            expires_at=now + self.confirmation_ttl,
            state=ConfirmationState.PENDING,
        )
        self.store.add_confirmation(confirmation)
        if approvers:
            who = mentions(approvers)
            block_list = previews.approval_request(
                plan, request_id, requester=inv.user, approvers=who, ttl=self.confirmation_ttl
            )
            key = self.outbox.post(
                inv.channel,
                md("{} asks for approval: {}", user(inv.user), plan.describe()),
                block_list,
                key=approval_key(request_id),
            )
            # The request is offered in the channel: a channel that refuses the bot refuses it here,
            # long before anything is approved (nothing waits for Slack between an approval and its write).
            if self.outbox.first_attempt(key) in NOT_IN_CHANNEL:
                self.store.close_pending(
                    request_id, ConfirmationState.NOT_RUN, now=now, outcome="bot not in channel"
                )
                self.tell(inv, invite_hint(inv.channel))
                return
            self.tell(inv, md("Asked {} to approve: {}.", who, plan.describe()))
        else:
            self.tell(
                inv,
                md("Confirm: {}", plan.describe()),
                previews.preview(plan, request_id, ttl=self.confirmation_ttl, warning=warning),
            )

    def _run_at_once(self, plan: ChangePlan, request_id: str, inv: Invocation) -> None:
        """A change that needs no confirmation: its intent is recorded and its write sent at once."""
        rollout, rows = self.execution.intent(
            plan, request_id=request_id, requester=inv.user, channel=inv.channel, answer_url=inv.response_url
        )

        def record() -> bool:
            self.store.add_intent(rollout, rows)
            return True

        self.execution.run(rollout, plan, record)
