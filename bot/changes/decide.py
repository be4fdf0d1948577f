"""Deciding on an offered change: confirm, approve, reject, cancel, or its expiry. Whoever may decide
decides once; everything that may take a while or refuse happens before the claim, and once a
confirmation is claimed nothing stands between it and the Baseten write (`Execution`). A preview is
closed saying what became of it; nothing here knows a particular verb.

Longer than most: each way a decision can end (refused, stale, expired, withdrawn, not run, claimed)
ends here with what its preview then says, so that every path is visible next to the others."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenUnavailable
from bot.changes.execution import APPROVAL, PRIVATE, Execution, approval_key
from bot.changes.planner import Refusal
from bot.changes.plans import ChangePlan, PlanCodec
from bot.governance.audit import AuditTrail
from bot.governance.locks import Locks
from bot.governance.policy import Policy, mentions
from bot.runtime import logs, metrics
from bot.runtime.repeated import RepeatedFailure
from bot.runtime.workpool import answered
from bot.slack import blocks, previews
from bot.slack.gateway import Gateway, SlackFailure
from bot.slack.invocation import Invocation, tell
from bot.slack.markup import Mrkdwn, as_mrkdwn, md, user
from bot.slack.outbox import Outbox
from bot.store import Confirmation, ConfirmationState, Store, StoreUnavailable

log = logging.getLogger(__name__)


class Recheck(Enum):
    """What re-reading the environment before the claim found, when the change may go ahead."""

    AS_PREVIEWED = "as previewed"
    TOO_SLOW = "Baseten too slow to tell"


CLAIM_UNKNOWN = Mrkdwn(
    ":warning: I lost my database just as you confirmed, so I can't tell whether your confirmation "
    "was recorded. If it was, the change is made once the database is back and its thread says so; "
    "if not, nothing was changed. Check `/chain status` in a minute before confirming again."
)
# Slack accepts a response_url for 30 minutes; keep a margin for a slow sweep.
RESPONSE_URL_LIFETIME = 29 * 60.0
# How long a Confirm waits for Baseten to re-check that the preview is still current. Past this, the
# change goes ahead unchecked (the follower reports if the environment had changed): a person's click
# must reach Baseten within a second even when Baseten takes 20 s to answer every call, and the rest of
# that second is left for the queue and the database.
PREVIEW_CHECK_BUDGET = 0.5


@dataclass(kw_only=True, eq=False)
class Decisions:
    store: Store
    plans: PlanCodec
    baseten: BasetenClient
    gateway: Gateway
    outbox: Outbox
    policy: Policy
    audit: AuditTrail
    locks: Locks
    execution: Execution
    store_failure: RepeatedFailure
    clock: Callable[[], float]

    def tell(self, inv: Invocation, text: str, block_list: blocks.Blocks | None = None) -> None:
        tell(self.gateway, inv, text, block_list)

    def refuse(self, inv: Invocation, text: str) -> None:
        """A decision that cannot go ahead: said privately to whoever acted, and counted as refused."""
        metrics.outcome(metrics.REFUSED)
        self.tell(inv, text)

    def __call__(self, confirmation_id: str, decision: str, inv: Invocation) -> None:
        """A button press on an offered change; a refusal (Refusal) is said privately by the caller."""
        confirmation = self.store.confirmation(confirmation_id)
        if confirmation is None:
            raise Refusal("I don't know that request any more. Run the command again.")
        logs.annotate(chain=confirmation.chain_name, environment=confirmation.env)
        plan = self.plans.load(confirmation.plan_json)
        self._may_decide(confirmation, plan, decision, inv)
        now = self.clock()
        if confirmation.state != ConfirmationState.PENDING:
            self._decided_already(confirmation, plan, inv)
        elif confirmation.expires_at <= now:
            self.expire(confirmation, via=inv.response_url)
            raise Refusal("This preview expired. Run the command again to get a fresh one.")
        elif decision in ("cancel", "reject"):
            self._withdraw(confirmation, plan, decision, inv, now)
        else:
            checked = self._still_as_previewed(confirmation, plan, inv)
            if checked is not None:
                self._go_ahead(confirmation, plan, decision, inv, now, unchecked=checked is Recheck.TOO_SLOW)

    def _may_decide(
        self, confirmation: Confirmation, plan: ChangePlan, decision: str, inv: Invocation
    ) -> None:
        """The requester confirms or cancels; another of the environment's approvers approves or rejects."""
        requester = confirmation.requester
        if decision == "cancel" and inv.user != requester:
            raise Refusal(md("Only {} can cancel this request.", user(requester)))
        if decision == "confirm" and (inv.user != requester or confirmation.needs_approval):
            raise Refusal(md("Only {} can confirm this request.", user(requester)))
        if decision in ("approve", "reject"):
            if inv.user == requester:
                raise Refusal("You can't approve or reject your own request; another approver must decide.")
            if not self.policy.may_approve(inv.user, plan.env):
                approvers = mentions(self.policy.approvers(plan.env))
                raise Refusal(md("You are not an approver for *{}*. Approvers: {}.", plan.env, approvers))

    def _withdraw(
        self, confirmation: Confirmation, plan: ChangePlan, decision: str, inv: Invocation, now: float
    ) -> None:
        """Cancelled by its requester or rejected by an approver: nothing is sent."""
        state = ConfirmationState.CANCELLED if decision == "cancel" else ConfirmationState.REJECTED
        if not self.store.close_pending(confirmation.id, state, now=now, by=inv.user):
            raise Refusal("This request was already decided.")
        self.audit.record(state.value, inv.user, plan=plan, request_id=confirmation.id)
        outcome = md(":no_entry_sign: {} by {}.", _past(state).capitalize(), user(inv.user))
        self._close_preview(confirmation, plan, outcome=outcome, via=inv.response_url)

    def _still_as_previewed(
        self, confirmation: Confirmation, plan: ChangePlan, inv: Invocation
    ) -> Recheck | None:
        """Whether the change may still go ahead as previewed: no lock taken since, no change to the
        environment since, and Baseten still showing what the preview showed live. None: it may not (and
        it was closed as not run).
        Everything that may take a while or may refuse happens here, before the claim, so that once the
        confirmation is claimed nothing stands between it and the Baseten write."""
        try:
            # A lock taken after the preview was shown still stops it (a forced plan was checked when asked).
            self.locks.check(plan.chain, plan.env, user=confirmation.requester, force=plan.force)
        except Refusal as exc:
            self._not_run(confirmation, plan, inv, "locked", exc.text)
            return None
        if self.store.changed_since(plan.chain_id, plan.env, confirmation.created_at):
            self._changed_since_preview(confirmation, plan, inv)
            return None
        try:
            current = self.baseten.get_environment(
                plan.chain_id, plan.env, within=PREVIEW_CHECK_BUDGET
            ).current_deployment
        except BasetenUnavailable as exc:
            if not exc.timed_out:
                self._not_run(confirmation, plan, inv, "Baseten could not be read", exc.message)
                return None
            # Too slow to answer: the change goes ahead; the follower reports if the environment differed.
            log.warning("Baseten too slow to re-check the preview; writing without the check")
            return Recheck.TOO_SLOW
        except BasetenError as exc:
            self._not_run(confirmation, plan, inv, "Baseten could not be read", exc.message)
            return None
        if (current.id if current else None) != plan.previous_deployment_id:
            self._changed_since_preview(confirmation, plan, inv)
            return None
        return Recheck.AS_PREVIEWED

    def _go_ahead(
        self,
        confirmation: Confirmation,
        plan: ChangePlan,
        decision: str,
        inv: Invocation,
        now: float,
        *,
        unchecked: bool,
    ) -> None:
        """Claim the confirmation with the change's intent in one transaction, and write at once."""
        approver = inv.user if decision == "approve" else None
        rollout, rows = self.execution.intent(
            plan,
            request_id=confirmation.id,
            requester=confirmation.requester,
            channel=confirmation.channel,
            approver=approver,
            unchecked=unchecked,
            answer_url=inv.response_url,
            preview=APPROVAL if confirmation.needs_approval else PRIVATE,
        )
        event = self.audit.event(
            "approved" if approver else "confirmed", inv.user, plan=plan, request_id=confirmation.id
        )

        def claim() -> bool:
            return self.store.claim_with_intent(
                confirmation.id,
                rollout,
                [event, *rows],
                now=now,
                since=confirmation.created_at,
                approver=approver,
            )

        try:
            claimed = self.execution.run(rollout, plan, claim)
        except StoreUnavailable as exc:
            # The commit may or may not have reached the database: say both, truthfully.
            self.store_failure.failed(exc)
            self.tell(inv, CLAIM_UNKNOWN)
            return
        if claimed:
            return
        latest = self.store.confirmation(confirmation.id)
        if latest is not None and latest.state == ConfirmationState.PENDING:
            # Not claimed and still pending: a change to the environment was started since the preview.
            self._changed_since_preview(confirmation, plan, inv)
        elif latest is not None:
            self._decided_already(latest, plan, inv)

    def _decided_already(self, confirmation: Confirmation, plan: ChangePlan, inv: Invocation) -> None:
        """A click on a request that is no longer pending: say what really became of it."""
        state = ConfirmationState(confirmation.state)
        metrics.outcome(metrics.REFUSED)
        if state is ConfirmationState.EXECUTING:
            # Its own click closes the preview once Baseten answers; this one only says where it stands.
            self.tell(inv, "This change is being made right now; its outcome is posted in the thread.")
            return
        text = _stale_outcome(confirmation)
        if not confirmation.needs_approval and inv.response_url:
            # A stale private preview: close it through this click (only a click can replace it).
            self._close_preview(confirmation, plan, outcome=text, via=inv.response_url)
        else:
            self.tell(inv, text)

    def _not_run(
        self, confirmation: Confirmation, plan: ChangePlan, inv: Invocation, reason: str, why: str
    ) -> None:
        """Baseten was never asked to make the change: its own outcome, said once, recorded as such."""
        metrics.outcome(metrics.REFUSED)
        outcome = md("Not run: {}", as_mrkdwn(why))
        if not self.store.close_pending(
            confirmation.id, ConfirmationState.NOT_RUN, now=self.clock(), by=inv.user, outcome=outcome
        ):
            latest = self.store.confirmation(confirmation.id)
            if latest is not None:
                self._decided_already(latest, plan, inv)
            return
        self.audit.record("not_run", inv.user, plan=plan, request_id=confirmation.id, summary=reason)
        text = md(":no_entry_sign: {}", outcome)
        if confirmation.needs_approval or inv.response_url:
            # Said once: on the preview (or the approval request) itself.
            self._close_preview(confirmation, plan, via=inv.response_url, outcome=text)
        else:
            self.tell(inv, text)

    def _changed_since_preview(self, confirmation: Confirmation, plan: ChangePlan, inv: Invocation) -> None:
        why = md("{}/{} changed since the preview, run the command again.", plan.chain_name, plan.env)
        self._not_run(confirmation, plan, inv, "changed since the preview", why)

    def _close_preview(
        self, confirmation: Confirmation, plan: ChangePlan, *, outcome: str, via: str | None = None
    ) -> None:
        """Take the buttons off a preview and say what happened to it (never before a Baseten write).

        An approval request is a channel message, updated for everyone. A private preview can only be
        replaced through a click's response_url (`via`): a slash command's response_url cannot replace
        the message it answered with, so without a click the preview keeps its buttons, and they are
        answered (and the preview closed) when clicked."""
        block_list = previews.closed(plan, outcome)
        outcome = as_mrkdwn(outcome)
        if not answered():
            return
        if confirmation.needs_approval:
            key = approval_key(confirmation.id)
            if confirmation.message_ts:  # asked before the outbox existed
                self.outbox.adopt(key, confirmation.channel, confirmation.message_ts)
            self.outbox.update(key, outcome, block_list)
            return
        try:
            if via:
                self.gateway.respond(via, outcome, block_list, replace_original=True)
        except SlackFailure:
            log.warning("could not update preview %s", confirmation.id)

    def expire(self, confirmation: Confirmation, *, via: str | None = None) -> None:
        if not self.store.close_pending(confirmation.id, ConfirmationState.EXPIRED, now=self.clock()):
            return
        plan = self.plans.load(confirmation.plan_json)
        self.audit.record("expired", confirmation.requester, plan=plan, request_id=confirmation.id)
        outcome = ":hourglass: Expired without a decision. Run the command again if it is still needed."
        if confirmation.needs_approval or via:
            self._close_preview(confirmation, plan, outcome=outcome, via=via)
            return
        # Nobody clicked a private preview: say so in a new private message while the command's
        # response_url still works (Slack allows it for 30 minutes).
        url = confirmation.response_url
        if url and self.clock() - confirmation.created_at < RESPONSE_URL_LIFETIME:
            note = md(
                ":hourglass: Your preview expired without a decision: {}. Its buttons no longer do anything; run the command again if it is still needed.",
                plan.describe(),
            )
            try:
                self.gateway.respond(url, note)
            except SlackFailure:
                log.warning("could not say that preview %s expired", confirmation.id)

    def expire_due(self) -> None:
        for confirmation in self.store.due_expiries(now=self.clock()):
            self.expire(confirmation)


_PAST = {
    ConfirmationState.EXECUTING: "being executed",
    ConfirmationState.EXECUTED: "executed",
    ConfirmationState.FAILED: "attempted and failed",
    ConfirmationState.NOT_RUN: "not run",
    ConfirmationState.CANCELLED: "cancelled",
    ConfirmationState.REJECTED: "rejected",
    ConfirmationState.EXPIRED: "expired",
    ConfirmationState.PENDING: "pending",
}


def _stale_outcome(confirmation: Confirmation) -> str:
    state = ConfirmationState(confirmation.state)
    if state is ConfirmationState.EXPIRED:
        return ":hourglass: This preview expired. Run the command again to get a fresh one."
    if state is ConfirmationState.NOT_RUN and confirmation.outcome:
        return md(":no_entry_sign: {}", Mrkdwn(confirmation.outcome))  # stored as sent
    if state is ConfirmationState.EXECUTED:
        return ":white_check_mark: This change was already made; its thread has the details."
    return f"This request was already {_past(state)}."


def _past(state: str) -> str:
    return _PAST.get(ConfirmationState(state), state) if state in set(ConfirmationState) else state
