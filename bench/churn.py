"""A Baseten whose deployments change status at known moments, so the lag from a change in Baseten to
the update in Slack can be measured exactly. Responses follow the API schemas."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx

from bot.baseten.models import (
    AutoscalingSettings,
    ChainDeployment,
    ChainEnvironment,
    Chainlet,
    DeploymentStatus,
)

CYCLE = [DeploymentStatus.BUILDING, DeploymentStatus.DEPLOYING, DeploymentStatus.LOADING_MODEL, DeploymentStatus.UPDATING]


class ChurningBaseten(httpx.BaseTransport):
    def __init__(self, *, interval: float, changes: int) -> None:
        self.interval = interval
        self.changes = changes
        self.started: dict[str, float] = {}
        self.gets = 0
        self.polls: dict[str, list[float]] = {}
        self.last_change_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, deployment_id: str, at: float) -> None:
        self.started[deployment_id] = at

    def step(self, deployment_id: str, now: float) -> int:
        return int((now - self.started[deployment_id]) // self.interval)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """GET .../environments/production (each rollout has a chain of its own) or .../deployments/{id}."""
        now = time.monotonic()
        parts = request.url.path.strip("/").split("/")
        if request.method != "GET" or len(parts) != 5:
            return httpx.Response(404, json={"error": "not found"})
        deployment_id = parts[2].replace("chain-", "dep-", 1) if parts[3] == "environments" else parts[4]
        if deployment_id not in self.started:
            return httpx.Response(404, json={"error": "not found"})
        deployment = self._deployment(deployment_id, now)
        if parts[3] == "deployments":
            return httpx.Response(200, json=deployment.model_dump(mode="json"))
        done = deployment.status is DeploymentStatus.ACTIVE
        env = ChainEnvironment(
            name="production",
            created_at=datetime.now(UTC),
            chain_id=parts[2],
            chainlet_settings=[],
            current_deployment=deployment if done else None,
            candidate_deployment=None if done else deployment,
        )
        return httpx.Response(200, json=env.model_dump(mode="json"))

    def _deployment(self, deployment_id: str, now: float) -> ChainDeployment:
        k = self.step(deployment_id, now)
        status = DeploymentStatus.ACTIVE if k >= self.changes else CYCLE[k % len(CYCLE)]
        with self._lock:
            self.gets += 1
            self.polls.setdefault(deployment_id, []).append(now)
            self.last_change_seen[deployment_id] = self.started[deployment_id] + min(k, self.changes) * self.interval
        scaling = AutoscalingSettings(min_replica=1, max_replica=2)
        chainlet = Chainlet(id=f"cl-{deployment_id}", name="HelloWorld", autoscaling_settings=scaling, instance_type_name="1x4", active_replica_count=1 if status is DeploymentStatus.ACTIVE else 0, status=status)
        chain_id = deployment_id.replace("dep-", "chain-", 1)
        return ChainDeployment(id=deployment_id, created_at=datetime.now(UTC), chain_id=chain_id, environment="production", chainlets=[chainlet], status=status)

    def requests_per_interval(self) -> float:
        """Polls per rollout divided by the poll intervals it was followed for (first to last poll)."""
        rates = [len(times) / ((times[-1] - times[0]) / self.interval + 1) for times in self.polls.values() if times]
        return sum(rates) / len(rates) if rates else 0.0
