"""Pydantic models of the Baseten management API schemas, named after them without the `V1` suffix."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Response(BaseModel):
    # Baseten adds fields over time; a response with more than we know must still parse.
    model_config = ConfigDict(extra="ignore")


class _Request(BaseModel):
    # A request body may never carry a key the schema does not define.
    model_config = ConfigDict(extra="forbid")


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


class EnvironmentSummary(_Response):
    """One item of the environments list; only the name is reliable (see the API notes)."""

    name: str
    created_at: datetime | None = None


class Environments(_Response):
    environments: list[EnvironmentSummary]


class PromoteToChainEnvironmentRequest(_Request):
    deployment_id: str = Field(min_length=1)
    scale_down_previous_deployment: bool = True


class ChainletEnvironmentInstanceTypeUpdate(_Request):
    chainlet_name: str = Field(min_length=1)
    instance_type_id: str = Field(min_length=1)


class UpdateChainletEnvironmentInstanceTypeRequest(_Request):
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
