"""`/chain instance-type <chain> <env> <chainlet>=<instance_type> ...`: change the instance types of
chainlets in one batch; Baseten builds a new deployment with them and promotes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.baseten.models import (
    Chain,
    ChainDeployment,
    ChainEnvironment,
    ChainletEnvironmentInstanceTypeUpdate,
    InstanceType,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.changes.planner import Planner, Refusal, hint, instance_type, listing, rolling_out
from bot.changes.plans import Blocks, ChangeKind, ChangePlan, Reverted
from bot.commands.parsing import (
    ChainletName,
    ChangeCommand,
    Command,
    FormCommand,
    InstanceTypeRef,
    UsageError,
    arity,
    flags,
    names,
    show,
)
from bot.commands.verb import FORCE, Verb
from bot.runtime.workpool import Priority
from bot.slack.blocks import MAX_TEXT, context, hardware, section
from bot.slack.blocks import listing as shown_listing
from bot.slack.markup import Mrkdwn, lines, md, user
from bot.slack.previews import chain_identity

if TYPE_CHECKING:
    from bot.baseten.client import BasetenClient

HEADLINE_CHANGES = 10  # chainlet changes named in a rollout's headline; the preview lists them all


class InstanceTypeChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    chainlet: ChainletName
    instance_type: InstanceTypeRef


class InstanceTypeCommand(ChangeCommand):
    verb: Literal["instance-type"] = "instance-type"
    changes: tuple[InstanceTypeChange, ...] = Field(min_length=1)


class InstanceTypeModalCommand(FormCommand):
    verb: Literal["instance-type-modal"] = "instance-type-modal"


def parse(args: list[str], verb: Verb) -> Command:
    positional, given = flags(args, verb)
    arity(positional, verb)
    chain, env, *pairs = positional
    names({"chain name": chain, "environment name": env}, verb)
    changes: list[InstanceTypeChange] = []
    seen: set[str] = set()
    for pair in pairs:
        chainlet, sep, typed = pair.partition("=")
        if not sep or not chainlet or not typed:
            raise UsageError(
                md("`{}` should look like `<chainlet>=<instance_type>`, e.g. `HelloWorld=1x4`.", show(pair))
            )
        names({"chainlet name": chainlet}, verb)
        if len(typed) > 200:
            raise UsageError(md("`{}` is too long for an instance type. Usage: {}", show(typed), verb.usage))
        if chainlet in seen:
            raise UsageError(
                md("Chainlet `{}` is named twice; give each chainlet one instance type.", show(chainlet))
            )
        seen.add(chainlet)
        changes.append(InstanceTypeChange(chainlet=chainlet, instance_type=typed.strip()))
    return InstanceTypeCommand(chain=chain, env=env, changes=tuple(changes), force="--force" in given)


class ChainletChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    chainlet: str
    current: InstanceType | None
    new: InstanceType
    min_replica: int | None
    max_replica: int | None
    current_price_per_minute: float | None
    new_price_per_minute: float | None

    def line(self) -> Mrkdwn:
        before = hardware(self.current) if self.current else md("_unknown_")
        return md("*{}*: {} → {}", self.chainlet, before, hardware(self.new))


class InstanceTypePlan(ChangePlan):
    kind: Literal["instance_type"] = "instance_type"
    changes: tuple[ChainletChange, ...]
    revertible: ClassVar[bool] = True

    @property
    def destructive(self) -> bool:
        # A new deployment is built and promoted, which can scale the current one down.
        return True

    def describe(self) -> str:
        changes = ", ".join(f"{c.chainlet}={c.new.id}" for c in self.changes)
        return f"instance types {changes} in {self.chain_name}/{self.env}"

    def summary(self) -> Blocks:
        title = md("*Change instance types* in {} · *{}*", chain_identity(self), self.env)
        changes = shown_listing([c.line() for c in self.changes], more="changes", limit=MAX_TEXT - 300)
        *per_chainlet, total = cost_lines(self)
        found: Blocks = [
            section(lines([title, changes])),
            section(lines([md("*Cost*"), shown_listing(per_chainlet, more="chainlets", limit=2500), total])),
        ]
        if self.previous_deployment_id:
            found.append(
                context(
                    md(
                        "Baseten builds a new deployment and promotes it; `{}` may be scaled down.",
                        self.previous_deployment_id,
                    )
                )
            )
        return found

    def question(self) -> str:
        return "Rebuild and promote?"

    def doing(self, requester: str) -> Mrkdwn:
        changes = [md("{} → `{}`", c.chainlet, c.new.id) for c in self.changes]
        shown = Mrkdwn(", ").join(changes[:HEADLINE_CHANGES])
        if len(changes) > HEADLINE_CHANGES:
            shown += md(" …and {} more", len(changes) - HEADLINE_CHANGES)
        return md(
            "{} is changing instance types of {} in *{}*: {}",
            user(requester),
            self.chain_name,
            self.env,
            shown,
        )

    def write(self, baseten: BasetenClient) -> ChainDeployment | None:
        updates = [
            ChainletEnvironmentInstanceTypeUpdate(chainlet_name=c.chainlet, instance_type_id=c.new.id)
            for c in self.changes
        ]
        response = baseten.update_instance_types(
            self.chain_id, self.env, UpdateChainletEnvironmentInstanceTypeRequest(updates=updates)
        )
        return response.chain_deployment


def _hourly(price_per_minute: float | None) -> str:
    return f"${price_per_minute * 60:,.2f}/h" if price_per_minute is not None else "price unknown"


def _signed(dollars: float) -> str:
    sign = "+" if dollars >= 0 else "−"
    return f"{sign}${abs(dollars):,.2f}/h"


def cost_lines(plan: InstanceTypePlan) -> list[str]:
    """Per replica-hour prices and the change in hourly cost at the environment's min and max replicas."""
    found: list[str] = []
    delta_min = delta_max = 0.0
    known = True
    for change in plan.changes:
        before, after = change.current_price_per_minute, change.new_price_per_minute
        found.append(f"{change.chainlet}: {_hourly(before)} → {_hourly(after)} per replica")
        if before is None or after is None or change.min_replica is None or change.max_replica is None:
            known = False
            continue
        delta_min += (after - before) * 60 * change.min_replica
        delta_max += (after - before) * 60 * change.max_replica
    if known:
        found.append(
            f"Change in hourly cost: {_signed(delta_min)} at min replicas, {_signed(delta_max)} at max replicas"
        )
    else:
        found.append("Change in hourly cost: unknown (a price or the autoscaling range is missing)")
    return found


