"""The one Baseten client of a process: typed methods over a shared httpx.Client.

Every request leaves through `_send`, which refuses names that cannot be path segments and holds every
request while Baseten's rate limit window is open (a 429 closes the gate for its `retry_after`). Reads are
retried on connection errors and 5xx with a bounded backoff; a rate limited call fails fast instead, with
the time to retry. Writes are sent once: after a write may have reached Baseten, a retry could promote
twice.

Longer than most modules: one typed method per endpoint chainops uses, all through `_send`, so the
timeout, rate-limit and retry discipline lives in one place instead of being repeated per endpoint.
"""

from __future__ import annotations

import logging
import math
import platform
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from bot import __version__
from bot.baseten.audit_log import (
    AuditLogEntry,
    AuditLogEventTypeGroup,
    AuditLogPosition,
    AuditLogRead,
    AuditLogSortDirection,
    ListAuditLogsResponse,
)
from bot.baseten.errors import (
    BasetenAuditLogUnavailable,
    BasetenError,
    BasetenForbidden,
    BasetenInvalidName,
    BasetenNotFound,
    BasetenRateLimited,
    BasetenRejected,
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
    UpdateAutoscalingSettingsResponse,
    UpdateChainletEnvironmentAutoscalingSettingsRequest,
    UpdateChainletEnvironmentInstanceTypeRequest,
    UpdateChainletEnvironmentInstanceTypeResponse,
    WireRequest,
)
from bot.runtime import metrics

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
AUDIT_LOG_PAGE_MAX = 200  # the most entries Baseten returns per audit-log page


