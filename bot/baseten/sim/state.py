"""The simulator's world: chains, environments, deployments, rollouts under way, and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.baseten.models import DeploymentStatus, PromotionSettings
from bot.baseten.sim.logs import FAILURE_LINES, LogLine


class Refused(Exception):
    """Baseten answers the request with this error status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    at: float = 0.0  # the simulator's clock when the request arrived


@dataclass
class Injection:
    status: int | None  # None: a dropped connection
    times: int
    method: str | None
    path_contains: str | None
    body: dict[str, Any] | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


@dataclass
class SlowWrite:
    """Writes that Baseten carries out (or not) and answers only after `seconds`."""

    seconds: float
    times: int
    applied: bool
    path_contains: str | None = None  # only writes to a matching path (None: every write)

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path


@dataclass
class Failure:
    chainlet: str
    status: DeploymentStatus
    at_status: DeploymentStatus
    log_lines: list[tuple[str | None, str]] = field(default_factory=lambda: list(FAILURE_LINES))


@dataclass
class ChainletSpec:
    instance_type_id: str
    min_replica: int
    max_replica: int
    concurrency_target: int = 1
    autoscaling_window: int | None = 60
    scale_down_delay: int | None = 900
    target_utilization_percentage: int | None = 70
    target_in_flight_tokens: int | None = None
    max_scale_down_rate: int | None = None
    # After an autoscaling change, active replicas move from `replicas_from` into [min, max], one per
    # step from `replicas_since` (clock time). None: settled at the steady count.
    replicas_from: int | None = None
    replicas_since: float = 0.0

    def scaling(self) -> dict[str, int | None]:
        """The autoscaling settings, by their Baseten field name."""
        return {name: getattr(self, name) for name in SCALING_FIELDS}

    def take_scaling(self, other: ChainletSpec) -> None:
        """Run with `other`'s autoscaling settings (what an environment gives its deployment)."""
        for name in SCALING_FIELDS:
            setattr(self, name, getattr(other, name))

    def active_replicas(self, now: float, step_seconds: float) -> int:
        """Replicas serving when the deployment serves: the steady count, or on the way to it."""
        steady = max(1, self.min_replica)
        if self.replicas_from is None:
            return min(steady, self.max_replica)
        target = max(self.min_replica, min(self.replicas_from, self.max_replica))
        steps = int((now - self.replicas_since) / step_seconds) if step_seconds > 0 else 10**6
        distance = target - self.replicas_from
        moved = min(abs(distance), max(0, steps))
        return self.replicas_from + (moved if distance > 0 else -moved)


SCALING_FIELDS = (
    "min_replica",
    "max_replica",
    "autoscaling_window",
    "scale_down_delay",
    "concurrency_target",
    "target_utilization_percentage",
    "target_in_flight_tokens",
    "max_scale_down_rate",
)


@dataclass
class RolloutState:
    started: float
    sequence: list[DeploymentStatus]
    env: str
    scale_down: bool
    failure: Failure | None
    # Another promotion took the environment meanwhile (a push from outside): built, never promoted.
    overtaken: bool = False


@dataclass
class DeploymentState:
    id: str
    chain_id: str
    created_at: datetime
    environment: str | None
    chainlets: dict[str, ChainletSpec]
    status: DeploymentStatus = DeploymentStatus.ACTIVE
    rollout: RolloutState | None = None
    chainlet_ids: dict[str, str] = field(default_factory=dict)
    # Chainlet statuses frozen when a rollout failed (the failing chainlet keeps its failure status).
    frozen: dict[str, DeploymentStatus] = field(default_factory=dict)
    # What each chainlet printed, by chainlet name.
    logs: dict[str, list[LogLine]] = field(default_factory=dict)


@dataclass
class EnvironmentState:
    name: str
    created_at: datetime
    settings: dict[str, ChainletSpec]
    current: str | None = None
    candidate: str | None = None
    promotion: PromotionSettings = field(default_factory=PromotionSettings)


@dataclass
class ChainState:
    id: str
    name: str
    created_at: datetime
    team_name: str
    environments: dict[str, EnvironmentState] = field(default_factory=dict)
    deployments: dict[str, DeploymentState] = field(default_factory=dict)
