"""Runs a confirmed plan exactly once: the channel message (queued in the outbox), the rollout record, the
Baseten write, and the first reply in the thread. The follower takes it from there, and also settles a
write whose answer never arrived."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from bot import blocks, logs, markup, metrics
from bot.audit import AuditTrail
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenRateLimited, BasetenUnavailable
from bot.baseten.models import (
    ChainDeployment,
    ChainletEnvironmentInstanceTypeUpdate,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.gateway import Gateway
from bot.invocation import Invocation, invite_hint, tell
from bot.markup import Mrkdwn, md, user
from bot.outbox import Outbox
from bot.plans import ChainRef, InstanceTypePlan, PromotePlan, describe, load_plan
from bot.store import ConfirmationState, Rollout, RolloutState, Store, chainlet_statuses_json

log = logging.getLogger(__name__)

AnyPlan = PromotePlan | InstanceTypePlan
# How long an unconfirmed write may take before a restarted bot resolves its rollout from the environment.
WRITE_GRACE = 60.0
HEADLINE_CHANGES = 10  # chainlet changes named in a rollout's headline; the preview lists them all
NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")
UNCHECKED = Mrkdwn(
    ":hourglass: Baseten was too slow to re-check the environment before the change; "
    "I'll report here if it had changed meanwhile."
)


class Execution:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        gateway: Gateway,
        outbox: Outbox,
        audit: AuditTrail,
        clock: Callable[[], float],
        audit_channel: str | None,
        instance_types: Callable[[], blocks.Hardware] = dict,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.gateway = gateway
        self.outbox = outbox
        self.audit = audit
        self.clock = clock
        self.audit_channel = audit_channel
        self.instance_types = instance_types  # to show chainlets' instance types by id

    def run(
        self,
        plan: AnyPlan,
        *,
        requester: str,
        channel: str,
        request_id: str,
        inv: Invocation,
        approver: str | None = None,
        unchecked: bool = False,
    ) -> None:
        """`unchecked`: Baseten was too slow to re-check the preview; the thread says so."""
        headline = self._headline(plan, requester, approver)
        parent = self.outbox.post(
            channel,
            headline,
            [blocks.section(headline)],
            key=parent_key(request_id),
            notify_user=requester,
            notify_about=requester_note(plan),
        )
        # One quick try, so a channel the bot is not in refuses before anything changes. Any other
        # Slack trouble does not hold the change: the outbox delivers the thread when Slack is back.
        if self.outbox.first_attempt(parent) in NOT_IN_CHANNEL:
            self.store.finish_confirmation(request_id, ConfirmationState.FAILED, "bot not in channel")
            self.audit.record(
                "failed", requester, plan=plan, request_id=request_id, summary="bot not in channel"
            )
            tell(self.gateway, inv, invite_hint(channel))
            return
        # The rollout is recorded before Baseten is called: if the bot dies right after the write, a
        # restarted bot still finds it (and resolves the deployment from the environment) after a grace.
        rollout = self._record_rollout(
            plan, request_id, requester, approver, channel, parent, headline, unchecked=unchecked
        )
        if unchecked:
            self.outbox.post(channel, UNCHECKED, [blocks.section(UNCHECKED)], thread=parent)
        logs.annotate(
            request_id=request_id, rollout_id=rollout.id, chain=plan.chain_name, environment=plan.env
        )
        metrics.baseten_write_starting()
        try:
            deployment = self._write(plan)
        except BasetenError as exc:
            if unanswered(exc):
                log.warning(
                    "no answer from Baseten to the change (%s); checking the environment", exc.message
                )
                self._unanswered(rollout, headline)
                return
            log.warning("Baseten refused the change: %s", exc.message)
            metrics.rollout_finished("refused_by_baseten")
            self._refused(plan, rollout, exc, requester=requester, request_id=request_id)
            return
        if deployment is None:
            log.info("Baseten applied the change without a new deployment")
            metrics.rollout_finished("succeeded")
            self.store.update_rollout(rollout.id, state=RolloutState.SUCCEEDED, finished_at=self.clock())
        else:
            log.info("Baseten accepted the change; following deployment %s", deployment.id)
            # Start from what Baseten just answered, so the first poll reports changes, not the start.
            self.store.update_rollout(
                rollout.id,
                deployment_id=deployment.id,
                next_poll_at=self.clock(),
                last_status=deployment.status.value,
                last_chainlets_json=chainlet_statuses_json(deployment),
            )
        self.executed(rollout, plan)
        if deployment is None:
            note = Mrkdwn(":large_green_circle: Applied; Baseten needed no new deployment.")
            self.outbox.post(channel, note, [blocks.section(note)], thread=parent)
            self.audit.record("succeeded", requester, plan=plan, request_id=request_id)
            return
        requested = plan.deployment_id if isinstance(plan, PromotePlan) else None
        if requested and deployment.id != requested:
            note = md(
                "Baseten is rolling out a new deployment `{}` (a copy of `{}`).", deployment.id, requested
            )
        else:
            note = md("Baseten accepted the change; following deployment `{}`.", deployment.id)
        reply = blocks.following(
            note, deployment, where=(plan.chain.word, plan.env), types=self.instance_types()
        )
        self.outbox.post(channel, note, reply, thread=parent)

    def executed(self, rollout: Rollout, plan: AnyPlan | None) -> None:
        """Baseten made the change: settle the confirmation, record it and announce it."""
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.EXECUTED, "executed")
        self._record_outcome("executed", rollout, plan, approver=rollout.approver)
        if plan is not None and plan.force:
            self.audit.record(
                "forced", rollout.requester, plan=plan, request_id=rollout.request_id, channel=rollout.channel
            )
        self._announce(rollout)

    def settle(self, rollout: Rollout, made: bool) -> None:
        """A write whose answer never came, resolved from the environment: made, or not made."""
        confirmation = self.store.confirmation(rollout.request_id) if rollout.request_id else None
        plan = load_plan(confirmation.plan_json) if confirmation is not None else None
        if made:
            self.executed(rollout, plan)
            return
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.FAILED, "not made")
        self._record_outcome("not_made", rollout, plan)

    def _record_outcome(self, event: str, rollout: Rollout, plan: AnyPlan | None, **extra: Any) -> None:
        """An outcome in the audit trail, described by the rollout (the plan may be gone after a restart)."""
        self.audit.record(
            event,
            rollout.requester,
            plan=plan,
            kind=rollout.kind,
            chain=ChainRef(rollout.chain_id, rollout.chain_name),
            env=rollout.env,
            request_id=rollout.request_id or None,
            channel=rollout.channel,
            **extra,
        )

    def _refused(
        self, plan: AnyPlan, rollout: Rollout, exc: BasetenError, *, requester: str, request_id: str
    ) -> None:
        """Baseten said no (or was never reached): nothing changed."""
        self.store.update_rollout(rollout.id, state=RolloutState.FAILED, finished_at=self.clock())
        self.store.finish_confirmation(request_id, ConfirmationState.FAILED, exc.message)
        self.audit.record("failed", requester, plan=plan, request_id=request_id, channel=rollout.channel)
        if isinstance(exc, BasetenRateLimited):
            verdict = "Baseten is rate limiting requests; nothing changed"
        elif isinstance(exc, BasetenUnavailable) and not exc.sent:
            verdict = "Baseten could not be reached; nothing changed"
        else:
            verdict = "Baseten refused the change"
        headline = Mrkdwn(rollout.headline)  # built as markup, stored as sent
        failed = [blocks.section(headline), blocks.context(md(":red_circle: Failed: {}.", verdict))]
        self.outbox.update(rollout.parent_key, headline, failed)
        reply = md(":red_circle: {} {}", user(requester), exc.message)
        self.outbox.post(rollout.channel, reply, [blocks.section(reply)], thread=rollout.parent_key)

    def _unanswered(self, rollout: Rollout, headline: Mrkdwn) -> None:
        """The write was sent but its answer never came: Baseten may well have made the change. Never
        send it again; the follower reads the environment at once and follows what it finds."""
        log.warning("no answer to the write of rollout %s; resolving it from the environment", rollout.id)
        self.store.update_rollout(rollout.id, next_poll_at=self.clock())
        checking = [
            blocks.section(headline),
            blocks.context(
                ":hourglass_flowing_sand: Baseten did not answer in time; checking whether it made the change."
            ),
        ]
        self.outbox.update(rollout.parent_key, headline, checking)
        text = "Baseten did not answer in time. I won't send the change again; I'm checking the environment to see whether Baseten made it."
        self.outbox.post(rollout.channel, text, [blocks.section(text)], thread=rollout.parent_key)

    def _record_rollout(
        self,
        plan: AnyPlan,
        request_id: str,
        requester: str,
        approver: str | None,
        channel: str,
        parent: str,
        headline: str,
        *,
        unchecked: bool,
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
            preview_unchecked=unchecked,
            scale_down_previous=plan.scale_down_previous if isinstance(plan, PromotePlan) else True,
            channel=channel,
            parent_key=parent,
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
    def _headline(plan: AnyPlan, requester: str, approver: str | None) -> Mrkdwn:
        if isinstance(plan, InstanceTypePlan):
            changes = [md("{} → `{}`", c.chainlet, c.new.id) for c in plan.changes]
            shown = Mrkdwn(", ").join(changes[:HEADLINE_CHANGES])
            if len(changes) > HEADLINE_CHANGES:
                shown += md(" …and {} more", len(changes) - HEADLINE_CHANGES)
            text = md(
                "{} is changing instance types of {} in *{}*: {}",
                user(requester),
                plan.chain_name,
                plan.env,
                shown,
            )
        else:
            template = (
                "{0} is rolling back {1}/*{2}* to `{3}`"
                if plan.kind == "rollback"
                else "{0} is promoting {1} deployment `{3}` to *{2}*"
            )
            text = md(template, user(requester), plan.chain_name, plan.env, plan.deployment_id)
        if approver:
            text += md(" (approved by {})", user(approver))
        if plan.force:
            text += " :warning: forced past a lock"
        return text

    def _announce(self, rollout: Rollout) -> None:
        if not self.audit_channel or self.audit_channel == rollout.channel:
            return
        text = md("{} in {}", Mrkdwn(rollout.headline), markup.channel(rollout.channel))
        self.outbox.post(self.audit_channel, text, [blocks.section(text)], link=rollout.parent_key)


def unanswered(exc: BasetenError) -> bool:
    """The write reached Baseten (or may have) but no answer came back: its outcome is unknown."""
    return isinstance(exc, BasetenUnavailable) and exc.sent and exc.status in (None, 504)


def requester_note(plan: AnyPlan) -> Mrkdwn:
    """Which change, for the requester's DM when its channel stops hearing about it."""
    return md(
        "Your change: {}. Check `/chain status {} {}` to see where it stands.",
        describe(plan),
        plan.chain.word,
        plan.env,
    )


def parent_key(request_id: str) -> str:
    """The outbox key of a change's channel message, whose thread follows the rollout."""
    return f"change:{request_id}"
