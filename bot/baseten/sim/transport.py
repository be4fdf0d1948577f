"""The built-in Baseten simulator: an httpx transport that answers the management API the way its
OpenAPI describes it. Rollouts move BUILDING/DEPLOYING → LOADING_MODEL → ACTIVE as the clock advances,
and follow each environment's promotion settings; autoscaling changes move active replicas into their new
range; every change is written to the chain's audit log, with who made it. Failures, slowness, statuses
Baseten may add later, rate limit windows and changes made "from outside" (by other people and keys) can
be injected. The console and the tests run on it.

One module for the whole API because every endpoint reads and changes the same state under one lock;
the parts that stand alone live beside it (sim_state, sim_logs, sim_autoscaling, sim_audit, sim_admin)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from bot.baseten.audit_log import api_key_prefix
from bot.baseten.models import (
    AutoscalingSettings,
    Chain,
    ChainDeployment,
    ChainEnvironment,
    Chainlet,
    ChainletEnvironmentSettings,
    DeploymentStatus,
    InstanceType,
    PromoteToChainEnvironmentRequest,
    PromotionCleanupStrategy,
    PromotionSettings,
    UpdateChainletEnvironmentAutoscalingSettingsRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
)
from bot.baseten.sim import audit as sim_audit
from bot.baseten.sim import autoscaling as sim_autoscaling
from bot.baseten.sim import logs as sim_logs
from bot.baseten.sim.audit import Actor, AuditTrail, api_actor, outside_actor
from bot.baseten.sim.autoscaling import ScalingChange
from bot.baseten.sim.logs import LogLine
from bot.baseten.sim.seed import INSTANCE_TYPES, PRICES
from bot.baseten.sim.state import (
    ChainletSpec,
    ChainState,
    DeploymentState,
    EnvironmentState,
    Failure,
    Injection,
    RecordedRequest,
    Refused,
    RolloutState,
    SlowWrite,
)

NEW_DEPLOYMENT = [
    DeploymentStatus.BUILDING,
    DeploymentStatus.DEPLOYING,
    DeploymentStatus.LOADING_MODEL,
    DeploymentStatus.ACTIVE,
]
REUSED_DEPLOYMENT = [DeploymentStatus.UPDATING, DeploymentStatus.LOADING_MODEL, DeploymentStatus.ACTIVE]
EPOCH = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


_Answer = Refused


class BasetenSimulator(httpx.BaseTransport):
    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        step_seconds: float = 2.0,
        latency: float = 0.0,
        seed: bool = True,
    ) -> None:
        self.api_key = api_key
        self.clock = clock
        self.step_seconds = step_seconds
        self.latency = latency
        # Until this clock time every request is refused with 429, as Baseten does inside a window.
        self._limited_until = 0.0
        # Statuses future rollouts pass through first (say one Baseten added after our models).
        self._queued_statuses: list[DeploymentStatus] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._chains: dict[str, ChainState] = {}
        self._types = {t.id: t for t in INSTANCE_TYPES}
        self._injections: list[Injection] = []
        self._failures: list[Failure] = []
        self._slow_writes: list[SlowWrite] = []
        self._ids = itertools.count(1)
        self._rolling: set[tuple[str, str]] = set()
        self.audit = AuditTrail()
        # Names of API keys by their prefix, as an admin named them in Baseten (shown in audit entries).
        self.key_names: dict[str, str] = {}
        # Statuses the next autoscaling updates answer with instead of their own (say one Baseten adds).
        self._autoscaling_statuses: list[str] = []
        self._wall_base = (datetime.now(UTC), clock())
        if seed:
            self._seed()

    # -- seeding ---------------------------------------------------------------------------------------

    def add_chain(
        self,
        name: str,
        chain_id: str,
        chainlets: dict[str, str],
        environments: dict[str, tuple[int, int]],
        *,
        team: str = "acme",
    ) -> None:
        """A chain whose chainlets run on the given instance types; environments map to (min, max) replicas.
        Names are unique only within a team: another team may have a chain of the same name."""
        with self._lock:
            chain = ChainState(chain_id, name, EPOCH, team)
            for env_name, (low, high) in environments.items():
                specs = {c: ChainletSpec(t, low, high) for c, t in chainlets.items()}
                chain.environments[env_name] = EnvironmentState(env_name, EPOCH, specs)
            self._chains[chain_id] = chain

    def add_deployment(
        self,
        chain_id: str,
        deployment_id: str | None = None,
        *,
        environment: str | None = None,
        status: DeploymentStatus = DeploymentStatus.ACTIVE,
        created_at: datetime | None = None,
    ) -> str:
        """A deployment of the chain; with an environment it becomes that environment's live deployment."""
        with self._lock:
            chain = self._chains[chain_id]
            deployment_id = deployment_id or f"dep-{next(self._ids):05d}"
            env = chain.environments.get(environment or "")
            template = env.settings if env else next(iter(chain.environments.values())).settings
            specs = {name: dataclasses.replace(s, replicas_from=None) for name, s in template.items()}
            created = created_at or EPOCH + timedelta(days=len(chain.deployments))
            chain.deployments[deployment_id] = DeploymentState(
                deployment_id, chain_id, created, environment, specs, status
            )
            if env is not None:
                env.current = deployment_id
            return deployment_id

    def add_instance_types(self, types: list[InstanceType]) -> None:
        """More hardware to choose from than the seeded catalogue (prices stay unknown)."""
        with self._lock:
            self._types.update({t.id: t for t in types})

    def _seed(self) -> None:
        self.add_chain(
            "hello-chain",
            "chain-hello",
            {"HelloWorld": "1x4", "RandInt": "1x2"},
            {"production": (1, 3), "staging": (0, 1)},
        )
        self.add_deployment("chain-hello", "dep-hello-1", status=DeploymentStatus.INACTIVE)
        self.add_deployment("chain-hello", "dep-hello-2", environment="staging")
        self.add_deployment("chain-hello", "dep-hello-3", environment="production")
        self.add_deployment("chain-hello", "dep-hello-4")
        self.add_chain(
            "summarizer", "chain-summ", {"Summarize": "A10G:8x32", "Tokenize": "2x8"}, {"production": (1, 2)}
        )
        self.add_deployment("chain-summ", "dep-summ-1", environment="production")

    # -- failure injection -----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        body: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next matching requests answer with this HTTP status (and a Baseten-style error body)."""
        if body is None:
            if status == 429:
                body = {
                    "error": "Rate limit exceeded. Please try again later.",
                    "retry_after": retry_after or 1,
                }
            elif status >= 500:
                body = {"error": "Internal server error"}
            else:
                body = {"error": f"Simulated HTTP {status}"}
        with self._lock:
            self._injections.append(Injection(status, times, method, path_contains, body))

    def disconnect_next(
        self, times: int = 1, *, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """The next matching requests fail to connect, before Baseten sees them."""
        with self._lock:
            self._injections.append(Injection(None, times, method, path_contains, None))

    def slow_writes(
        self, seconds: float, *, times: int = 1, applied: bool = True, path_contains: str | None = None
    ) -> None:
        """The next writes (to a path containing `path_contains`, if given) are answered only after
        `seconds`. With `applied`, Baseten makes the change first and only the answer is late, so a
        client that times out never hears that it worked."""
        with self._lock:
            self._slow_writes.append(SlowWrite(seconds, times, applied, path_contains))

    def answer_autoscaling_with(self, status: str, *, times: int = 1) -> None:
        """The next autoscaling updates are applied as usual but answered with `status` (any string, as
        Baseten may add statuses later)."""
        with self._lock:
            self._autoscaling_statuses += [status] * times

    def audit_log_refuses(self, status: int | None) -> None:
        """404: the audit-log endpoint does not exist (an older Baseten); 403: the key may not read it;
        None: it answers again. Entries are still recorded meanwhile."""
        if status not in (None, 403, 404):
            raise ValueError("the audit log answers normally (None), 403 or 404")
        with self._lock:
            self.audit.refusal = status

    def name_api_key(self, api_key: str, name: str) -> None:
        """Give an API key the display name audit entries show for it."""
        with self._lock:
            self.key_names[api_key_prefix(api_key)] = name

    def fail_rollouts(
        self,
        chainlet_name: str,
        status: DeploymentStatus = DeploymentStatus.DEPLOY_FAILED,
        at_status: DeploymentStatus = DeploymentStatus.LOADING_MODEL,
        log_lines: list[tuple[str | None, str]] | None = None,
    ) -> None:
        """Future rollouts fail when this chainlet would reach `at_status`; its logs then show `log_lines`
        as (level or None, message), by default a traceback whose lines have no level."""
        with self._lock:
            failure = Failure(chainlet_name, status, at_status)
            if log_lines is not None:
                failure.log_lines = list(log_lines)
            self._failures.append(failure)

    def rate_limit(self, seconds: float) -> None:
        """Open a rate limit window: every request in the next `seconds` gets 429 with what is left."""
        with self._lock:
            self._limited_until = max(self._limited_until, self.clock() + seconds)

    def queue_rollouts(self, status: str, steps: int = 1) -> None:
        """Future rollouts wait in `status` (any string, as Baseten may add) for `steps` steps first."""
        with self._lock:
            self._queued_statuses = [DeploymentStatus(status)] * steps

    def set_promotion_settings(self, chain_id: str, env_name: str, **fields: Any) -> None:
        """The environment's promotion settings, as a person would set them in Baseten."""
        with self._lock:
            env = self._chains[chain_id].environments[env_name]
            env.promotion = PromotionSettings.model_validate({**env.promotion.model_dump(), **fields})

    def set_chainlet_instance_type(self, chain_id: str, env_name: str, chainlet: str, type_id: str) -> None:
        """Change an environment's chainlet setting without a rollout (as another client already did)."""
        with self._lock:
            self._chains[chain_id].environments[env_name].settings[chainlet].instance_type_id = type_id

    def clear_failures(self) -> None:
        with self._lock:
            self._injections.clear()
            self._failures.clear()
            self._slow_writes.clear()

    @property
    def writes(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method in ("POST", "PATCH", "DELETE")]

    # -- transport -------------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            # A client's read timeout ends the wait, as it would on a socket.
            read_timeout = (request.extensions.get("timeout") or {}).get("read")
            if read_timeout is not None and read_timeout < self.latency:
                time.sleep(read_timeout)
                with self._lock:  # Baseten saw it; only its answer is late
                    seen = RecordedRequest(
                        request.method, request.url.path, dict(request.url.params), None, self.clock()
                    )
                    self.requests.append(seen)
                raise httpx.ReadTimeout("simulated slow answer", request=request)
            time.sleep(self.latency)
        method, path = request.method, request.url.path
        raw = request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            injected = self._injected(method, path)
            if injected is not None and injected.status is None:
                # A dropped connection: Baseten never sees the request.
                raise httpx.ConnectError("simulated connection failure", request=request)
            now = self.clock()
            self.requests.append(RecordedRequest(method, path, dict(request.url.params), body, now))
            if now < self._limited_until:
                left = math.ceil(self._limited_until - now)
                return httpx.Response(
                    429, json={"error": "Rate limit exceeded. Please try again later.", "retry_after": left}
                )
            if injected is not None and injected.status == 429 and injected.body is not None:
                # Baseten refuses everything until the window it names has passed.
                self._limited_until = now + float(injected.body.get("retry_after", 1))
        if injected is not None:
            return httpx.Response(injected.status or 500, json=injected.body)
        if not self._authorized(request.headers.get("Authorization", "")):
            return httpx.Response(401, json={"error": "Invalid API key"})
        slow = self._take_slow_write(method, path)
        if slow is not None and not slow.applied:
            self._hold(request, slow.seconds)
            return httpx.Response(504, json={"error": "Gateway timeout"})
        actor = self._request_actor(request)
        try:
            with self._lock:
                self._advance()
                status, payload = self._route(method, path, request.url.params, body, raw, actor)
        except Refused as answer:
            return httpx.Response(answer.status, json=answer.body)
        if slow is not None:
            self._hold(request, slow.seconds)
        return httpx.Response(status, json=payload)

    def _take_slow_write(self, method: str, path: str) -> SlowWrite | None:
        if method not in ("POST", "PATCH", "DELETE"):
            return None
        with self._lock:
            slow = next((w for w in self._slow_writes if w.matches(path)), None)
            if slow is None:
                return None
            slow.times -= 1
            if slow.times <= 0:
                self._slow_writes.remove(slow)
            return slow

    @staticmethod
    def _hold(request: httpx.Request, seconds: float) -> None:
        """Hold the answer. In process the client's read timeout is enforced here, as the network
        would (at once: time is simulated); over HTTP the answer really waits, and the client gives up."""
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        if read_timeout is not None and seconds >= read_timeout:
            raise httpx.ReadTimeout("simulated: the answer came after the client's timeout", request=request)
        time.sleep(seconds)

    def _injected(self, method: str, path: str) -> Injection | None:
        for injection in self._injections:
            if injection.matches(method, path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _authorized(self, header: str) -> bool:
        scheme, _, key = header.partition(" ")
        if scheme not in ("Api-Key", "Bearer") or not key.strip():
            return False
        return self.api_key is None or key == self.api_key

    def _request_actor(self, request: httpx.Request) -> Actor:
        key = request.headers.get("Authorization", "").partition(" ")[2].strip()
        with self._lock:
            return api_actor(key, request.headers.get("User-Agent", ""), self.key_names)

    def _route(
        self, method: str, path: str, params: httpx.QueryParams, body: Any, raw: bytes, actor: Actor
    ) -> tuple[int, Any]:
        query = dict(params)
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v1"]:
            raise _Answer(404, {"error": f"No route {path}"})
        rest = parts[1:]
        if rest == ["instance_types"]:
            return self._only(
                method, "GET", {"instance_types": [t.model_dump(mode="json") for t in self._types.values()]}
            )
        if rest == ["instance_type_prices"]:
            prices = [
                {"instance_type": self._types[i].model_dump(mode="json"), "price": p}
                for i, p in PRICES.items()
            ]
            return self._only(method, "GET", {"instance_types": prices})
        if rest == ["chains"]:
            return self._only(method, "GET", {"chains": [self._chain_json(c) for c in self._chains.values()]})
        if len(rest) < 2 or rest[0] != "chains":
            raise _Answer(404, {"error": f"No route {path}"})
        chain = self._chain(rest[1])
        tail = rest[2:]
        if tail == []:
            return self._only(method, "GET", self._chain_json(chain))
        if tail == ["deployments"]:
            newest = sorted(chain.deployments.values(), key=lambda d: d.created_at, reverse=True)
            return self._only(method, "GET", {"deployments": [self._deployment_json(d) for d in newest]})
        if len(tail) == 2 and tail[0] == "deployments":
            return self._only(method, "GET", self._deployment_json(self._deployment(chain, tail[1])))
        if len(tail) == 5 and tail[0] == "deployments" and tail[2] == "chainlets" and tail[4] == "logs":
            return self._only(
                method, "GET", self._logs(chain, self._deployment(chain, tail[1]), tail[3], query)
            )
        if tail == ["audit_logs"]:
            return self._only(method, "GET", self.audit.answer(chain.id, params))
        if tail == ["environments"]:
            listed = [self._environment_summary_json(chain, e) for e in chain.environments.values()]
            return self._only(method, "GET", {"environments": listed})
        if len(tail) >= 2 and tail[0] == "environments":
            env = self._environment(chain, tail[1])
            if len(tail) == 2:
                return self._only(method, "GET", self._environment_json(chain, env))
            if tail[2:] == ["promote"]:
                self._only(method, "POST", None)
                request = _parse(PromoteToChainEnvironmentRequest, body, raw)
                return 200, self._promote(chain, env, request, actor)
            if tail[2:] == ["chainlet_settings", "instance_types", "update"]:
                self._only(method, "POST", None)
                update = _parse(UpdateChainletEnvironmentInstanceTypeRequest, body, raw)
                return 200, self._update_instance_types(chain, env, update, actor)
            if tail[2:] == ["chainlet_settings", "autoscaling_settings"]:
                self._only(method, "PATCH", None)
                scaling = sim_autoscaling.parse(body)
                return 200, self._update_autoscaling(chain, env, scaling, actor)
        raise _Answer(404, {"error": f"No route {path}"})

    @staticmethod
    def _only(method: str, allowed: str, payload: Any) -> tuple[int, Any]:
        if method != allowed:
            raise _Answer(405, {"error": f"Method {method} not allowed"})
        return 200, payload

    # -- lookups ---------------------------------------------------------------------------------------

    def _chain(self, chain_id: str) -> ChainState:
        chain = self._chains.get(chain_id)
        if chain is None:
            raise _Answer(404, {"error": f"Chain {chain_id} not found"})
        return chain

    @staticmethod
    def _deployment(chain: ChainState, deployment_id: str) -> DeploymentState:
        deployment = chain.deployments.get(deployment_id)
        if deployment is None:
            raise _Answer(404, {"error": f"Chain deployment {deployment_id} not found"})
        return deployment

    @staticmethod
    def _environment(chain: ChainState, name: str) -> EnvironmentState:
        env = chain.environments.get(name)
        if env is None:
            raise _Answer(404, {"error": f"Environment {name} not found for chain {chain.name}"})
        return env

    # -- writes ----------------------------------------------------------------------------------------

    def _promote(
        self,
        chain: ChainState,
        env: EnvironmentState,
        request: PromoteToChainEnvironmentRequest,
        actor: Actor,
    ) -> Any:
        source = self._deployment(chain, request.deployment_id)
        if source.status in (DeploymentStatus.INACTIVE, DeploymentStatus.DEACTIVATING):
            raise _Answer(400, {"error": f"Deployment {source.id} is inactive; activate it before promoting"})
        if env.candidate is not None:
            raise _Answer(409, {"error": f"A promotion is already in progress for environment {env.name}"})
        if source.environment not in (None, env.name) or env.promotion.redeploy_on_promotion:
            # Already serving another environment, or the environment redeploys on every promotion:
            # Baseten builds a copy with a new id.
            target = self._copy(chain, source, {})
            sequence = NEW_DEPLOYMENT
            self._record_deployed(chain, target, env.name, actor)
        else:
            target, sequence = source, REUSED_DEPLOYMENT
        self._start_rollout(chain, env, target, sequence, request.scale_down_previous_deployment)
        self._record_promoted(chain, env, target, actor)
        return self._deployment_json(target)

    def _update_instance_types(
        self,
        chain: ChainState,
        env: EnvironmentState,
        request: UpdateChainletEnvironmentInstanceTypeRequest,
        actor: Actor,
    ) -> Any:
        for update in request.updates:
            if update.chainlet_name not in env.settings:
                raise _Answer(
                    400,
                    {"error": f"Chainlet {update.chainlet_name} does not exist in environment {env.name}"},
                )
            if update.instance_type_id not in self._types:
                raise _Answer(400, {"error": f"Instance type {update.instance_type_id} does not exist"})
        if env.candidate is not None:
            raise _Answer(409, {"error": f"A promotion is already in progress for environment {env.name}"})
        if all(env.settings[u.chainlet_name].instance_type_id == u.instance_type_id for u in request.updates):
            # Nothing changes: Baseten makes no deployment and says so.
            return {
                "requires_redeployment": False,
                "chain_deployment": None,
                "chainlet_environment_settings": [
                    self._setting_json(name, spec) for name, spec in env.settings.items()
                ],
            }
        changed = [
            u for u in request.updates if env.settings[u.chainlet_name].instance_type_id != u.instance_type_id
        ]
        for update in request.updates:
            env.settings[update.chainlet_name].instance_type_id = update.instance_type_id
        current = chain.deployments.get(env.current or "")
        base = current or next(iter(chain.deployments.values()))
        new = self._copy(chain, base, {u.chainlet_name: u.instance_type_id for u in request.updates})
        self._start_rollout(chain, env, new, NEW_DEPLOYMENT, True)
        for update in changed:
            self._record_instance_type(chain, env, new, update.chainlet_name, update.instance_type_id, actor)
        self._record_deployed(chain, new, env.name, actor)
        settings = [self._setting_json(name, spec) for name, spec in env.settings.items()]
        return {
            "requires_redeployment": True,
            "chain_deployment": self._deployment_json(new),
            "chainlet_environment_settings": settings,
        }

    def _update_autoscaling(
        self,
        chain: ChainState,
        env: EnvironmentState,
        request: UpdateChainletEnvironmentAutoscalingSettingsRequest,
        actor: Actor,
    ) -> Any:
        sim_autoscaling.check(env, request)
        promoting = chain.deployments.get(env.candidate or "")
        current = chain.deployments.get(env.current or "")
        # While a promotion is under way the change waits for it: the deployment being promoted takes it.
        serving = [promoting] if promoting is not None else [current] if current is not None else []
        changes = sim_autoscaling.apply(env, request, serving, self.clock(), self.step_seconds)
        status = "UNCHANGED" if not changes else "QUEUED" if promoting is not None else "ACCEPTED"
        if self._autoscaling_statuses:
            status = self._autoscaling_statuses.pop(0)
        for change in changes:
            self._record_scaling(chain, env, promoting or current, change, actor)
        return sim_autoscaling.answer(status, changes, env)

    def _copy(self, chain: ChainState, source: DeploymentState, types: dict[str, str]) -> DeploymentState:
        new_id = f"dep-{next(self._ids):05d}"
        specs = {
            n: dataclasses.replace(s, instance_type_id=types.get(n, s.instance_type_id), replicas_from=None)
            for n, s in source.chainlets.items()
        }
        created = max(d.created_at for d in chain.deployments.values()) + timedelta(hours=1)
        deployment = DeploymentState(new_id, chain.id, created, None, specs, DeploymentStatus.BUILDING)
        chain.deployments[new_id] = deployment
        return deployment

    def _start_rollout(
        self,
        chain: ChainState,
        env: EnvironmentState,
        deployment: DeploymentState,
        sequence: list[DeploymentStatus],
        scale_down: bool,
    ) -> None:
        failure = next(
            (f for f in self._failures if f.chainlet in deployment.chainlets and f.at_status in sequence),
            None,
        )
        for name, spec in env.settings.items():
            if name in deployment.chainlets:
                deployment.chainlets[name].take_scaling(spec)
                deployment.chainlets[name].replicas_from = None
        sequence = [*self._queued_statuses, *sequence]
        now = self.clock()
        for name in deployment.chainlets:
            deployment.logs.setdefault(name, []).extend(
                [LogLine(now + 0.1, "INFO", f"Starting {name}"), LogLine(now + 0.2, None, "Loading weights")]
            )
        deployment.rollout = RolloutState(now, sequence, env.name, scale_down, failure)
        deployment.status = sequence[0]
        env.candidate = deployment.id
        self._rolling.add((chain.id, deployment.id))

    # -- time ------------------------------------------------------------------------------------------

    def _chainlet_statuses(self, deployment: DeploymentState) -> dict[str, DeploymentStatus]:
        rollout = deployment.rollout
        if rollout is None:
            return {name: deployment.status for name in deployment.chainlets}
        step = int((self.clock() - rollout.started) / self.step_seconds) if self.step_seconds > 0 else 10**6
        last = len(rollout.sequence) - 1
        statuses: dict[str, DeploymentStatus] = {}
        for i, name in enumerate(deployment.chainlets):
            # Every other chainlet lags a step behind, so chainlet-level transitions are visible.
            index = max(0, min(step - (i % 2), last))
            status = rollout.sequence[index]
            failure = rollout.failure
            reached = failure is not None and index >= rollout.sequence.index(failure.at_status)
            if failure and failure.chainlet == name and reached:
                status = failure.status
            statuses[name] = status
        return statuses

    def _advance(self) -> None:
        """Bring every rollout up to the clock: statuses, and promotions that completed."""
        for chain_id, deployment_id in list(self._rolling):
            chain = self._chains[chain_id]
            deployment = chain.deployments[deployment_id]
            rollout = deployment.rollout
            assert rollout is not None
            statuses = self._chainlet_statuses(deployment)
            failed = [s for s in statuses.values() if s.is_failed]
            if failed:
                if rollout.failure is not None:
                    lines = deployment.logs.setdefault(rollout.failure.chainlet, [])
                    now = self.clock()
                    count = len(rollout.failure.log_lines)
                    module = rollout.failure.chainlet.lower()
                    for i, (level, message) in enumerate(rollout.failure.log_lines):
                        text = message.replace("{module}", module)
                        lines.append(LogLine(now - (count - i) * 0.01, level, text))
                    lines.append(LogLine(now, "INFO", "Stopping replica ab12c"))
                deployment.status = failed[0]
                deployment.rollout = None
                env = chain.environments[rollout.env]
                if env.candidate == deployment.id:
                    env.candidate = None
                self._rolling.discard((chain_id, deployment_id))
                deployment.frozen = statuses
                continue
            order = {s: i for i, s in enumerate(rollout.sequence)}
            deployment.status = min(statuses.values(), key=lambda s: order[s])
            ready_at = rollout.started + len(rollout.sequence) * self.step_seconds
            promotion = chain.environments[rollout.env].promotion
            # With ramp-up on, the environment moves its traffic over before it serves the new deployment.
            ramp = (promotion.ramp_up_duration_seconds or 0) if promotion.ramp_up_while_promoting else 0
            if rollout.overtaken and all(s is DeploymentStatus.ACTIVE for s in statuses.values()):
                deployment.rollout = None
                self._rolling.discard((chain_id, deployment_id))
            elif (
                all(s is DeploymentStatus.ACTIVE for s in statuses.values())
                and self.clock() >= ready_at + ramp
            ):
                self._complete(chain, deployment, rollout)

    def _complete(self, chain: ChainState, deployment: DeploymentState, rollout: RolloutState) -> None:
        env = chain.environments[rollout.env]
        previous = chain.deployments.get(env.current or "")
        if previous is not None and previous.id != deployment.id:
            previous.environment = None
            cleanup = env.promotion.promotion_cleanup_strategy or PromotionCleanupStrategy.SCALE_TO_ZERO
            if rollout.scale_down and cleanup is PromotionCleanupStrategy.DEACTIVATE:
                previous.status = DeploymentStatus.INACTIVE
            elif rollout.scale_down and cleanup is PromotionCleanupStrategy.SCALE_TO_ZERO:
                previous.status = DeploymentStatus.SCALED_TO_ZERO
        deployment.environment = env.name
        deployment.status = DeploymentStatus.ACTIVE
        deployment.rollout = None
        env.current, env.candidate = deployment.id, None
        self._rolling.discard((chain.id, deployment.id))

    # -- the audit log ---------------------------------------------------------------------------------

    def _wall(self) -> datetime:
        """Audit entries are stamped in wall time: the clock itself when it reads epoch seconds (the
        bot's test clock), else the time the simulator started plus the clock's progress."""
        now = self.clock()
        if now > 1e9:
            return datetime.fromtimestamp(now, UTC)
        started, at = self._wall_base
        return started + timedelta(seconds=now - at)

    def _record(
        self, chain: ChainState, event_type: str, data: dict[str, Any], actor: Actor, env: str | None
    ) -> None:
        self.audit.record(chain.id, self._wall(), event_type, data, actor, env)

    def _record_deployed(
        self, chain: ChainState, deployment: DeploymentState, env: str, actor: Actor
    ) -> None:
        self._record(chain, "CHAIN_DEPLOYED", sim_audit.deployed(chain, deployment), actor, env)

    def _record_promoted(
        self, chain: ChainState, env: EnvironmentState, deployment: DeploymentState, actor: Actor
    ) -> None:
        data = sim_audit.promoted(chain, env, deployment)
        self._record(chain, "CHAIN_DEPLOYMENT_PROMOTED", data, actor, env.name)

    def _record_instance_type(
        self,
        chain: ChainState,
        env: EnvironmentState,
        deployment: DeploymentState,
        chainlet: str,
        type_id: str,
        actor: Actor,
    ) -> None:
        chainlet_id = deployment.chainlet_ids.setdefault(chainlet, _chainlet_id(deployment.id, chainlet))
        data = sim_audit.instance_type_changed(
            chain, deployment, chainlet, chainlet_id, self._types[type_id].name
        )
        self._record(chain, "CHAINLET_INSTANCE_TYPE_CHANGED", data, actor, env.name)

    def _record_scaling(
        self,
        chain: ChainState,
        env: EnvironmentState,
        deployment: DeploymentState | None,
        change: ScalingChange,
        actor: Actor,
    ) -> None:
        deployment = deployment or next(iter(chain.deployments.values()))
        chainlet_id = deployment.chainlet_ids.setdefault(
            change.chainlet, _chainlet_id(deployment.id, change.chainlet)
        )
        data = sim_audit.scaling_changed(
            chain, deployment, change.chainlet, chainlet_id, change.before, change.after
        )
        self._record(chain, "CHAINLET_AUTOSCALING_SETTINGS_CHANGED", data, actor, env.name)

    # -- changes made from outside chainops (people in the UI, truss, other keys) -------------------------
    # Each makes the change as Baseten would and records it with `by` as the actor: an email is a person,
    # anything else the name of another API key. They raise Refused as the API would answer.

    def outside_promote(
        self, chain: str, env: str, deployment_id: str, *, by: str, source: str = "UI", **client: str | None
    ) -> str:
        """Someone promotes a deployment (UI, or a script with its own key); returns the one rolled out."""
        with self._lock:
            self._advance()
            state, environment = self._chain_env(chain, env)
            request = PromoteToChainEnvironmentRequest(deployment_id=deployment_id)
            promoted = self._promote(state, environment, request, outside_actor(by, source=source, **client))
            return str(promoted["id"])

    def outside_push(
        self,
        chain: str,
        env: str,
        *,
        by: str,
        source: str = "API",
        client_name: str | None = "truss",
        client_version: str | None = "0.11.2",
    ) -> str:
        """`truss chains push --environment env`: a new deployment, deployed and promoted in one call
        (not the REST promote endpoint); returns its id. A promotion under way in that environment is
        overtaken: its deployment is still built, but the environment is given to the push."""
        with self._lock:
            self._advance()
            state, environment = self._chain_env(chain, env)
            overtaken = state.deployments.get(environment.candidate or "")
            if overtaken is not None and overtaken.rollout is not None:
                overtaken.rollout.overtaken = True
            environment.candidate = None
            actor = outside_actor(by, source=source, client_name=client_name, client_version=client_version)
            base = state.deployments.get(environment.current or "") or next(iter(state.deployments.values()))
            new = self._copy(state, base, {})
            self._record_deployed(state, new, environment.name, actor)
            self._start_rollout(state, environment, new, NEW_DEPLOYMENT, True)
            self._record_promoted(state, environment, new, actor)
            return new.id

    def outside_instance_type(
        self, chain: str, env: str, chainlet: str, instance_type_id: str, *, by: str, source: str = "UI"
    ) -> None:
        with self._lock:
            self._advance()
            state, environment = self._chain_env(chain, env)
            request = UpdateChainletEnvironmentInstanceTypeRequest.model_validate(
                {"updates": [{"chainlet_name": chainlet, "instance_type_id": instance_type_id}]}
            )
            self._update_instance_types(state, environment, request, outside_actor(by, source=source))

    def outside_autoscaling(
        self, chain: str, env: str, chainlet: str, settings: dict[str, Any], *, by: str, source: str = "UI"
    ) -> str:
        """Someone changes a chainlet's autoscaling settings (by Baseten's field names, checked as the
        endpoint checks them); returns the status Baseten answered."""
        with self._lock:
            self._advance()
            state, environment = self._chain_env(chain, env)
            request = sim_autoscaling.parse(
                {"updates": [{"chainlet_name": chainlet, "autoscaling_settings": settings}]}
            )
            answer = self._update_autoscaling(state, environment, request, outside_actor(by, source=source))
            return str(answer["status"])

    def outside_deactivate(self, chain: str, deployment_id: str, *, by: str, source: str = "UI") -> None:
        """Someone deactivates a deployment no environment serves."""
        with self._lock:
            self._advance()
            state = self._chain_ref(chain)
            deployment = self._deployment(state, deployment_id)
            if any(deployment.id in (e.current, e.candidate) for e in state.environments.values()):
                raise Refused(400, {"error": f"Deployment {deployment.id} serves an environment"})
            deployment.status = DeploymentStatus.INACTIVE
            data = sim_audit.deployment_ref(state, deployment)
            self._record(state, "CHAIN_DEPLOYMENT_DEACTIVATED", data, outside_actor(by, source=source), None)

    def outside_activate(self, chain: str, deployment_id: str, *, by: str, source: str = "UI") -> None:
        """Someone reactivates an inactive deployment (the UI can; the REST API cannot)."""
        with self._lock:
            self._advance()
            state = self._chain_ref(chain)
            deployment = self._deployment(state, deployment_id)
            deployment.status = DeploymentStatus.ACTIVE
            data = sim_audit.deployment_ref(state, deployment)
            self._record(state, "CHAIN_DEPLOYMENT_ACTIVATED", data, outside_actor(by, source=source), None)

    def outside_event(
        self,
        chain: str,
        event_type: str,
        event_data: dict[str, Any] | None = None,
        *,
        by: str,
        source: str = "UI",
        environment: str | None = None,
    ) -> None:
        """An entry of any type (one Baseten adds later, say) without changing anything else."""
        with self._lock:
            state = self._chain_ref(chain)
            data = {"chain_id": state.id, "chain_name": state.name, **(event_data or {})}
            self._record(state, event_type, data, outside_actor(by, source=source), environment)

    def _chain_ref(self, ref: str) -> ChainState:
        """A chain by id, or by name when exactly one chain has it."""
        if ref in self._chains:
            return self._chains[ref]
        named = [c for c in self._chains.values() if c.name == ref]
        if len(named) > 1:
            ids = ", ".join(c.id for c in named)
            raise Refused(400, {"error": f"{len(named)} chains are named {ref} ({ids}): use the id"})
        if not named:
            raise Refused(404, {"error": f"Chain {ref} not found"})
        return named[0]

    def _chain_env(self, chain: str, env: str) -> tuple[ChainState, EnvironmentState]:
        state = self._chain_ref(chain)
        return state, self._environment(state, env)

    # -- JSON ------------------------------------------------------------------------------------------

    @staticmethod
    def _chain_json(chain: ChainState) -> Any:
        return Chain(
            id=chain.id,
            created_at=chain.created_at,
            name=chain.name,
            deployments_count=len(chain.deployments),
            team_name=chain.team_name,
        ).model_dump(mode="json")

    def _deployment_json(self, deployment: DeploymentState) -> Any:
        return self._deployment_model(deployment).model_dump(mode="json")

    def _deployment_model(self, deployment: DeploymentState) -> ChainDeployment:
        statuses = deployment.frozen or self._chainlet_statuses(deployment)
        chainlets = []
        for name, spec in deployment.chainlets.items():
            status = statuses.get(name, deployment.status)
            serving = (
                status is DeploymentStatus.ACTIVE and deployment.status is not DeploymentStatus.SCALED_TO_ZERO
            )
            chainlets.append(
                Chainlet(
                    id=deployment.chainlet_ids.setdefault(name, _chainlet_id(deployment.id, name)),
                    name=name,
                    autoscaling_settings=AutoscalingSettings.model_validate(spec.scaling())
                    if status is not DeploymentStatus.BUILDING
                    else None,
                    instance_type_name=self._types[spec.instance_type_id].name,
                    active_replica_count=spec.active_replicas(self.clock(), self.step_seconds)
                    if serving
                    else 0,
                    status=DeploymentStatus.SCALED_TO_ZERO
                    if deployment.status is DeploymentStatus.SCALED_TO_ZERO
                    else status,
                )
            )
        return ChainDeployment(
            id=deployment.id,
            created_at=deployment.created_at,
            chain_id=deployment.chain_id,
            environment=deployment.environment,
            chainlets=chainlets,
            status=deployment.status,
        )

    def _setting_json(self, name: str, spec: ChainletSpec) -> Any:
        setting = ChainletEnvironmentSettings(
            chainlet_name=name,
            autoscaling_settings=AutoscalingSettings.model_validate(spec.scaling()),
            instance_type=self._types[spec.instance_type_id],
        )
        return setting.model_dump(mode="json")

    def _environment_json(self, chain: ChainState, env: EnvironmentState) -> Any:
        current = chain.deployments.get(env.current or "")
        candidate = chain.deployments.get(env.candidate or "")
        model = ChainEnvironment(
            name=env.name,
            created_at=env.created_at,
            chain_id=chain.id,
            promotion_settings=env.promotion,
            chainlet_settings=[
                ChainletEnvironmentSettings.model_validate(self._setting_json(n, s))
                for n, s in env.settings.items()
            ],
            current_deployment=self._deployment_model(current) if current else None,
            candidate_deployment=self._deployment_model(candidate) if candidate else None,
        )
        return model.model_dump(mode="json")

    def _logs(
        self, chain: ChainState, deployment: DeploymentState, chainlet_id: str, query: dict[str, str]
    ) -> Any:
        model = self._deployment_model(deployment)
        chainlet = next((c for c in model.chainlets if c.id == chainlet_id), None)
        if chainlet is None:
            raise _Answer(404, {"error": f"Chainlet {chainlet_id} not found"})
        now = self.clock()
        lines = deployment.logs.get(chainlet.name) or [
            LogLine(now - 1, "INFO", f"{chainlet.name} is serving")
        ]
        try:
            return sim_logs.answer(lines, query, now)
        except sim_logs.LogQueryError as exc:
            raise _Answer(exc.status, exc.body) from None

    def _environment_summary_json(self, chain: ChainState, env: EnvironmentState) -> Any:
        """One item of the environments list, shaped as the OpenAPI's (model) EnvironmentV1."""
        first_name, first = next(iter(env.settings.items()))
        current = chain.deployments.get(env.current or "")
        candidate = chain.deployments.get(env.candidate or "")
        setting = self._setting_json(first_name, first)
        return {
            "name": env.name,
            "created_at": env.created_at.isoformat(),
            "model_id": chain.id,
            "current_deployment": self._model_deployment_json(current, first_name) if current else None,
            "candidate_deployment": self._model_deployment_json(candidate, first_name) if candidate else None,
            "in_progress_promotion": None,
            "autoscaling_settings": setting["autoscaling_settings"],
            "promotion_settings": env.promotion.model_dump(mode="json"),
            "instance_type": setting["instance_type"],
        }

    def _model_deployment_json(self, deployment: DeploymentState, chainlet_name: str) -> Any:
        """DeploymentV1: the environment list describes one chainlet's model deployment."""
        model = self._deployment_model(deployment)
        chainlet = next(c for c in model.chainlets if c.name == chainlet_name)
        return {
            "id": chainlet.id,
            "created_at": deployment.created_at.isoformat(),
            "name": deployment.id,
            "model_id": deployment.chain_id,
            "is_production": deployment.environment == "production",
            "is_development": False,
            "status": chainlet.status.value,
            "active_replica_count": chainlet.active_replica_count,
            "autoscaling_settings": chainlet.autoscaling_settings.model_dump(mode="json")
            if chainlet.autoscaling_settings
            else None,
            "instance_type_name": chainlet.instance_type_name,
            "environment": deployment.environment,
        }


def _chainlet_id(deployment_id: str, name: str) -> str:
    """Baseten's ids are plain tokens whatever the chainlet is called."""
    return f"cl-{deployment_id}-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _parse(model: type[BaseModel], body: Any, raw: bytes) -> Any:
    if isinstance(body, str) or body is None:
        raise _Answer(422, {"detail": [{"loc": ["body"], "msg": "Request body must be a JSON object"}]})
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        detail = [
            {"loc": ["body", *exc_loc], "msg": msg}
            for exc_loc, msg in ((e["loc"], e["msg"]) for e in exc.errors())
        ]
        raise _Answer(422, {"detail": detail}) from None


__all__ = ["BasetenSimulator", "RecordedRequest"]
