"""The product's flows: a request is checked, previewed, confirmed (or approved) and executed exactly once,
then handed to the follower. Handlers and the console call in here; nothing here knows Bolt."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenUnavailable
from bot.baseten.models import ChainEnvironment
from bot.changes.execution import APPROVAL, PRIVATE, Execution, Later, approval_key
from bot.changes.planner import Planner, Refusal
from bot.changes.plans import ChainRef, ChangeKind, ChangePlan, Reverted
from bot.commands import registry as verbs
from bot.commands.parsing import ChangeCommand, Command, UsageError
from bot.governance.audit import AuditTrail
from bot.governance.locks import Locks
from bot.governance.policy import Policy, mentions
from bot.runtime import logs, metrics
from bot.runtime.repeated import RepeatedFailure
from bot.runtime.workpool import answered
from bot.slack import blocks
from bot.slack.gateway import Gateway, SlackFailure
from bot.slack.invocation import Invocation, invite_hint, tell
from bot.slack.markup import Mrkdwn, as_mrkdwn, md, readable, user
from bot.slack.outbox import Outbox
from bot.store import Confirmation, ConfirmationState, Store, StoreUnavailable
from bot.watch.subscriptions import Subscriptions

log = logging.getLogger(__name__)

CLAIM_UNKNOWN = Mrkdwn(
    ":warning: I lost my database just as you confirmed, so I can't tell whether your confirmation "
    "was recorded. If it was, the change is made once the database is back and its thread says so; "
    "if not, nothing was changed. Check `/chain status` in a minute before confirming again."
)
STORE_DOWN = (
    ":warning: I can't reach my database right now, so nothing was changed. Please try again in a minute."
)


NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")
# Slack accepts a response_url for 30 minutes; keep a margin for a slow sweep.
RESPONSE_URL_LIFETIME = 29 * 60.0
# How long a Confirm waits for Baseten to re-check that the preview is still current. Past this, the
# change goes ahead unchecked (the follower reports if the environment had changed): a person's click
# must reach Baseten within a second even when Baseten takes 20 s to answer every call, and the rest of
# that second is left for the queue and the database.
PREVIEW_CHECK_BUDGET = 0.5


@dataclass(frozen=True)
class Timing:
    confirmation_ttl: float = 900.0
    rollback_window: float = 3600.0


class Operations:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        planner: Planner,
        gateway: Gateway,
        outbox: Outbox,
        policy: Policy,
        timing: Timing,
        audit_channel: str | None = None,
        clock: Callable[[], float] = time.time,
        open_modal: Callable[[Command, Invocation], None] | None = None,
        owner: str = "",
        lease_seconds: float = 30.0,
        later: Later | None = None,
        watch_interval: float = 30.0,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.planner = planner
        self.gateway = gateway
        self.outbox = outbox
        self.policy = policy
        self.timing = timing
        self.clock = clock
        self.open_modal = open_modal
        self._store_failure = RepeatedFailure(log, "answering a request: the database")
        self.audit = AuditTrail(store, clock)
        self.locks = Locks(store, policy, self.audit, clock)
        self.watching = Subscriptions(
            store=store,
            baseten=baseten,
            planner=planner,
            policy=policy,
            gateway=gateway,
            outbox=outbox,
            audit=self.audit,
            interval=watch_interval,
            clock=clock,
        )
        self.plans = verbs.PLANS
        self.execution = Execution(
            store=store,
            plans=self.plans,
            baseten=baseten,
            gateway=gateway,
            outbox=outbox,
            audit=self.audit,
            clock=clock,
            audit_channel=audit_channel,
            instance_types=planner.catalog.instance_types_by_name,
            owner=owner,
            lease_seconds=lease_seconds,
            later=later,
        )

    # -- answering --------------------------------------------------------------------------------------

    def tell(self, inv: Invocation, text: str, block_list: blocks.Blocks | None = None) -> None:
        tell(self.gateway, inv, text, block_list)

    def refuse(self, inv: Invocation, text: str) -> None:
        """A request that cannot go ahead: said privately to whoever acted, and counted as refused."""
        metrics.outcome(metrics.REFUSED)
        self.tell(inv, text)

    @contextmanager
    def _answering(self, inv: Invocation) -> Iterator[None]:
        """Every way a request can end early becomes a short private answer to whoever acted."""
        try:
            yield
        except (Refusal, UsageError) as exc:
            self.refuse(inv, exc.text)
        except BasetenError as exc:
            metrics.outcome(metrics.ERROR)
            self.tell(inv, md(":warning: {}", exc.message))
        except StoreUnavailable as exc:
            self._store_failure.failed(exc)
            self.tell(inv, STORE_DOWN)
        except Exception:
            metrics.outcome(metrics.ERROR)
            log.exception("request failed")
            self.tell(
                inv,
                md(":warning: Something went wrong on my side. Check `/chain status` before trying again."),
            )

    # -- commands ---------------------------------------------------------------------------------------

    def run_command(self, parsed: verbs.Parsed, inv: Invocation) -> None:
        """A `/chain` command, read once where it arrived (`verbs.read`)."""
        with metrics.command(parsed.label), self._answering(inv):
            self._dispatch(parsed.checked(), inv)

    def _dispatch(self, command: Command, inv: Invocation) -> None:
        logs.annotate(chain=getattr(command, "chain", None), environment=getattr(command, "env", None))
        verb = verbs.of(command)
        if verb.form is not None and type(command) is verb.form:
            if self.open_modal is None:
                self.tell(inv, md("Forms are not available here; type the full command (see `/chain help`)."))
            else:
                self.open_modal(command, inv)
        elif verb.change is not None:
            assert isinstance(command, ChangeCommand)
            self.request(self.plan(command, verb.change, inv), inv)
        else:
            assert verb.answer is not None
            verb.answer(self, command, inv)

    # -- requests ---------------------------------------------------------------------------------------

    def may_request(self, inv: Invocation, env: str, *, chain: str = "") -> None:
        decision = self.policy.may_request(inv.user, inv.channel, env)
        if not decision.allowed:
            self.audit.record(
                "refused", inv.user, chain_name=chain, env=env, summary=readable(decision.reason)
            )
            raise Refusal(decision.reason, field="env")

    def plan(
        self,
        command: ChangeCommand,
        change: ChangeKind,
        inv: Invocation,
        *,
        environment: ChainEnvironment | None = None,
    ) -> ChangePlan:
        """A change request checked: policy and locks before anything is looked up in detail, then the
        change kind's own checks against Baseten. The chain is resolved and the environment read once
        (`environment`: already read, by a form)."""
        self.may_request(inv, command.env, chain=command.chain)
        chain = self.planner.chain(command.chain)
        self.locks.check(ChainRef.of(chain), command.env, user=inv.user, force=command.force)
        if environment is None:
            environment = self.planner.environment(chain, command.env)
        return change.check(self.planner, chain, environment, command)

    def request(self, plan: ChangePlan, inv: Invocation, *, preview: bool = False) -> None:
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
            expires_at=now + self.timing.confirmation_ttl,
            state=ConfirmationState.PENDING,
        )
        self.store.add_confirmation(confirmation)
        if approvers:
            who = mentions(approvers)
            block_list = blocks.approval_request(
                plan, request_id, requester=inv.user, approvers=who, ttl=self.timing.confirmation_ttl
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
                blocks.preview(plan, request_id, ttl=self.timing.confirmation_ttl, warning=warning),
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

    def decide(self, confirmation_id: str, decision: str, inv: Invocation) -> None:
        """A button press: confirm, approve, reject or cancel."""
        with metrics.command(decision), logs.bound(request_id=confirmation_id), self._answering(inv):
            self._decide(confirmation_id, decision, inv)

    def _decide(self, confirmation_id: str, decision: str, inv: Invocation) -> None:
        confirmation = self.store.confirmation(confirmation_id)
        if confirmation is None:
            self.refuse(inv, "I don't know that request any more. Run the command again.")
            return
        logs.annotate(chain=confirmation.chain_name, environment=confirmation.env)
        plan = self.plans.load(confirmation.plan_json)
        requester = confirmation.requester
        if decision == "cancel" and inv.user != requester:
            self.refuse(inv, md("Only {} can cancel this request.", user(requester)))
            return
        if decision == "confirm" and (inv.user != requester or confirmation.needs_approval):
            self.refuse(inv, md("Only {} can confirm this request.", user(requester)))
            return
        if decision in ("approve", "reject"):
            if inv.user == requester:
                self.refuse(
                    inv, "You can't approve or reject your own request; another approver must decide."
                )
                return
            if not self.policy.may_approve(inv.user, plan.env):
                approvers = mentions(self.policy.approvers(plan.env))
                self.refuse(inv, md("You are not an approver for *{}*. Approvers: {}.", plan.env, approvers))
                return
        now = self.clock()
        if confirmation.state != ConfirmationState.PENDING:
            self._decided_already(confirmation, plan, inv)
            return
        if confirmation.expires_at <= now:
            self.expire(confirmation, via=inv.response_url)
            self.refuse(inv, "This preview expired. Run the command again to get a fresh one.")
            return
        if decision in ("cancel", "reject"):
            state = ConfirmationState.CANCELLED if decision == "cancel" else ConfirmationState.REJECTED
            if self.store.close_pending(confirmation_id, state, now=now, by=inv.user):
                self.audit.record(state.value, inv.user, plan=plan, request_id=confirmation_id)
                outcome = md(":no_entry_sign: {} by {}.", _past(state).capitalize(), user(inv.user))
                self._close_preview(confirmation, plan, outcome=outcome, via=inv.response_url)
            else:
                self.refuse(inv, "This request was already decided.")
            return
        try:
            # A lock taken after the preview was shown still stops it (a forced plan was checked when asked).
            self.locks.check(plan.chain, plan.env, user=requester, force=plan.force)
        except Refusal as exc:
            self._not_run(confirmation, plan, inv, "locked", exc.text)
            return
        # Everything that may take a while or may refuse happens before the claim, so that once the
        # confirmation is claimed nothing stands between it and the Baseten write.
        if self.store.changed_since(plan.chain_id, plan.env, confirmation.created_at):
            self._changed_since_preview(confirmation, plan, inv)
            return
        unchecked = False
        try:
            current = self.baseten.get_environment(
                plan.chain_id, plan.env, within=PREVIEW_CHECK_BUDGET
            ).current_deployment
        except BasetenUnavailable as exc:
            if not exc.timed_out:
                self._not_run(confirmation, plan, inv, "Baseten could not be read", exc.message)
                return
            # Too slow to answer: the change goes ahead; the follower reports if the environment differed.
            log.warning("Baseten too slow to re-check the preview; writing without the check")
            unchecked = True
        except BasetenError as exc:
            self._not_run(confirmation, plan, inv, "Baseten could not be read", exc.message)
            return
        else:
            if (current.id if current else None) != plan.previous_deployment_id:
                self._changed_since_preview(confirmation, plan, inv)
                return
        approver = inv.user if decision == "approve" else None
        rollout, rows = self.execution.intent(
            plan,
            request_id=confirmation_id,
            requester=requester,
            channel=confirmation.channel,
            approver=approver,
            unchecked=unchecked,
            answer_url=inv.response_url,
            preview=APPROVAL if confirmation.needs_approval else PRIVATE,
        )
        event = self.audit.event(
            "approved" if approver else "confirmed", inv.user, plan=plan, request_id=confirmation_id
        )

        def claim() -> bool:
            return self.store.claim_with_intent(
                confirmation_id,
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
            self._store_failure.failed(exc)
            self.tell(inv, CLAIM_UNKNOWN)
            return
        if claimed:
            return
        latest = self.store.confirmation(confirmation_id)
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
        block_list = blocks.closed(plan, outcome)
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

    # -- rollback ---------------------------------------------------------------------------------------

    def rollback(self, rollout_id: str, inv: Invocation) -> None:
        with metrics.command("rollback"), logs.bound(rollout_id=rollout_id), self._answering(inv):
            self._rollback(rollout_id, inv)

    def _rollback(self, rollout_id: str, inv: Invocation) -> None:
        rollout = self.store.rollout(rollout_id)
        if rollout is None or rollout.previous_deployment_id is None:
            self.refuse(inv, "There is nothing to roll back to for that change.")
            return
        if rollout.finished_at is None or self.clock() - rollout.finished_at > self.timing.rollback_window:
            self.refuse(
                inv,
                md(
                    "The rollback window for that change has closed. Use `/chain promote` with the deployment id instead."
                ),
            )
            return
        kind = self.plans.kind(rollout.kind)
        revert = kind.revert if kind is not None else None
        command = (
            revert(rollout.kind, Reverted(rollout.chain_id, rollout.env, rollout.previous_deployment_id))
            if revert
            else None
        )
        undo = verbs.of(command).change if command is not None else None
        if command is None or undo is None:
            self.refuse(inv, "There is nothing to roll back to for that change.")
            return
        self.request(self.plan(command, undo, inv), inv)


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
