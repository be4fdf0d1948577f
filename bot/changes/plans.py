"""What a confirmed request will do, checked against Baseten. Plans are stored with their confirmation
(as JSON) so a click after a restart executes exactly what was previewed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.baseten.models import Chain, DeploymentStatus, InstanceType, PromotionCleanupStrategy
from bot.commands.parsing import Name


@dataclass(frozen=True)
class ChainRef:
    """A chain as chainops records it: by Baseten's id, which no other chain has, and by its name for
    people to read (names are unique only within a team)."""

    id: str
    name: str

    @classmethod
    def of(cls, chain: Chain) -> ChainRef:
        return cls(chain.id, chain.name)

    @property
    def word(self) -> str:
        """How a person names this chain in a command: by name when it can be typed as one, else by id."""
        try:
            _COMMAND_NAME.validate_python(self.name)
        except ValidationError:
            return self.id
        return self.name


_COMMAND_NAME: TypeAdapter[str] = TypeAdapter(Name)


class _Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: str
    chain_name: str
    chain_team: str = ""  # empty in plans stored before it was recorded
    env: str
    # The environment's live deployment when the preview was shown; a confirmation is bound to it.
    previous_deployment_id: str | None
    force: bool = False

    @property
    def chain(self) -> ChainRef:
        return ChainRef(self.chain_id, self.chain_name)


class PromotePlan(_Plan):
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


class ChainletChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    chainlet: str
    current: InstanceType | None
    new: InstanceType
    min_replica: int | None
    max_replica: int | None
    current_price_per_minute: float | None
    new_price_per_minute: float | None


class InstanceTypePlan(_Plan):
    kind: Literal["instance_type"] = "instance_type"
    changes: tuple[ChainletChange, ...]

    @property
    def destructive(self) -> bool:
        # A new deployment is built and promoted, which can scale the current one down.
        return True


Plan = Annotated[PromotePlan | InstanceTypePlan, Field(discriminator="kind")]


class StoredPlan(BaseModel):
    plan: Plan


def dump_plan(plan: PromotePlan | InstanceTypePlan) -> str:
    return StoredPlan(plan=plan).model_dump_json()


def load_plan(raw: str) -> PromotePlan | InstanceTypePlan:
    return StoredPlan.model_validate_json(raw).plan


def describe(plan: PromotePlan | InstanceTypePlan) -> str:
    """One line for history and the audit trail."""
    if isinstance(plan, InstanceTypePlan):
        changes = ", ".join(f"{c.chainlet}={c.new.id}" for c in plan.changes)
        return f"instance types {changes} in {plan.chain_name}/{plan.env}"
    keep = " (keep previous)" if not plan.scale_down_previous else ""
    if plan.kind == "rollback":
        return f"roll back {plan.chain_name}/{plan.env} to {plan.deployment_id}{keep}"
    return f"promote {plan.deployment_id} to {plan.chain_name}/{plan.env}{keep}"
