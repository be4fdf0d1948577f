"""The one Baseten client of a process: typed methods over a shared httpx.Client.

Every request leaves through `_send`, which refuses names that cannot be path segments and holds every
request while Baseten's rate limit window is open (a 429 closes the gate for its `retry_after`). Reads are
retried on connection errors and 5xx with a bounded backoff; a rate limited call fails fast instead, with
the time to retry. Writes are sent once: after a write may have reached Baseten, a retry could promote
twice.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from bot import __version__, metrics
from bot.baseten.errors import (
    BasetenError,
    BasetenInvalidName,
    BasetenRateLimited,
    BasetenUnavailable,
    error_for,
    retry_after_of,
)
from bot.baseten.gate import RateLimitGate
from bot.baseten.models import (
    Chain,
    ChainDeployment,
    ChainDeployments,
    ChainEnvironment,
    Chains,
    Environments,
    GetLogsResponse,
    InstanceType,
    InstanceTypePrice,
    InstanceTypePrices,
    InstanceTypes,
    LogEntry,
    LogLevel,
    PromoteToChainEnvironmentRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
    UpdateChainletEnvironmentInstanceTypeResponse,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

USER_AGENT = f"chainops/{__version__} (Python/{platform.python_version()})"
WRITE_CONNECT_ATTEMPTS = 3
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
# When a 429 names no window, hold requests this long rather than hammering a limit we cannot see.
DEFAULT_RETRY_AFTER = 5.0
# Baseten's ids and names are plain tokens; `.` and `..` would make the URL name another endpoint.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_SEGMENT_KINDS = {
    "chain_id": "chain id",
    "chain_deployment_id": "deployment id",
    "chainlet_id": "chainlet id",
    "env_name": "environment name",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
LOG_WINDOW_MAX_MS = 7 * 24 * 3600 * 1000  # Baseten refuses log windows longer than seven days


def _path(template: str, params: dict[str, str]) -> str:
    """The URL path of an endpoint template; every segment a payload could carry is checked first."""

    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        value = params[name]
        kind = _SEGMENT_KINDS[name]
        if not _SEGMENT.fullmatch(value):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise BasetenInvalidName(
                f"`{shown}` is not a valid {kind}: use letters, digits, `-`, `_` and `.` "
                "(starting with a letter or digit).",
                kind=kind.split()[0],
            )
        return quote(value, safe="")

    return _PLACEHOLDER.sub(segment, template)


class BasetenClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.baseten.co",
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        read_attempts: int = 4,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_connections: int = 64,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._read_attempts = read_attempts
        self._max_backoff = max_backoff
        self._sleep = sleep
        self.gate = RateLimitGate(clock)

    def close(self) -> None:
        self._http.close()

    # -- reads -----------------------------------------------------------------------------------------

    def list_chains(self) -> list[Chain]:
        return self._get("/v1/chains", {}, Chains, what="chains").chains

    def list_deployments(self, chain_id: str) -> list[ChainDeployment]:
        deployments = self._get(
            "/v1/chains/{chain_id}/deployments",
            {"chain_id": chain_id},
            ChainDeployments,
            what=f"deployments of chain {chain_id}",
        ).deployments
        return sorted(deployments, key=lambda d: d.created_at, reverse=True)

    def get_deployment(self, chain_id: str, deployment_id: str) -> ChainDeployment:
        return self._get(
            "/v1/chains/{chain_id}/deployments/{chain_deployment_id}",
            {"chain_id": chain_id, "chain_deployment_id": deployment_id},
            ChainDeployment,
            what=f"deployment {deployment_id} in chain {chain_id}",
        )

    def list_environment_names(self, chain_id: str) -> list[str]:
        envs = self._get(
            "/v1/chains/{chain_id}/environments",
            {"chain_id": chain_id},
            Environments,
            what=f"environments of chain {chain_id}",
        ).environments
        return [e.name for e in envs]

    def get_environment(
        self, chain_id: str, env_name: str, *, within: float | None = None
    ) -> ChainEnvironment:
        """`within`: answer in that many seconds or raise BasetenUnavailable with `timed_out`, tried once."""
        return self._get(
            "/v1/chains/{chain_id}/environments/{env_name}",
            {"chain_id": chain_id, "env_name": env_name},
            ChainEnvironment,
            what=f"environment {env_name} in chain {chain_id}",
            within=within,
        )

    def list_instance_types(self) -> list[InstanceType]:
        return self._get("/v1/instance_types", {}, InstanceTypes, what="instance types").instance_types

    def list_instance_type_prices(self) -> list[InstanceTypePrice]:
        return self._get(
            "/v1/instance_type_prices", {}, InstanceTypePrices, what="instance type prices"
        ).instance_types

    def chainlet_logs(
        self,
        chain_id: str,
        deployment_id: str,
        chainlet_id: str,
        *,
        start_epoch_millis: int | None = None,
        end_epoch_millis: int | None = None,
        min_level: LogLevel | None = None,
        limit: int = 100,
    ) -> list[LogEntry]:
        """The newest `limit` lines in the window, oldest first.

        Without `min_level` Baseten returns every line, including those it found no level for (often the
        exception that ended a process); any `min_level` drops those."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 1000)), "direction": "desc"}
        if end_epoch_millis is not None:
            params["end_epoch_millis"] = end_epoch_millis
        if start_epoch_millis is not None:
            if end_epoch_millis is not None:
                start_epoch_millis = max(start_epoch_millis, end_epoch_millis - LOG_WINDOW_MAX_MS)
            params["start_epoch_millis"] = start_epoch_millis
        if min_level is not None:
            params["min_level"] = min_level.value
        resp = self._get(
            "/v1/chains/{chain_id}/deployments/{chain_deployment_id}/chainlets/{chainlet_id}/logs",
            {"chain_id": chain_id, "chain_deployment_id": deployment_id, "chainlet_id": chainlet_id},
            GetLogsResponse,
            what=f"logs of chainlet {chainlet_id}",
            params=params,
        )
        return sorted(resp.logs, key=lambda e: int(e.timestamp) if e.timestamp.isdigit() else 0)

    # -- writes ----------------------------------------------------------------------------------------

    def promote(
        self, chain_id: str, env_name: str, request: PromoteToChainEnvironmentRequest
    ) -> ChainDeployment:
        return self._post(
            "/v1/chains/{chain_id}/environments/{env_name}/promote",
            {"chain_id": chain_id, "env_name": env_name},
            request,
            ChainDeployment,
            what=f"deployment {request.deployment_id} in chain {chain_id} (environment {env_name})",
        )

    def update_instance_types(
        self, chain_id: str, env_name: str, request: UpdateChainletEnvironmentInstanceTypeRequest
    ) -> UpdateChainletEnvironmentInstanceTypeResponse:
        return self._post(
            "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/instance_types/update",
            {"chain_id": chain_id, "env_name": env_name},
            request,
            UpdateChainletEnvironmentInstanceTypeResponse,
            what=f"environment {env_name} in chain {chain_id}",
        )

    # -- transport -------------------------------------------------------------------------------------

    def _get(
        self,
        template: str,
        path_params: dict[str, str],
        model: type[M],
        *,
        what: str,
        params: dict[str, Any] | None = None,
        within: float | None = None,
    ) -> M:
        delay = 0.5
        # A read with a budget is tried once: a retry would spend the budget its caller set.
        attempts = 1 if within is not None else self._read_attempts
        timeout = None if within is None else httpx.Timeout(within)
        for attempt in range(1, attempts + 1):
            try:
                return self._send(
                    "GET", template, path_params, model, what=what, params=params, timeout=timeout
                )
            except BasetenUnavailable as exc:
                if attempt == attempts:
                    raise
                log.warning("Baseten read %s failed (%s); retrying in %.1fs", template, exc.message, delay)
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")

    def _post(
        self, template: str, path_params: dict[str, str], body: BaseModel, model: type[M], *, what: str
    ) -> M:
        """Retried only when no connection was made, so a write can never reach Baseten twice.

        A rate limited write is never retried here: the person who asked is told when to try again."""
        payload = body.model_dump(mode="json")
        for attempt in range(1, WRITE_CONNECT_ATTEMPTS + 1):
            try:
                return self._send("POST", template, path_params, model, what=what, json=payload)
            except BasetenUnavailable as exc:
                if exc.sent or attempt == WRITE_CONNECT_ATTEMPTS:
                    raise
                log.warning("could not connect to Baseten for %s; retrying", template)
                self._sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        template: str,
        path_params: dict[str, str],
        model: type[M],
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: httpx.Timeout | None = None,
    ) -> M:
        """The one way a request reaches Baseten. `template` is the endpoint as the OpenAPI names it."""
        write = method != "GET"
        path = _path(template, path_params)
        held = self.gate.remaining()
        if held > 0:
            metrics.baseten_held(method, path)
            raise BasetenRateLimited(held, write=write, sent=False)
        started, status = time.monotonic(), "unreachable"  # a status per request, for /metrics
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                json=json,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            status = str(response.status_code)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BasetenUnavailable(f"Could not reach Baseten ({type(exc).__name__}).", sent=False) from None
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise BasetenUnavailable(
                f"Baseten did not answer in time ({type(exc).__name__}).", timed_out=True
            ) from None
        except httpx.TransportError as exc:
            raise BasetenUnavailable(f"Could not reach Baseten ({type(exc).__name__}).") from None
        finally:
            metrics.baseten_request(method, path, status, time.monotonic() - started)
        body = _json_or_text(response)
        if response.status_code == 429:
            wait = retry_after_of(body, response.headers.get("Retry-After"), DEFAULT_RETRY_AFTER)
            self.gate.close_for(wait)
            metrics.baseten_rate_limit_wait(wait)
            log.warning("Baseten rate limited %s %s; holding every request for %.0fs", method, template, wait)
            raise BasetenRateLimited(wait, write=write, sent=True)
        if response.is_error:
            raise error_for(
                response.status_code, body, what=what, env=path_params.get("env_name"), write=write
            )
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise BasetenError(
                f"Baseten answered {method} {template} with an unexpected body ({exc.error_count()} problems)."
            ) from None


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


__all__ = ["BasetenClient", "BasetenError", "USER_AGENT"]