def check(
    planner: Planner, chain: Chain, env: ChainEnvironment, command: InstanceTypeCommand
) -> InstanceTypePlan:
    settings = {s.chainlet_name: s for s in env.chainlet_settings}
    types = planner.catalog.instance_types()
    prices = planner.catalog.prices_per_minute()
    changes: list[ChainletChange] = []
    for change in command.changes:
        setting = settings.get(change.chainlet)
        field = f"chainlet:{change.chainlet}"
        if setting is None:
            known = sorted(settings)
            raise Refusal(
                md(
                    "No chainlet `{}` in {}/{}.{} Chainlets: {}",
                    change.chainlet,
                    chain.name,
                    env.name,
                    hint(change.chainlet, known),
                    listing(known),
                ),
                field=field,
            )
        new = instance_type(change.instance_type, types, field=field)
        current: InstanceType | None = setting.instance_type
        if current is not None and current.id == new.id:
            raise Refusal(
                md("`{}` already runs on `{}` in {}/{}.", change.chainlet, new.id, chain.name, env.name),
                field=field,
            )
        scaling = setting.autoscaling_settings
        changes.append(
            ChainletChange(
                chainlet=change.chainlet,
                current=current,
                new=new,
                min_replica=scaling.min_replica if scaling else None,
                max_replica=scaling.max_replica if scaling else None,
                current_price_per_minute=prices.get(current.id) if current else None,
                new_price_per_minute=prices.get(new.id),
            )
        )
    if env.candidate_deployment is not None:
        raise Refusal(rolling_out(chain.name, env.name, env.candidate_deployment.id), field="env")
    return InstanceTypePlan(
        chain_id=chain.id,
        chain_name=chain.name,
        chain_team=chain.team_name,
        env=env.name,
        previous_deployment_id=env.current_deployment.id if env.current_deployment else None,
        changes=tuple(changes),
        force=command.force,
    )


def revert(kind: str, change: Reverted) -> InstanceTypeCommand | None:
    """Every changed chainlet back on the instance type it had before (a new build, previewed)."""
    plan = change.plan
    if not isinstance(plan, InstanceTypePlan) or any(c.current is None for c in plan.changes):
        return None
    back = tuple(
        InstanceTypeChange(chainlet=c.chainlet, instance_type=c.current.id) for c in plan.changes if c.current
    )
    return InstanceTypeCommand(chain=change.chain_id, env=change.env, changes=back)


VERB: Verb = Verb(
    name="instance-type",
    arguments=("<chain>", "<env>", "<chainlet>=<instance_type> ..."),
    options=(FORCE,),
    summary="Change the instance types of chainlets in one batch; Baseten builds and promotes a new deployment.",
    example="/chain instance-type hello-chain staging RandInt=2x8",
    priority=Priority.WRITE,
    request=InstanceTypeCommand,
    parser=parse,
    change=ChangeKind(plan=InstanceTypePlan, check=check, revert=revert),
    form=InstanceTypeModalCommand,
    aliases=("instance-types",),
)