def _path(template: str, params: dict[str, str]) -> str:
    """The URL path of an endpoint template; every segment a payload could carry is checked first."""

    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        value = params[name]
        kind = _SEGMENT_KINDS[name]
        if not _SEGMENT.fullmatch(value):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise BasetenInvalidName(
                # Plain text, shown as typed in Slack: quotes, not a code span, mark the name.
                f'"{shown}" is not a valid {kind}: use letters, digits, dashes, underscores and dots '
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

    def get_chain(self, chain_id: str) -> Chain:
        return self._get("/v1/chains/{chain_id}", {"chain_id": chain_id}, Chain, what=f"chain {chain_id}")

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

    # -- the audit log ---------------------------------------------------------------------------------

    def audit_log_page(
        self,
        chain_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        direction: AuditLogSortDirection | None = None,
        event_type_groups: Sequence[AuditLogEventTypeGroup] = (),
        environment_names: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> ListAuditLogsResponse:
        """One page of the chain's audit log, newest first unless `direction` says ASC.

        Raises BasetenAuditLogUnavailable when this Baseten has no audit log (404 for a chain that
        exists) or the key may not read it (403)."""
        params: dict[str, Any] = {"limit": max(1, min(limit, AUDIT_LOG_PAGE_MAX))}
        if cursor is not None:
            params["cursor"] = cursor
        if direction is not None:
            params["direction"] = direction.value
        if event_type_groups:
            params["event_type_groups"] = [g.value for g in event_type_groups]
        if environment_names:
            params["environment_names"] = list(environment_names)
        if start is not None:
            params["start_epoch_millis"] = _epoch_millis(start)
        if end is not None:
            params["end_epoch_millis"] = _epoch_millis(end)
        try:
            return self._get(
                "/v1/chains/{chain_id}/audit_logs",
                {"chain_id": chain_id},
                ListAuditLogsResponse,
                what=f"audit log of chain {chain_id}",
                params=params,
            )
        except BasetenForbidden:
            raise BasetenAuditLogUnavailable(chain_id, missing=False) from None
        except BasetenNotFound:
            self.get_chain(chain_id)  # a chain that is gone stays "not found"
            raise BasetenAuditLogUnavailable(chain_id, missing=True) from None

    def audit_log_newest(self, chain_id: str, **filters: Any) -> AuditLogPosition:
        """The position of the newest entry (nothing before it is "after" it); empty log: its start."""
        items = self.audit_log_page(chain_id, limit=1, **filters).items
        return (
            AuditLogPosition(entry_id=items[0].id, created=items[0].created) if items else AuditLogPosition()
        )

    def audit_log_after(
        self,
        chain_id: str,
        after: AuditLogPosition | None,
        *,
        event_type_groups: Sequence[AuditLogEventTypeGroup] = (),
        environment_names: Sequence[str] = (),
        end: datetime | None = None,
        page_size: int = 100,
        max_pages: int = 10,
    ) -> AuditLogRead:
        """The entries after `after`, oldest first, read in at most `max_pages` pages.

        Walks the log oldest first from the position's time and drops entries up to and including its
        entry (or, when that entry is not there, those older than it; entries in the same millisecond are
        then returned again rather than lost: a reader dedupes by id). A position that carries a cursor
        continues that walk; a cursor Baseten no longer accepts falls back to the position's time. A
        position that names only an entry is found first, newest first, within the same page budget."""
        after = after or AuditLogPosition()
        cursor = after.cursor
        filters: dict[str, Any] = {
            "event_type_groups": event_type_groups,
            "environment_names": environment_names,
            "end": end,
        }
        if after.entry_id is not None and after.created is None and cursor is None:
            after = self._locate(chain_id, after.entry_id, filters, page_size, max_pages)
        from_time = cursor is None  # entries read from a time include some the reader already had
        collected: list[AuditLogEntry] = []
        has_more = False
        pages = 0
        while pages < max_pages:
            try:
                page = self.audit_log_page(
                    chain_id,
                    cursor=cursor,
                    limit=page_size,
                    direction=AuditLogSortDirection.ASC,
                    start=after.created,
                    **filters,
                )
            except BasetenRejected:
                if cursor is None:
                    raise
                log.warning("Baseten refused an audit-log cursor of chain %s; reading from time", chain_id)
                cursor, collected, from_time = None, [], True
                continue
            pages += 1
            collected += page.items
            cursor = page.pagination.cursor
            has_more = page.pagination.has_more and cursor is not None
            if not has_more:
                break
        entries = _after(collected, after) if from_time else collected
        last = entries[-1] if entries else None
        position = (
            AuditLogPosition(entry_id=last.id, created=last.created, cursor=cursor if has_more else None)
            if last is not None
            else AuditLogPosition(
                entry_id=after.entry_id, created=after.created, cursor=cursor if has_more else None
            )
        )
        return AuditLogRead(entries=entries, position=position, has_more=has_more)

    def _locate(
        self, chain_id: str, entry_id: str, filters: dict[str, Any], page_size: int, max_pages: int
    ) -> AuditLogPosition:
        cursor = None
        for _ in range(max_pages):
            page = self.audit_log_page(chain_id, cursor=cursor, limit=page_size, **filters)
            found = next((e for e in page.items if e.id == entry_id), None)
            if found is not None:
                return AuditLogPosition(entry_id=found.id, created=found.created)
            cursor = page.pagination.cursor
            if not page.pagination.has_more or cursor is None:
                break
        raise BasetenNotFound(f"Baseten's audit log of chain {chain_id} has no entry {entry_id} (any more).")

    # -- writes ----------------------------------------------------------------------------------------

    def promote(
        self, chain_id: str, env_name: str, request: PromoteToChainEnvironmentRequest
    ) -> ChainDeployment:
        return self._write(
            "POST",
            "/v1/chains/{chain_id}/environments/{env_name}/promote",
            {"chain_id": chain_id, "env_name": env_name},
            request,
            ChainDeployment,
            what=f"deployment {request.deployment_id} in chain {chain_id} (environment {env_name})",
        )

    def update_instance_types(
        self, chain_id: str, env_name: str, request: UpdateChainletEnvironmentInstanceTypeRequest
    ) -> UpdateChainletEnvironmentInstanceTypeResponse:
        return self._write(
            "POST",
            "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/instance_types/update",
            {"chain_id": chain_id, "env_name": env_name},
            request,
            UpdateChainletEnvironmentInstanceTypeResponse,
            what=f"environment {env_name} in chain {chain_id}",
        )

    def update_autoscaling_settings(
        self, chain_id: str, env_name: str, request: UpdateChainletEnvironmentAutoscalingSettingsRequest
    ) -> UpdateAutoscalingSettingsResponse:
        """Only the settings named in `request` are sent (and changed). `ACCEPTED`/`QUEUED` mean Baseten
        will apply them: read the environment until they read back."""
        return self._write(
            "PATCH",
            "/v1/chains/{chain_id}/environments/{env_name}/chainlet_settings/autoscaling_settings",
            {"chain_id": chain_id, "env_name": env_name},
            request,
            UpdateAutoscalingSettingsResponse,
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

    def _write(
        self,
        method: str,
        template: str,
        path_params: dict[str, str],
        body: WireRequest,
        model: type[M],
        *,
        what: str,
    ) -> M:
        """Retried only when no connection was made, so a write can never reach Baseten twice.

        A rate limited write is never retried here: the person who asked is told when to try again."""
        payload = body.wire()
        for attempt in range(1, WRITE_CONNECT_ATTEMPTS + 1):
            try:
                return self._send(method, template, path_params, model, what=what, json=payload)
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


def _epoch_millis(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def _after(entries: list[AuditLogEntry], position: AuditLogPosition) -> list[AuditLogEntry]:
    """Entries read from a position's time that come after it (see `audit_log_after`)."""
    ids = [e.id for e in entries]
    if position.entry_id is not None and position.entry_id in ids:
        return entries[ids.index(position.entry_id) + 1 :]
    if position.created is None:
        return entries
    return [e for e in entries if e.created >= position.created and e.id != position.entry_id]


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


__all__ = ["BasetenClient", "BasetenError", "USER_AGENT"]
