"""`/chain promote <chain> <env> <deployment_id>`: make a deployment the environment's live one (and a
rollback, which is a promote of what was live before, offered once a promote is live)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from bot.baseten.models import (
    Chain,
    ChainDeployment,
    ChainEnvironment,
    DeploymentStatus,
    Phase,
    PromoteToChainEnvironmentRequest,
    PromotionCleanupStrategy,
)
from bot.changes.planner import Planner, Refusal, rolling_out
from bot.changes.plans import Blocks, ChangeKind, ChangePlan, Reverted
from bot.commands.parsing import ChangeCommand, Command, FormCommand, Name, arity, flags, names
from bot.commands.verb import FORCE, Option, Verb
from bot.runtime.workpool import Priority
from bot.slack.blocks import context, section, when
from bot.slack.markup import Mrkdwn, md, user
from bot.slack.previews import chain_identity

if TYPE_CHECKING:
    from bot.baseten.client import BasetenClient


class PromoteCommand(ChangeCommand):
    verb: Literal["promote"] = "promote"
    deployment_id: Name
    keep_previous: bool = False
    rollback: bool = False  # asked through a finished promote's rollback button, never typed


class PromoteModalCommand(FormCommand):
    """`/chain promote` with no arguments: open the modal."""

    verb: Literal["promote-modal"] = "promote-modal"


def parse(args: list[str], verb: Verb) -> Command:
    positional, given = flags(args, verb)
    arity(positional, verb)
    chain, env, deployment_id = positional
    names({"chain name": chain, "environment name": env, "deployment id": deployment_id}, verb)
    return PromoteCommand(
        chain=chain,
        env=env,
        deployment_id=deployment_id,
        keep_previous="--keep-previous" in given,
        force="--force" in given,
    )


class PromotePlan(ChangePlan):
    kind: Literal["promote", "rollback"] = "promote"
    deployment_id: str
    deployment_status: DeploymentStatus
    deployment_created_at: datetime
    scale_down_previous: bool = True
    # The environment's promotion settings: what Baseten does with the previous deployment once this
    # promotion completes, and whether it builds a new deployment for every promotion.
    cleanup: PromotionCleanupStrategy = PromotionCleanupStrategy.SCALE_TO_ZERO
    redeploys: bool = False

    @property
    def destructive(self) -> bool:
        return self.scale_down_previous and self.previous_deployment_id is not None

    @property
    def scales_down_previous(self) -> bool:
        return self.scale_down_previous

    def describe(self) -> str:
        keep = " (keep previous)" if not self.scale_down_previous else ""
        if self.kind == "rollback":
            return f"roll back {self.chain_name}/{self.env} to {self.deployment_id}{keep}"
        return f"promote {self.deployment_id} to {self.chain_name}/{self.env}{keep}"

    def previous_fate(self) -> str:
        """What the environment's cleanup strategy does to the previous deployment once it is live."""
        if not self.scale_down_previous or self.cleanup == PromotionCleanupStrategy.KEEP:
            return "kept running"
        if self.cleanup == PromotionCleanupStrategy.DEACTIVATE:
            return "deactivated"
        return "scaled down"

    def summary(self) -> Blocks:
        going = md(
            "`{}` ({}, created {})",
            self.deployment_id,
            self.deployment_status.value,
            when(self.deployment_created_at),
        )
        fields = [
            md("*Chain*\n{}", chain_identity(self)),
            md("*Environment*\n{}", self.env),
            md("*Going live*\n{}", going),
        ]
        notes: list[str] = []
        if self.previous_deployment_id:
            fate = self.previous_fate()
            fields.append(md("*Will be {}*\n`{}`", fate, self.previous_deployment_id))
            if fate == "deactivated":
                notes.append(
                    "This environment deactivates the previous deployment after a promotion, and chains "
                    "have no reactivation endpoint: no rollback will be possible."
                )
        else:
            fields.append(md("*Currently live*\nnothing"))
        if self.redeploys:
            notes.append(
                "This environment redeploys on every promotion: Baseten builds a new deployment from it."
            )
        if self.kind == "rollback":
            title = md("*Roll back* {}/*{}* to `{}`", self.chain_name, self.env, self.deployment_id)
        else:
            title = md("*Promote* {} to *{}*", self.chain_name, self.env)
        return [section(title, fields), *(context(note) for note in notes)]

    def question(self) -> str:
        fate = self.previous_fate()
        return "Promote it?" if fate == "kept running" else f"The previous deployment will be {fate}."

    def doing(self, requester: str) -> Mrkdwn:
        template = (
            "{0} is rolling back {1}/*{2}* to `{3}`"
            if self.kind == "rollback"
            else "{0} is promoting {1} deployment `{3}` to *{2}*"
        )
        return md(template, user(requester), self.chain_name, self.env, self.deployment_id)

    def write(self, baseten: BasetenClient) -> ChainDeployment | None:
        body = PromoteToChainEnvironmentRequest(
            deployment_id=self.deployment_id, scale_down_previous_deployment=self.scale_down_previous
        )
        return baseten.promote(self.chain_id, self.env, body)

    def accepted(self, deployment: ChainDeployment) -> Mrkdwn:
        if deployment.id != self.deployment_id:  # the environment redeploys on promotion
            return md(
                "Baseten is rolling out a new deployment `{}` (a copy of `{}`).",
                deployment.id,
                self.deployment_id,
            )
        return super().accepted(deployment)


