"""The one Baseten client of a process: typed methods over a shared httpx.Client.

Reads are retried on connection errors, 5xx and 429 (honouring `retry_after`) with a bounded backoff.
Writes are sent once: after a write may have reached Baseten, a retry could promote twice.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from bot import __version__, metrics
from bot.baseten.errors import BasetenError, BasetenRateLimited, BasetenUnavailable, error_for
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


def _seg(value: str) -> str:
    """Quote a path segment so user input can never change the path."""
    return quote(value, safe="")


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
        max_connections: int = 64,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Api-Key {api_key}", "User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._read_attempts = read_attempts
        self._max_backoff = max_backoff
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    # -- reads -----------------------------------------------------------------------------------------

    def list_chains(self) -> list[Chain]:
        return self._get("/v1/chains", Chains, what="chains").chains

    def list_deployments(self, chain_id: str) -> list[ChainDeployment]:
        path = f"/v1/chains/{_seg(chain_id)}/deployments"
        deployments = self._get(path, ChainDeployments, what=f"deployments of chain {chain_id}").deployments
        return sorted(deployments, key=lambda d: d.created_at, reverse=True)

    def get_deployment(self, chain_id: str, deployment_id: str) -> ChainDeployment:
        path = f"/v1/chains/{_seg(chain_id)}/deployments/{_seg(deployment_id)}"
        what = f"deployment {deployment_id} in chain {chain_id}"
        return self._get(path, ChainDeployment, what=what)

    def list_environment_names(self, chain_id: str) -> list[str]:
        path = f"/v1/chains/{_seg(chain_id)}/environments"
        envs = self._get(path, Environments, what=f"environments of chain {chain_id}").environments
        return [e.name for e in envs]

    def get_environment(self, chain_id: str, env_name: str) -> ChainEnvironment:
        path = f"/v1/chains/{_seg(chain_id)}/environments/{_seg(env_name)}"
        return self._get(path, ChainEnvironment, what=f"environment {env_name} in chain {chain_id}")

    def list_instance_types(self) -> list[InstanceType]:
        return self._get("/v1/instance_types", InstanceTypes, what="instance types").instance_types

    def list_instance_type_prices(self) -> list[InstanceTypePrice]:
        return self._get(
            "/v1/instance_type_prices", InstanceTypePrices, what="instance type prices"
        ).instance_types

    def chainlet_logs(
        self,
        chain_id: str,
        deployment_id: str,
        chainlet_id: str,
        *,
        min_level: LogLevel = LogLevel.ERROR,
        limit: int = 20,
    ) -> list[LogEntry]:
        path = (
            f"/v1/chains/{_seg(chain_id)}/deployments/{_seg(deployment_id)}"
            f"/chainlets/{_seg(chainlet_id)}/logs"
        )
        params = {"min_level": min_level.value, "limit": limit, "direction": "desc"}
        resp = self._get(path, GetLogsResponse, what=f"logs of chainlet {chainlet_id}", params=params)
        return sorted(resp.logs, key=lambda e: int(e.timestamp) if e.timestamp.isdigit() else 0)

    # -- writes ----------------------------------------------------------------------------------------

    def promote(
        self, chain_id: str, env_name: str, request: PromoteToChainEnvironmentRequest
    ) -> ChainDeployment:
        path = f"/v1/chains/{_seg(chain_id)}/environments/{_seg(env_name)}/promote"
        what = f"deployment {request.deployment_id} in chain {chain_id} (environment {env_name})"
        return self._post(path, request, ChainDeployment, what=what)

    def update_instance_types(
        self, chain_id: str, env_name: str, request: UpdateChainletEnvironmentInstanceTypeRequest
    ) -> UpdateChainletEnvironmentInstanceTypeResponse:
        path = (
            f"/v1/chains/{_seg(chain_id)}/environments/{_seg(env_name)}"
            "/chainlet_settings/instance_types/update"
        )
        what = f"environment {env_name} in chain {chain_id}"
        return self._post(path, request, UpdateChainletEnvironmentInstanceTypeResponse, what=what)

    # -- transport -------------------------------------------------------------------------------------

    def _get(self, path: str, model: type[M], *, what: str, params: dict[str, Any] | None = None) -> M:
        delay = 0.5
        for attempt in range(1, self._read_attempts + 1):
            try:
                return self._send("GET", path, model, what=what, params=params)
            except (BasetenUnavailable, BasetenRateLimited) as exc:
                if attempt == self._read_attempts:
                    raise
                wait = exc.retry_after if isinstance(exc, BasetenRateLimited) else delay
                wait = min(wait, self._max_backoff)
                if isinstance(exc, BasetenRateLimited):
                    metrics.baseten_rate_limit_wait(wait)
                log.warning("Baseten read %s failed (%s); retrying in %.1fs", path, exc.message, wait)
                self._sleep(wait)
                delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")

    def _post(self, path: str, body: BaseModel, model: type[M], *, what: str) -> M:
        """Retried only when no connection was made, so a write can never reach Baseten twice."""
        for attempt in range(1, WRITE_CONNECT_ATTEMPTS + 1):
            try:
                return self._send("POST", path, model, what=what, json=body.model_dump(mode="json"))
            except BasetenUnavailable as exc:
                if exc.sent or attempt == WRITE_CONNECT_ATTEMPTS:
                    raise
                log.warning("could not connect to Baseten for %s; retrying", path)
                self._sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        what: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> M:
        started, status = time.monotonic(), "unreachable"  # a status per request, for /metrics
        try:
            response = self._http.request(method, path, params=params, json=json)
            status = str(response.status_code)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BasetenUnavailable(f"Could not reach Baseten ({type(exc).__name__}).", sent=False) from None
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise BasetenUnavailable(f"Baseten did not answer in time ({type(exc).__name__}).") from None
        except httpx.TransportError as exc:
            raise BasetenUnavailable(f"Could not reach Baseten ({type(exc).__name__}).") from None
        finally:
            metrics.baseten_request(method, path, status, time.monotonic() - started)
        body = _json_or_text(response)
        if response.is_error:
            raise error_for(response.status_code, body, what=what)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise BasetenError(
                f"Baseten answered {method} {path} with an unexpected body ({exc.error_count()} problems)."
            ) from None


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


__all__ = ["BasetenClient", "BasetenError", "USER_AGENT"]
