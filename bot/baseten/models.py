"""Pydantic models of the Baseten management API schemas, named after them without the `V1` suffix.

Longer than most modules: one model per schema chainops reads or sends, kept together as the spec lists
them, so a model is checked against its schema in one file."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Response(BaseModel):
    # Baseten adds fields over time; a response with more than we know must still parse.
    model_config = ConfigDict(extra="ignore")


class WireRequest(BaseModel):
    # A request body may never carry a key the schema does not define.
    model_config = ConfigDict(extra="forbid")

    def wire(self) -> Any:
        """The JSON body as sent: a field left unset is left out, never sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class OpenStrEnum(StrEnum):
    """A string enum that keeps values Baseten adds later instead of refusing the whole response.

    An unknown value becomes a member-like instance carrying the string Baseten sent, so it is shown as
    named and compared by value; the known members stay singletons."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str) or not value:
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        return self._value_ in type(self)._value2member_map_


class Phase(StrEnum):
    """How a person reads a status: still moving, serving, broken, or switched off."""

    IN_PROGRESS = "in_progress"
    LIVE = "live"
    FAILED = "failed"
    OFF = "off"


class DeploymentStatus(OpenStrEnum):
    """DeploymentStatusV1. A status Baseten adds later is kept as sent and counts as in progress:
    it never ends a rollout as a success or as a failure."""

    BUILDING = "BUILDING"
    DEPLOYING = "DEPLOYING"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    LOADING_MODEL = "LOADING_MODEL"
    ACTIVE = "ACTIVE"
    UNHEALTHY = "UNHEALTHY"
    BUILD_FAILED = "BUILD_FAILED"
    BUILD_STOPPED = "BUILD_STOPPED"
    DEACTIVATING = "DEACTIVATING"
    INACTIVE = "INACTIVE"
    FAILED = "FAILED"
    UPDATING = "UPDATING"
    SCALED_TO_ZERO = "SCALED_TO_ZERO"
    WAKING_UP = "WAKING_UP"

    @property
    def phase(self) -> Phase:
        return _PHASES.get(self._value_, Phase.IN_PROGRESS)

    @property
    def is_live(self) -> bool:
        return self.phase is Phase.LIVE

    @property
    def is_failed(self) -> bool:
        return self.phase is Phase.FAILED


_PHASES: dict[str, Phase] = {
    DeploymentStatus.BUILDING: Phase.IN_PROGRESS,
    DeploymentStatus.DEPLOYING: Phase.IN_PROGRESS,
    DeploymentStatus.LOADING_MODEL: Phase.IN_PROGRESS,
    DeploymentStatus.UPDATING: Phase.IN_PROGRESS,
    DeploymentStatus.WAKING_UP: Phase.IN_PROGRESS,
    DeploymentStatus.ACTIVE: Phase.LIVE,
    # Scaled to zero is healthy: it serves again on the next request.
    DeploymentStatus.SCALED_TO_ZERO: Phase.LIVE,
    DeploymentStatus.UNHEALTHY: Phase.FAILED,
    DeploymentStatus.BUILD_FAILED: Phase.FAILED,
    DeploymentStatus.DEPLOY_FAILED: Phase.FAILED,
    DeploymentStatus.FAILED: Phase.FAILED,
    DeploymentStatus.BUILD_STOPPED: Phase.FAILED,
    DeploymentStatus.DEACTIVATING: Phase.OFF,
    DeploymentStatus.INACTIVE: Phase.OFF,
}


class AutoscalingSettings(_Response):
    min_replica: int
    max_replica: int
    autoscaling_window: int | None = None
    scale_down_delay: int | None = None
    concurrency_target: int | None = None
    target_utilization_percentage: int | None = None
    target_in_flight_tokens: int | None = None
    max_scale_down_rate: int | None = None


class Chainlet(_Response):
    id: str
    name: str
    autoscaling_settings: AutoscalingSettings | None
    instance_type_name: str
    active_replica_count: int
    status: DeploymentStatus


class ChainDeployment(_Response):
    id: str
    created_at: datetime
    chain_id: str
    environment: str | None
    chainlets: list[Chainlet]
    status: DeploymentStatus

    @property
    def rollout_phase(self) -> Phase:
        """Done when the deployment and every chainlet serve; failed as soon as anything failed."""
        statuses = [self.status, *(c.status for c in self.chainlets)]
        if any(s.is_failed for s in statuses):
            return Phase.FAILED
        if all(s.is_live for s in statuses):
            return Phase.LIVE
        if self.status.phase is Phase.OFF:
            return Phase.OFF
        return Phase.IN_PROGRESS


class ChainDeployments(_Response):
    deployments: list[ChainDeployment]


class Chain(_Response):
    id: str
    created_at: datetime
    name: str
    deployments_count: int
    team_name: str


class Chains(_Response):
    chains: list[Chain]


class InstanceType(_Response):
    id: str
    name: str
    memory_limit_mib: int
    millicpu_limit: int
    gpu_count: int
    gpu_type: str | None
    gpu_memory_limit_mib: int | None

    @property
    def summary(self) -> str:
        """`4 vCPU · 16 GiB · 1× A10G` — what a person compares when choosing hardware."""
        cpu = self.millicpu_limit / 1000
        parts = [f"{cpu:g} vCPU", f"{self.memory_limit_mib / 1024:g} GiB"]
        if self.gpu_count and self.gpu_type:
            parts.append(f"{self.gpu_count}× {self.gpu_type}")
        return " · ".join(parts)


class InstanceTypes(_Response):
    instance_types: list[InstanceType]


class InstanceTypePrice(_Response):
    instance_type: InstanceType
    price: float  # USD per minute


class InstanceTypePrices(_Response):
    instance_types: list[InstanceTypePrice]


class PromotionCleanupStrategy(OpenStrEnum):
    """What Baseten does with the previous deployment once a promotion completes."""

    KEEP = "KEEP"
    SCALE_TO_ZERO = "SCALE_TO_ZERO"
    DEACTIVATE = "DEACTIVATE"


class PromotionSettings(_Response):
    redeploy_on_promotion: bool | None = False
    rolling_deploy: bool | None = False
    promotion_cleanup_strategy: PromotionCleanupStrategy | None = PromotionCleanupStrategy.SCALE_TO_ZERO
    ramp_up_while_promoting: bool | None = False
    ramp_up_duration_seconds: int | None = 600


class ChainletEnvironmentSettings(_Response):
    chainlet_name: str
    autoscaling_settings: AutoscalingSettings | None
    instance_type: InstanceType


class ChainEnvironment(_Response):
    name: str
    created_at: datetime
    chain_id: str
    promotion_settings: PromotionSettings = Field(default_factory=PromotionSettings)
    chainlet_settings: list[ChainletEnvironmentSettings]
    current_deployment: ChainDeployment | None
    candidate_deployment: ChainDeployment | None = None

    def setting_of(self, chainlet_name: str) -> ChainletEnvironmentSettings | None:
        return next((s for s in self.chainlet_settings if s.chainlet_name == chainlet_name), None)

    def active_replicas_of(self, chainlet_name: str) -> int | None:
        """Replicas the live deployment runs for that chainlet now; None without a live deployment."""
        live = self.current_deployment
        chainlet = next((c for c in live.chainlets if c.name == chainlet_name), None) if live else None
        return chainlet.active_replica_count if chainlet else None


class EnvironmentSummary(_Response):
    """One item of the environments list; only the name is reliable (see the API notes)."""

    name: str
    created_at: datetime | None = None


class Environments(_Response):
    environments: list[EnvironmentSummary]


class PromoteToChainEnvironmentRequest(WireRequest):
    deployment_id: str = Field(min_length=1)
    scale_down_previous_deployment: bool = True


class ChainletEnvironmentInstanceTypeUpdate(WireRequest):
    chainlet_name: str = Field(min_length=1)
    instance_type_id: str = Field(min_length=1)


class UpdateChainletEnvironmentInstanceTypeRequest(WireRequest):
    updates: list[ChainletEnvironmentInstanceTypeUpdate] = Field(min_length=1)


class UpdateChainletEnvironmentInstanceTypeResponse(_Response):
    requires_redeployment: bool
    chain_deployment: ChainDeployment | None
    chainlet_environment_settings: list[ChainletEnvironmentSettings]


class LogLevel(OpenStrEnum):
    """LogLevelV1; a level Baseten adds later (say CRITICAL) is kept as sent."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogEntry(_Response):
    timestamp: str  # epoch nanoseconds, as a string
    message: str
    replica: str | None = None
    request_id: str | None = None
    level: LogLevel | None = None