def check(planner: Planner, chain: Chain, env: ChainEnvironment, command: PromoteCommand) -> PromotePlan:
    deployment = planner.deployment(chain, command.deployment_id)
    if deployment.chain_id != chain.id:
        raise Refusal(
            md("Deployment `{}` belongs to another chain, not {}.", deployment.id, chain.name),
            field="deployment",
        )
    current = env.current_deployment
    if current is not None and current.id == deployment.id:
        raise Refusal(
            md("Deployment `{}` is already live in {}/{}.", deployment.id, chain.name, env.name),
            field="deployment",
        )
    if env.candidate_deployment is not None:
        raise Refusal(rolling_out(chain.name, env.name, env.candidate_deployment.id), field="env")
    if deployment.status.phase is Phase.OFF:
        raise Refusal(
            md(
                "Deployment `{}` is {}. Chains have no reactivation endpoint: reactivate it in Baseten "
                "first, or promote another deployment.",
                deployment.id,
                deployment.status.value.lower(),
            ),
            field="deployment",
        )
    if deployment.status.phase is Phase.FAILED:
        raise Refusal(
            md("Deployment `{}` is {}; it cannot serve traffic.", deployment.id, deployment.status.value),
            field="deployment",
        )
    return PromotePlan(
        kind="rollback" if command.rollback else "promote",
        chain_id=chain.id,
        chain_name=chain.name,
        chain_team=chain.team_name,
        env=env.name,
        deployment_id=deployment.id,
        deployment_status=deployment.status,
        deployment_created_at=deployment.created_at,
        previous_deployment_id=current.id if current else None,
        scale_down_previous=not command.keep_previous,
        cleanup=env.promotion_settings.promotion_cleanup_strategy or PromotionCleanupStrategy.SCALE_TO_ZERO,
        redeploys=bool(env.promotion_settings.redeploy_on_promotion),
        force=command.force,
    )


def revert(kind: str, change: Reverted) -> PromoteCommand | None:
    """A promote is rolled back by promoting what was live before it (by the chain's id: its name may
    be shared with another team's chain, or be no valid token). A rollback offers no rollback."""
    if kind != "promote" or change.previous_deployment_id is None:
        return None
    return PromoteCommand(
        chain=change.chain_id, env=change.env, deployment_id=change.previous_deployment_id, rollback=True
    )


VERB: Verb = Verb(
    name="promote",
    arguments=("<chain>", "<env>", "<deployment_id>"),
    options=(
        Option("--keep-previous", "keep the previous deployment running; the promote then runs at once"),
        FORCE,
    ),
    summary="Promote a deployment. Scaling the previous one down asks for your confirmation first.",
    example="/chain promote hello-chain production dep-hello-4",
    priority=Priority.WRITE,
    request=PromoteCommand,
    parser=parse,
    change=ChangeKind(
        plan=PromotePlan,
        check=check,
        revert=revert,
        undo="rollback",
        too_late=md(
            "The rollback window for that change has closed. Use `/chain promote` with the deployment id instead."
        ),
    ),
    form=PromoteModalCommand,
)
