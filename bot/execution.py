"""Runs a confirmed plan exactly once: the channel message, the rollout record, the Baseten write, and the
first reply in the thread. The follower takes it from there."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from bot import blocks, logs, markup, metrics
from bot.audit import AuditTrail
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import (
    ChainDeployment,
    ChainletEnvironmentInstanceTypeUpdate,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.gateway import Gateway, NotInChannel, SlackFailure
from bot.invocation import Invocation, invite_hint, tell
from bot.markup import Mrkdwn, md, user
from bot.plans import InstanceTypePlan, PromotePlan
from bot.store import ConfirmationState, Rollout, RolloutState, Store, chainlet_statuses_json

log = logging.getLogger(__name__)

AnyPlan = PromotePlan | InstanceTypePlan
# How long an unconfirmed write may take before a restarted bot resolves its rollout from the environment.
WRITE_GRACE = 60.0
HEADLINE_CHANGES = 10  # chainlet changes named in a rollout's headline; the preview lists them all


class Execution:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        gateway: Gateway,
        audit: AuditTrail,
        clock: Callable[[], float],
        audit_channel: str | None,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.gateway = gateway
        self.audit = audit
        self.clock = clock
        self.audit_channel = audit_channel

    def run(
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
            self.audit.record(
                "failed", requester, plan=plan, request_id=request_id, summary="bot not in channel"
            )
            tell(self.gateway, inv, invite_hint(channel))
            return
        # The rollout is recorded before Baseten is called: if the bot dies right after the write, a
        # restarted bot still finds it (and resolves the deployment from the environment) after a grace.
        rollout = self._record_rollout(plan, request_id, requester, approver, channel, parent_ts, headline)
        logs.annotate(
            request_id=request_id, rollout_id=rollout.id, chain=plan.chain_name, environment=plan.env
        )
        metrics.baseten_write_starting()
        try:
            deployment = self._write(plan)
        except BasetenError as exc:
            log.warning("Baseten refused the change: %s", exc.message)
            metrics.rollout_finished("refused_by_baseten")
            self.store.update_rollout(rollout.id, state=RolloutState.FAILED, finished_at=self.clock())
            self.store.finish_confirmation(request_id, ConfirmationState.FAILED, exc.message)
            self.audit.record(
                "failed", requester, plan=plan, request_id=request_id, channel=channel, thread_ts=parent_ts
            )
            failed = [
                blocks.section(headline),
                blocks.context(":red_circle: Failed: Baseten refused the change."),
            ]
            self.gateway.update(channel, parent_ts, headline, failed)
            reply = md(":red_circle: {} {}", user(requester), exc.message)
            self.gateway.post(channel, reply, [blocks.section(reply)], thread_ts=parent_ts)
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
        self.store.finish_confirmation(request_id, ConfirmationState.EXECUTED, "executed")
        self.audit.record(
            "executed",
            requester,
            plan=plan,
            request_id=request_id,
            approver=approver,
            channel=channel,
            thread_ts=parent_ts,
        )
        if plan.force:
            self.audit.record(
                "forced", requester, plan=plan, request_id=request_id, channel=channel, thread_ts=parent_ts
            )
        self._announce(plan, headline, channel, parent_ts)
        if deployment is None:
            note = Mrkdwn(":large_green_circle: Applied; Baseten needed no new deployment.")
            self.gateway.post(channel, note, [blocks.section(note)], thread_ts=parent_ts)
            self.audit.record("succeeded", requester, plan=plan, request_id=request_id)
            return
        requested = plan.deployment_id if isinstance(plan, PromotePlan) else None
        if requested and deployment.id != requested:
            note = md(
                "Baseten is rolling out a new deployment `{}` (a copy of `{}`).", deployment.id, requested
            )
        else:
            note = md("Baseten accepted the change; following deployment `{}`.", deployment.id)
        detail = blocks.deployment_blocks(deployment, where=(plan.chain_name, plan.env))
        self.gateway.post(channel, note, [blocks.section(note), *detail], thread_ts=parent_ts)

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
            verb = "rolling back" if plan.kind == "rollback" else "promoting"
            text = md(
                "{} is {} {} deployment `{}` to *{}*",
                user(requester),
                verb,
                plan.chain_name,
                plan.deployment_id,
                plan.env,
            )
        if approver:
            text += md(" (approved by {})", user(approver))
        if plan.force:
            text += " :warning: forced past a lock"
        return text

    def _announce(self, plan: AnyPlan, headline: Mrkdwn, channel: str, ts: str) -> None:
        if not self.audit_channel or self.audit_channel == channel:
            return
        link = self.gateway.permalink(channel, ts)
        text = md("{} in {}", headline, markup.channel(channel))
        if link:
            text += md(" · {}", markup.link(link, "thread"))
        try:
            self.gateway.post(self.audit_channel, text, [blocks.section(text)])
        except (NotInChannel, SlackFailure):
            log.warning("could not announce in the audit channel")
