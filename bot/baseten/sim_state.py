"""The simulator's world: chains, environments, deployments, rollouts under way, and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.baseten.models import DeploymentStatus, PromotionSettings
from bot.baseten.sim_logs import FAILURE_LINES, LogLine


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


@dataclass
class RolloutState:
    started: float
    sequence: list[DeploymentStatus]
    env: str
    scale_down: bool
    failure: Failure | None


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
