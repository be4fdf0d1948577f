"""The product's flows: a request is checked, previewed, confirmed (or approved) and executed exactly once,
then handed to the follower. Handlers and the console call in here; nothing here knows Bolt."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bot import blocks
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import (
    ChainDeployment,
    ChainletEnvironmentInstanceTypeUpdate,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.commands import (
    Command,
    HelpCommand,
    HistoryCommand,
    InstanceTypeCommand,
    LockCommand,
    PromoteCommand,
    StatusCommand,
    UnlockCommand,
    UsageError,
    parse,
)
from bot.gateway import Gateway, NotInChannel, SlackFailure
from bot.planner import Planner, Refusal
from bot.plans import InstanceTypePlan, PromotePlan, describe, dump_plan, load_plan
from bot.policy import Policy, mention
from bot.store import (
    AuditEvent,
    Confirmation,
    ConfirmationState,
    EnvironmentLock,
    Rollout,
    RolloutState,
    Store,
)

log = logging.getLogger(__name__)

AnyPlan = PromotePlan | InstanceTypePlan
# How long an unconfirmed write may take before a restarted bot resolves its rollout from the environment.
WRITE_GRACE = 60.0
# Events that make up a change's story in history.
OUTCOME_EVENTS = (
    "executed",
    "failed",
    "cancelled",
    "rejected",
    "expired",
    "succeeded",
    "rollout_failed",
    "timed_out",
    "refused",
)


@dataclass(frozen=True)
class Invocation:
    """Who asked, from where, and how to answer them privately."""

    user: str
    channel: str
    response_url: str | None = None
    trigger_id: str | None = None


@dataclass(frozen=True)
class Timing:
    confirmation_ttl: float = 900.0
    poll_interval: float = 5.0
    rollback_window: float = 3600.0


class Operations:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        planner: Planner,
        gateway: Gateway,
        policy: Policy,
        timing: Timing,
        audit_channel: str | None = None,
        clock: Callable[[], float] = time.time,
        open_modal: Callable[[Command, Invocation], None] | None = None,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.planner = planner
        self.gateway = gateway
        self.policy = policy
        self.timing = timing
        self.audit_channel = audit_channel
        self.clock = clock
        self.open_modal = open_modal

    # -- answering --------------------------------------------------------------------------------------

    def tell(self, inv: Invocation, text: str, block_list: blocks.Blocks | None = None) -> None:
        """A private answer to whoever acted; never posted in the channel."""
        if inv.response_url:
            try:
                self.gateway.respond(inv.response_url, text, block_list)
            except Exception:  # an answer that cannot be delivered must not crash the flow
                log.exception("could not answer %s privately", inv.user)

    def _audit(
        self,
        event: str,
        actor: str,
        *,
        plan: AnyPlan | None = None,
        request_id: str | None = None,
        **extra: str | None,
    ) -> None:
        self.store.audit(
            AuditEvent(
                at=self.clock(),
                event=event,
                actor=actor,
                kind=plan.kind if plan else str(extra.pop("kind", "") or ""),
                chain_name=plan.chain_name if plan else str(extra.pop("chain_name", "") or ""),
                env=plan.env if plan else str(extra.pop("env", "") or ""),
                summary=describe(plan) if plan else str(extra.pop("summary", "") or ""),
                confirmation_id=request_id,
                approver=extra.get("approver"),
                channel=extra.get("channel"),
                thread_ts=extra.get("thread_ts"),
            )
        )

    # -- commands ---------------------------------------------------------------------------------------

    def run_command(self, text: str, inv: Invocation) -> None:
        try:
            command = parse(text)
        except UsageError as exc:
            self.tell(inv, str(exc))
            return
        try:
            self._dispatch(command, inv)
        except Refusal as exc:
            self.tell(inv, str(exc))
        except BasetenError as exc:
            self.tell(inv, f":warning: {exc.message}")
        except Exception:
            log.exception("command failed")
            self.tell(
                inv, ":warning: Something went wrong on my side; nothing was changed. Try again in a moment."
            )

    def _dispatch(self, command: Command, inv: Invocation) -> None:
        if isinstance(command, HelpCommand):
            self.tell(inv, "chainops commands", blocks.help_blocks())
        elif isinstance(command, StatusCommand):
            self.status(command, inv)
        elif isinstance(command, PromoteCommand):
            self.check_request(inv, command.env, force=command.force, chain=command.chain)
            self.request(self.planner.plan_promote(command), inv)
        elif isinstance(command, InstanceTypeCommand):
            self.check_request(inv, command.env, force=command.force, chain=command.chain)
            self.request(self.planner.plan_instance_types(command), inv)
        elif isinstance(command, HistoryCommand):
            self.history(command, inv)
        elif isinstance(command, LockCommand):
            self.lock(command, inv)
        elif isinstance(command, UnlockCommand):
            self.unlock(command, inv)
        elif self.open_modal is not None:
            self.open_modal(command, inv)
        else:
            self.tell(inv, "Forms are not available here; type the full command (see `/chain help`).")

    def status(self, command: StatusCommand, inv: Invocation) -> None:
        chain = self.planner.chain(command.chain)
        names = (
            [self.planner.environment(chain, command.env).name]
            if command.env
            else self.baseten.list_environment_names(chain.id)
        )
        block_list: blocks.Blocks = []
        for name in names[:6]:
            env = self.baseten.get_environment(chain.id, name)
            lock = self.store.lock(chain.name, name)
            lock_line = (
                f":lock: Locked by <@{lock.locked_by}> since {blocks.when(lock.locked_at)}: {lock.reason or 'no reason given'}"
                if lock
                else None
            )
            block_list.extend(blocks.status_message(chain.name, name, env.current_deployment, lock_line))
        if not names:
            block_list.append(blocks.section(f"{chain.name} has no environments."))
        self.tell(inv, f"Status of {chain.name}", block_list[:50])

    # -- requests ---------------------------------------------------------------------------------------

    def check_request(self, inv: Invocation, env: str, *, force: bool, chain: str) -> None:
        decision = self.policy.may_request(inv.user, inv.channel, env)
        if not decision.allowed:
            self._audit("refused", inv.user, chain_name=chain, env=env, summary=decision.reason)
            raise Refusal(decision.reason, field="env")
        chain_name = self.planner.chain(chain).name
        lock = self.store.lock(chain_name, env)
        if lock is None:
            return
        if not force:
            raise Refusal(
                f":lock: {chain_name}/{env} is locked by <@{lock.locked_by}> since {blocks.when(lock.locked_at)}: "
                f"{lock.reason or 'no reason given'}. Add `--force` to override (recorded and announced).",
                field="env",
            )
        if not self.policy.may_force(inv.user, env):
            approvers = ", ".join(mention(a) for a in self.policy.approvers(env))
            raise Refusal(f"Only an approver of *{env}* may override its lock ({approvers}).", field="env")

    def request(self, plan: AnyPlan, inv: Invocation) -> None:
        """Offer a checked plan: approval in the channel, confirmation privately, or run it at once."""
        request_id = uuid.uuid4().hex
        self._audit("requested", inv.user, plan=plan, request_id=request_id, channel=inv.channel)
        approvers = self.policy.approvers(plan.env)
        if not approvers and not plan.destructive:
            self.execute(plan, requester=inv.user, channel=inv.channel, request_id=request_id, inv=inv)
            return
        now = self.clock()
        confirmation = Confirmation(
            id=request_id,
            kind=plan.kind,
            requester=inv.user,
            channel=inv.channel,
            chain_name=plan.chain_name,
            env=plan.env,
            plan_json=dump_plan(plan),
            needs_approval=bool(approvers),
            response_url=inv.response_url,
            created_at=now,
            expires_at=now + self.timing.confirmation_ttl,
            state=ConfirmationState.PENDING,
        )
        self.store.add_confirmation(confirmation)
        ttl_minutes = max(1, round(self.timing.confirmation_ttl / 60))
        warning = ":warning: Forced past an environment lock." if plan.force else None
        if approvers:
            who = ", ".join(mention(a) for a in approvers)
            block_list = blocks.approval_request(
                plan, request_id, requester=inv.user, approvers=who, ttl_minutes=ttl_minutes
            )
            try:
                ts = self.gateway.post(
                    inv.channel, f"<@{inv.user}> asks for approval: {describe(plan)}", block_list
                )
            except NotInChannel:
                self.store.finish_confirmation(request_id, ConfirmationState.FAILED, "bot not in channel")
                self.tell(inv, self._invite_hint(inv.channel))
                return
            self.store.set_confirmation_message(request_id, ts)
            self.tell(inv, f"Asked {who} to approve: {describe(plan)}.")
        else:
            self.tell(
                inv,
                f"Confirm: {describe(plan)}",
                blocks.preview(plan, request_id, ttl_minutes=ttl_minutes, warning=warning),
            )

    @staticmethod
    def _invite_hint(channel: str) -> str:
        return f"I'm not a member of <#{channel}>, so I can't post there. Invite me with `/invite @chainops` and run the command again."

    # -- decisions --------------------------------------------------------------------------------------

    def decide(self, confirmation_id: str, decision: str, inv: Invocation) -> None:
        """A button press: confirm, approve, reject or cancel."""
        confirmation = self.store.confirmation(confirmation_id)
        if confirmation is None:
            self.tell(inv, "I don't know that request any more. Run the command again.")
            return
        plan = load_plan(confirmation.plan_json)
        requester = confirmation.requester
        if decision == "cancel" and inv.user != requester:
            self.tell(inv, f"Only <@{requester}> can cancel this request.")
            return
        if decision == "confirm" and (inv.user != requester or confirmation.needs_approval):
            self.tell(inv, f"Only <@{requester}> can confirm this request.")
            return
        if decision in ("approve", "reject"):
            if inv.user == requester:
                self.tell(inv, "You can't approve or reject your own request; another approver must decide.")
                return
            if not self.policy.may_approve(inv.user, plan.env):
                approvers = ", ".join(mention(a) for a in self.policy.approvers(plan.env))
                self.tell(inv, f"You are not an approver for *{plan.env}*. Approvers: {approvers}.")
                return
        now = self.clock()
        if confirmation.state != ConfirmationState.PENDING:
            self.tell(inv, f"This request was already {_past(confirmation.state)}.")
            return
        if confirmation.expires_at <= now:
            self.expire(confirmation, via=inv.response_url)
            self.tell(inv, "This preview expired. Run the command again to get a fresh one.")
            return
        if decision in ("cancel", "reject"):
            state = ConfirmationState.CANCELLED if decision == "cancel" else ConfirmationState.REJECTED
            if self.store.close_pending(confirmation_id, state, now=now, by=inv.user):
                self._audit(state.value, inv.user, plan=plan, request_id=confirmation_id)
                outcome = f":no_entry_sign: {_past(state).capitalize()} by <@{inv.user}>."
                self._close_preview(confirmation, plan, outcome=outcome, via=inv.response_url)
            else:
                self.tell(inv, "This request was already decided.")
            return
        approver = inv.user if decision == "approve" else None
        if not self.store.claim_confirmation(confirmation_id, now=now, approver=approver):
            latest = self.store.confirmation(confirmation_id)
            self.tell(inv, f"This request was already {_past(latest.state if latest else 'executing')}.")
            return
        self._audit("approved" if approver else "confirmed", inv.user, plan=plan, request_id=confirmation_id)
        try:
            current = self.baseten.get_environment(plan.chain_id, plan.env).current_deployment
        except BasetenError as exc:
            self.store.finish_confirmation(confirmation_id, ConfirmationState.FAILED, exc.message)
            self._close_preview(
                confirmation, plan, via=inv.response_url, outcome=f":warning: Not executed: {exc.message}"
            )
            return
        if (current.id if current else None) != plan.previous_deployment_id:
            outcome = f"{plan.chain_name}/{plan.env} changed since the preview, run the command again."
            self.store.finish_confirmation(confirmation_id, ConfirmationState.FAILED, outcome)
            self._audit("failed", inv.user, plan=plan, request_id=confirmation_id)
            self._close_preview(
                confirmation, plan, via=inv.response_url, outcome=f":warning: Not executed: {outcome}"
            )
            self.tell(inv, outcome)
            return
        verb = f"Approved by <@{approver}>" if approver else "Confirmed"
        self._close_preview(
            confirmation,
            plan,
            via=inv.response_url,
            outcome=f":white_check_mark: {verb}; follow it in the thread.",
        )
        self.execute(
            plan,
            requester=requester,
            channel=confirmation.channel,
            request_id=confirmation_id,
            inv=Invocation(requester, confirmation.channel, confirmation.response_url),
            approver=approver,
        )

    def _close_preview(
        self, confirmation: Confirmation, plan: AnyPlan, *, outcome: str, via: str | None = None
    ) -> None:
        """Take the buttons off a preview and say what happened to it.

        An approval request is a channel message; a private preview is replaced through the clicked
        button's response_url, or the command's when nobody clicked (expiry)."""
        block_list = blocks.closed(plan, outcome)
        try:
            if confirmation.message_ts:
                self.gateway.update(confirmation.channel, confirmation.message_ts, outcome, block_list)
            elif via or confirmation.response_url:
                self.gateway.respond(
                    via or confirmation.response_url or "", outcome, block_list, replace_original=True
                )
        except (SlackFailure, NotInChannel):
            log.warning("could not update preview %s", confirmation.id)

    def expire(self, confirmation: Confirmation, *, via: str | None = None) -> None:
        if self.store.close_pending(confirmation.id, ConfirmationState.EXPIRED, now=self.clock()):
            plan = load_plan(confirmation.plan_json)
            self._audit("expired", confirmation.requester, plan=plan, request_id=confirmation.id)
            outcome = ":hourglass: Expired without a decision. Run the command again if it is still needed."
            self._close_preview(confirmation, plan, outcome=outcome, via=via)

    def expire_due(self) -> None:
        for confirmation in self.store.due_expiries(now=self.clock()):
            self.expire(confirmation)

    # -- execution --------------------------------------------------------------------------------------

    def execute(
        self,
        plan: AnyPlan,
        *,
        requester: str,
        channel: str,
        request_id: str,
        inv: Invocation,
        approver: str | None = None,
    ) -> None:
        headline = self._headline(plan, requester, approver)
        try:
            parent_ts = self.gateway.post(channel, headline, [blocks.section(headline)])
        except NotInChannel:
            self.store.finish_confirmation(request_id, ConfirmationState.FAILED, "bot not in channel")
            self._audit("failed", requester, plan=plan, request_id=request_id, summary="bot not in channel")
            self.tell(inv, self._invite_hint(channel))
            return
        # The rollout is recorded before Baseten is called: if the bot dies right after the write, a
        # restarted bot still finds it (and resolves the deployment from the environment) after a grace.
        rollout = self._record_rollout(plan, request_id, requester, approver, channel, parent_ts, headline)
        try:
            deployment = self._write(plan)
        except BasetenError as exc:
            self.store.update_rollout(rollout.id, state=RolloutState.FAILED, finished_at=self.clock())
            self.store.finish_confirmation(request_id, ConfirmationState.FAILED, exc.message)
            self._audit(
                "failed", requester, plan=plan, request_id=request_id, channel=channel, thread_ts=parent_ts
            )
            failed = [
                blocks.section(headline),
                blocks.context(":red_circle: Failed: Baseten refused the change."),
            ]
            self.gateway.update(channel, parent_ts, headline, failed)
            reply = f":red_circle: <@{requester}> {exc.message}"
            self.gateway.post(channel, reply, [blocks.section(reply)], thread_ts=parent_ts)
            return
        if deployment is None:
            self.store.update_rollout(rollout.id, state=RolloutState.SUCCEEDED, finished_at=self.clock())
        else:
            self.store.update_rollout(rollout.id, deployment_id=deployment.id, next_poll_at=self.clock())
        self.store.finish_confirmation(request_id, ConfirmationState.EXECUTED, "executed")
        self._audit(
            "executed",
            requester,
            plan=plan,
            request_id=request_id,
            approver=approver,
            channel=channel,
            thread_ts=parent_ts,
        )
        if plan.force:
            self._audit(
                "forced", requester, plan=plan, request_id=request_id, channel=channel, thread_ts=parent_ts
            )
        self._announce(plan, headline, channel, parent_ts)
        if deployment is None:
            note = ":large_green_circle: Applied; Baseten needed no new deployment."
            self.gateway.post(channel, note, [blocks.section(note)], thread_ts=parent_ts)
            self._audit("succeeded", requester, plan=plan, request_id=request_id)
            return
        requested = plan.deployment_id if isinstance(plan, PromotePlan) else None
        if requested and deployment.id != requested:
            note = f"Baseten is rolling out a new deployment `{deployment.id}` (a copy of `{requested}`)."
        else:
            note = f"Baseten accepted the change; following deployment `{deployment.id}`."
        self.gateway.post(
            channel, note, [blocks.section(note), *blocks.deployment_blocks(deployment)], thread_ts=parent_ts
        )

    def _record_rollout(
        self,
        plan: AnyPlan,
        request_id: str,
        requester: str,
        approver: str | None,
        channel: str,
        parent_ts: str,
        headline: str,
    ) -> Rollout:
        now = self.clock()
        rollout = Rollout(
            id=uuid.uuid4().hex,
            kind=plan.kind,
            request_id=request_id,
            state=RolloutState.FOLLOWING,
            chain_id=plan.chain_id,
            chain_name=plan.chain_name,
            env=plan.env,
            # Empty until Baseten answers: the follower then resolves it from the environment.
            deployment_id="",
            previous_deployment_id=plan.previous_deployment_id,
            scale_down_previous=plan.scale_down_previous if isinstance(plan, PromotePlan) else True,
            channel=channel,
            parent_ts=parent_ts,
            requester=requester,
            approver=approver,
            headline=headline,
            last_status=None,
            last_chainlets_json="{}",
            started_at=now,
            next_poll_at=now + WRITE_GRACE,
            last_ok_at=now,
            lease_until=0.0,
        )
        self.store.add_rollout(rollout)
        return rollout

    def _write(self, plan: AnyPlan) -> ChainDeployment | None:
        if isinstance(plan, PromotePlan):
            body = PromoteToChainEnvironmentRequest(
                deployment_id=plan.deployment_id, scale_down_previous_deployment=plan.scale_down_previous
            )
            return self.baseten.promote(plan.chain_id, plan.env, body)
        updates = [
            ChainletEnvironmentInstanceTypeUpdate(chainlet_name=c.chainlet, instance_type_id=c.new.id)
            for c in plan.changes
        ]
        response = self.baseten.update_instance_types(
            plan.chain_id, plan.env, UpdateChainletEnvironmentInstanceTypeRequest(updates=updates)
        )
        return response.chain_deployment

    @staticmethod
    def _headline(plan: AnyPlan, requester: str, approver: str | None) -> str:
        if isinstance(plan, InstanceTypePlan):
            changes = ", ".join(f"{c.chainlet} → `{c.new.id}`" for c in plan.changes)
            text = (
                f"<@{requester}> is changing instance types of {plan.chain_name} in *{plan.env}*: {changes}"
            )
        else:
            verb = "rolling back" if plan.kind == "rollback" else "promoting"
            text = f"<@{requester}> is {verb} {plan.chain_name} deployment `{plan.deployment_id}` to *{plan.env}*"
        if approver:
            text += f" (approved by <@{approver}>)"
        if plan.force:
            text += " :warning: forced past a lock"
        return text

    def _announce(self, plan: AnyPlan, headline: str, channel: str, ts: str) -> None:
        if not self.audit_channel or self.audit_channel == channel:
            return
        link = self.gateway.permalink(channel, ts)
        text = f"{headline} in <#{channel}>" + (f" · <{link}|thread>" if link else "")
        try:
            self.gateway.post(self.audit_channel, text, [blocks.section(text)])
        except (NotInChannel, SlackFailure):
            log.warning("could not announce in the audit channel")

    # -- history and locks ------------------------------------------------------------------------------

    def history(self, command: HistoryCommand, inv: Invocation) -> None:
        chain_name = self.planner.chain(command.chain).name if command.chain else None
        requests = self.store.history(
            chain_name=chain_name, env=command.env, events=("requested",), limit=command.limit
        )
        if not requests:
            self.tell(inv, "No changes recorded yet" + (f" for {chain_name}" if chain_name else "") + ".")
            return
        lines = []
        for req in requests:
            events = self.store.events_for(req.confirmation_id) if req.confirmation_id else []
            outcomes = [e for e in events if e.event in OUTCOME_EVENTS]
            outcome = outcomes[-1].event.replace("_", " ") if outcomes else "pending"
            approver = next((e.actor for e in events if e.event == "approved"), None)
            forced = any(e.event == "forced" for e in events)
            line = f"{blocks.when(req.at)} · <@{req.actor}> · {req.summary} · *{outcome}*"
            if approver:
                line += f" · approved by <@{approver}>"
            if forced:
                line += " · forced past lock"
            if req.kind == "rollback":
                line += " · rollback"
            lines.append(line)
        title = (
            "Recent changes"
            + (f" to {chain_name}" if chain_name else "")
            + (f"/{command.env}" if command.env else "")
        )
        self.tell(inv, title, [blocks.header(title[:150]), blocks.section("\n".join(lines))])

    def lock(self, command: LockCommand, inv: Invocation) -> None:
        chain = self.planner.chain(command.chain)
        self.planner.environment(chain, command.env)
        decision = self.policy.may_request(inv.user, inv.channel, command.env)
        if not decision.allowed:
            raise Refusal(decision.reason)
        added = self.store.add_lock(
            EnvironmentLock(
                chain_name=chain.name,
                env=command.env,
                locked_by=inv.user,
                reason=command.reason,
                locked_at=self.clock(),
            )
        )
        if not added:
            lock = self.store.lock(chain.name, command.env)
            by = f" by <@{lock.locked_by}>" if lock else ""
            raise Refusal(f"{chain.name}/{command.env} is already locked{by}.")
        self._audit(
            "locked",
            inv.user,
            chain_name=chain.name,
            env=command.env,
            summary=f"lock {chain.name}/{command.env}: {command.reason}",
        )
        text = (
            f":lock: <@{inv.user}> locked {chain.name}/*{command.env}*: {command.reason or 'no reason given'}"
        )
        self._post_or_tell(inv, text)

    def unlock(self, command: UnlockCommand, inv: Invocation) -> None:
        chain = self.planner.chain(command.chain)
        decision = self.policy.may_request(inv.user, inv.channel, command.env)
        if not decision.allowed:
            raise Refusal(decision.reason)
        if not self.store.remove_lock(chain.name, command.env):
            raise Refusal(f"{chain.name}/{command.env} is not locked.")
        self._audit(
            "unlocked",
            inv.user,
            chain_name=chain.name,
            env=command.env,
            summary=f"unlock {chain.name}/{command.env}",
        )
        self._post_or_tell(inv, f":unlock: <@{inv.user}> unlocked {chain.name}/*{command.env}*")

    def _post_or_tell(self, inv: Invocation, text: str) -> None:
        try:
            self.gateway.post(inv.channel, text, [blocks.section(text)])
        except NotInChannel:
            self.tell(inv, text + "\n" + self._invite_hint(inv.channel))

    # -- rollback ---------------------------------------------------------------------------------------

    def rollback(self, rollout_id: str, inv: Invocation) -> None:
        rollout = self.store.rollout(rollout_id)
        if rollout is None or rollout.previous_deployment_id is None:
            self.tell(inv, "There is nothing to roll back to for that change.")
            return
        if rollout.finished_at is None or self.clock() - rollout.finished_at > self.timing.rollback_window:
            self.tell(
                inv,
                "The rollback window for that change has closed. Use `/chain promote` with the deployment id instead.",
            )
            return
        command = PromoteCommand(
            chain=rollout.chain_name, env=rollout.env, deployment_id=rollout.previous_deployment_id
        )
        try:
            self.check_request(inv, rollout.env, force=False, chain=rollout.chain_name)
            self.request(self.planner.plan_promote(command, kind="rollback"), inv)
        except Refusal as exc:
            self.tell(inv, str(exc))
        except BasetenError as exc:
            self.tell(inv, f":warning: {exc.message}")


_PAST = {
    ConfirmationState.EXECUTING: "being executed",
    ConfirmationState.EXECUTED: "executed",
    ConfirmationState.FAILED: "attempted and failed",
    ConfirmationState.CANCELLED: "cancelled",
    ConfirmationState.REJECTED: "rejected",
    ConfirmationState.EXPIRED: "expired",
    ConfirmationState.PENDING: "pending",
}


def _past(state: str) -> str:
    return _PAST.get(ConfirmationState(state), state) if state in set(ConfirmationState) else state