class GetLogsResponse(_Response):
    logs: list[LogEntry]


class UpdateAutoscalingSettings(WireRequest):
    """UpdateAutoscalingSettingsV1: only the fields given are changed, and only those are sent.

    The bounds are what Baseten can ever accept (the schema states only the scale-down rate's), so a
    value no chainlet could run with is refused before it is sent."""

    min_replica: int | None = Field(default=None, ge=0)
    max_replica: int | None = Field(default=None, ge=1)
    autoscaling_window: int | None = Field(default=None, ge=0)
    scale_down_delay: int | None = Field(default=None, ge=0)
    concurrency_target: int | None = Field(default=None, ge=1)
    target_utilization_percentage: int | None = Field(default=None, ge=1, le=100)
    target_in_flight_tokens: int | None = Field(default=None, ge=1)
    max_scale_down_rate: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _range(self) -> UpdateAutoscalingSettings:
        low, high = self.min_replica, self.max_replica
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_replica {low} is above max_replica {high}")
        return self

    @property
    def changes(self) -> dict[str, int]:
        """The settings this update names, by their Baseten field name."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items()}

    def applied_to(self, current: AutoscalingSettings | None) -> bool:
        """True when `current` already reads every value this update names."""
        if current is None:
            return not self.changes
        return all(getattr(current, k) == v for k, v in self.changes.items())


class ChainletEnvironmentAutoscalingSettingsUpdate(WireRequest):
    chainlet_name: str = Field(min_length=1)
    autoscaling_settings: UpdateAutoscalingSettings


class UpdateChainletEnvironmentAutoscalingSettingsRequest(WireRequest):
    updates: list[ChainletEnvironmentAutoscalingSettingsUpdate] = Field(min_length=1)

    def applied_in(self, env: ChainEnvironment) -> bool:
        """Every chainlet's settings read back as requested."""
        for update in self.updates:
            setting = env.setting_of(update.chainlet_name)
            if setting is None or not update.autoscaling_settings.applied_to(setting.autoscaling_settings):
                return False
        return True

    def settled_in(self, env: ChainEnvironment) -> bool:
        """Applied, and every named chainlet's active replicas sit within its [min, max]."""
        if not self.applied_in(env):
            return False
        for update in self.updates:
            setting = env.setting_of(update.chainlet_name)
            scaling = setting.autoscaling_settings if setting else None
            active = env.active_replicas_of(update.chainlet_name)
            if scaling is None or active is None or not scaling.min_replica <= active <= scaling.max_replica:
                return False
        return True


class UpdateAutoscalingSettingsStatus(OpenStrEnum):
    """UpdateAutoscalingSettingsStatusV1. A status Baseten adds later is kept as sent and read as
    "in progress": the change is followed until the settings read back."""

    ACCEPTED = "ACCEPTED"
    QUEUED = "QUEUED"  # undocumented; most likely applied once a deployment in progress is ready
    UNCHANGED = "UNCHANGED"

    @property
    def changed_nothing(self) -> bool:
        return self is UpdateAutoscalingSettingsStatus.UNCHANGED


class UpdateAutoscalingSettingsResponse(_Response):
    status: UpdateAutoscalingSettingsStatus
    message: str
