"""The simulator's audit log: an entry for every change made through it (or "from outside"), answered as
`GET /v1/chains/{chain_id}/audit_logs` in the 2026-08 spec: newest first, cursor paging, filters.

Which event types fall in which filter group is not published; the grouping below follows the names."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.baseten.audit_log import (
    AuditLogEventTypeGroup,
    AuditLogSortDirection,
    AuditLogSource,
    api_key_prefix,
)
from bot.baseten.sim.state import ChainState, DeploymentState, EnvironmentState, Refused

GROUPS: dict[str, str] = {
    "CHAIN_DEPLOYED": "DEPLOYED",
    "MODEL_DEPLOYED": "DEPLOYED",
    "MODEL_DEPLOYMENT_RETRIED": "DEPLOYED",
    "CHAIN_DEPLOYMENT_PROMOTED": "PROMOTED",
    "MODEL_DEPLOYMENT_PROMOTED": "PROMOTED",
    "MODEL_PROMOTION_CONTROL_ACTION": "PROMOTED",
    "CHAIN_DEPLOYMENT_ACTIVATED": "ACTIVATED_DEACTIVATED",
    "CHAIN_DEPLOYMENT_DEACTIVATED": "ACTIVATED_DEACTIVATED",
    "MODEL_DEPLOYMENT_ACTIVATED": "ACTIVATED_DEACTIVATED",
    "MODEL_DEPLOYMENT_DEACTIVATED": "ACTIVATED_DEACTIVATED",
    "CHAINLET_AUTOSCALING_SETTINGS_CHANGED": "AUTOSCALING_SETTINGS",
    "MODEL_DEPLOYMENT_AUTOSCALING_SETTINGS_CHANGED": "AUTOSCALING_SETTINGS",
    "MODEL_DEPLOYMENT_REQUEST_BACKPRESSURE_SETTINGS_CHANGED": "REQUEST_BACKPRESSURE_SETTINGS",
    "CHAINLET_INSTANCE_TYPE_CHANGED": "INSTANCE_TYPE_CHANGED",
    "MODEL_DEPLOYMENT_INSTANCE_TYPE_CHANGED": "INSTANCE_TYPE_CHANGED",
    "CHAIN_ENVIRONMENT_CREATED": "ENVIRONMENT_SETTINGS",
    "CHAIN_ENVIRONMENT_UPDATED": "ENVIRONMENT_SETTINGS",
    "ENVIRONMENT_CREATED": "ENVIRONMENT_SETTINGS",
    "ENVIRONMENT_UPDATED": "ENVIRONMENT_SETTINGS",
    "ENVIRONMENT_DELETED": "ENVIRONMENT_SETTINGS",
    "REPLICA_TERMINATED": "REPLICA_TERMINATED",
    "CHAIN_DEPLOYMENT_DELETED": "DELETED",
    "CHAIN_DELETED": "DELETED",
    "MODEL_DEPLOYMENT_DELETED": "DELETED",
    "MODEL_DELETED": "DELETED",
}
_USER_AGENT = re.compile(r"([A-Za-z][\w.-]*)/([\w.+-]+)")


@dataclass(frozen=True)
class Actor:
    """Who made a change and through what: the `actor`, `source` and client fields of an entry."""

    type: str
    email: str | None = None
    api_key_prefix: str | None = None
    api_key_name: str | None = None
    source: str | None = "API"
    client_name: str | None = None
    client_version: str | None = None

    def actor_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "email": self.email,
            "api_key_prefix": self.api_key_prefix,
            "api_key_name": self.api_key_name,
        }


def api_actor(api_key: str, user_agent: str, key_names: dict[str, str]) -> Actor:
    """A request made with an API key: the key's prefix (and name, if one was given), the client from
    the User-Agent (`truss/0.9.1`, `chainops/0.4.0 (...)`)."""
    prefix = api_key_prefix(api_key)
    agent = _USER_AGENT.match(user_agent or "")
    return Actor(
        "API_KEY",
        api_key_prefix=prefix,
        api_key_name=key_names.get(prefix),
        source="API",
        client_name=agent.group(1) if agent else None,
        client_version=agent.group(2) if agent else None,
    )


def outside_actor(
    by: str, *, source: str = "UI", client_name: str | None = None, client_version: str | None = None
) -> Actor:
    """Someone else: a person (an email) or another API key (its name; its prefix derived from it)."""
    AuditLogSource(source)  # any string, as Baseten may add sources; never empty
    if "@" in by:
        return Actor("USER", email=by, source=source, client_name=client_name, client_version=client_version)
    return Actor(
        "API_KEY",
        api_key_prefix=hashlib.sha256(by.encode()).hexdigest()[:8],  # another key: a prefix of its own
        api_key_name=by,
        source=source,
        client_name=client_name,
        client_version=client_version,
    )


@dataclass
class AuditRecord:
    seq: int
    created: datetime
    event_type: str
    event_data: dict[str, Any]
    actor: Actor
    environment: str | None  # what `environment_names` filters on

    @property
    def id(self) -> str:
        return f"ale-{self.seq:08d}"

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "event_type": self.event_type,
            "event_data": self.event_data,
            "source": self.actor.source,
            "actor": self.actor.actor_json(),
            "client_name": self.actor.client_name,
            "client_version": self.actor.client_version,
            "client_session_id": None,
        }


@dataclass
class AuditTrail:
    """Every chain's entries, oldest first, and whether the endpoint exists for the caller."""

    records: dict[str, list[AuditRecord]] = field(default_factory=dict)
    # None: the endpoint answers; 404: an older Baseten without it; 403: a key without access.
    refusal: int | None = None
    _seq: int = 0

    def record(
        self,
        chain_id: str,
        created: datetime,
        event_type: str,
        event_data: dict[str, Any],
        actor: Actor,
        environment: str | None,
    ) -> AuditRecord:
        self._seq += 1
        entries = self.records.setdefault(chain_id, [])
        if entries and created < entries[-1].created:
            created = entries[-1].created  # the log's order is its time order
        entry = AuditRecord(
            self._seq, created, event_type, {"event_type": event_type, **event_data}, actor, environment
        )
        entries.append(entry)
        return entry

    def answer(self, chain_id: str, params: httpx.QueryParams) -> dict[str, Any]:
        if self.refusal == 404:
            raise Refused(404, {"detail": "Not Found"})
        if self.refusal == 403:
            raise Refused(403, {"error": "This API key may not read the audit log"})
        limit = _int(params, "limit", 20)
        if not 1 <= limit <= 200:
            raise _invalid("limit", "Input should be between 1 and 200")
        direction = params.get("direction", "DESC")
        if direction not in ("DESC", "ASC"):
            raise _invalid("direction", "Input should be 'DESC' or 'ASC'")
        groups = params.get_list("event_type_groups")
        for group in groups:
            if not AuditLogEventTypeGroup(group).known:
                raise _invalid("event_type_groups", f"Unknown event type group {group!r}")
        envs = set(params.get_list("environment_names"))
        sources = set(params.get_list("sources"))
        start, end = _int(params, "start_epoch_millis", None), _int(params, "end_epoch_millis", None)
        entries = [
            e
            for e in self.records.get(chain_id, [])
            if (not groups or GROUPS.get(e.event_type) in groups)
            and (not envs or e.environment in envs)
            and (not sources or e.actor.source in sources)
            and (start is None or _millis(e.created) >= start)
            and (end is None or _millis(e.created) <= end)
        ]
        cursor = params.get("cursor")
        if cursor:
            # A cursor carries its walk's direction (the query's is ignored) and the last entry it gave.
            direction, after = _read_cursor(cursor)
            if direction == "ASC":
                entries = [e for e in entries if e.seq > after]
            else:
                entries = [e for e in entries if e.seq < after]
        ordered = entries if direction == "ASC" else list(reversed(entries))
        page, more = ordered[:limit], len(ordered) > limit
        return {
            "items": [e.json() for e in page],
            "pagination": {"has_more": more, "cursor": _cursor(direction, page[-1].seq) if more else None},
        }


# -- event payloads (event_data), shaped as the spec's AuditLogEvent…V1 schemas -------------------------


def deployment_ref(chain: ChainState, deployment: DeploymentState) -> dict[str, Any]:
    return {
        "chain_id": chain.id,
        "chain_name": chain.name,
        "chain_deployment_id": deployment.id,
        "chain_deployment_name": None,
    }


def deployed(chain: ChainState, deployment: DeploymentState) -> dict[str, Any]:
    return {**deployment_ref(chain, deployment), "is_primary": False, "publish": True}


def promoted(chain: ChainState, env: EnvironmentState, deployment: DeploymentState) -> dict[str, Any]:
    return {
        **deployment_ref(chain, deployment),
        "environment_name": env.name,
        "environment_id": f"env-{chain.id}-{env.name}",
    }


def instance_type_changed(
    chain: ChainState, deployment: DeploymentState, chainlet: str, chainlet_id: str, type_name: str
) -> dict[str, Any]:
    return {
        **deployment_ref(chain, deployment),
        "chainlet_name": chainlet,
        "chainlet_id": chainlet_id,
        "instance_type_name": type_name,
    }


def scaling_changed(
    chain: ChainState,
    deployment: DeploymentState,
    chainlet: str,
    chainlet_id: str,
    before: dict[str, int | None],
    after: dict[str, int | None],
) -> dict[str, Any]:
    return {
        **after,
        **deployment_ref(chain, deployment),
        "chainlet_name": chainlet,
        "chainlet_id": chainlet_id,
        "previous_settings": before,
    }


def _millis(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _int(params: httpx.QueryParams, name: str, default: int | None) -> Any:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _invalid(name, "Input should be a valid integer") from None


def _invalid(name: str, message: str) -> Refused:
    return Refused(422, {"detail": [{"loc": ["query", name], "msg": message}]})


def _cursor(direction: str, seq: int) -> str:
    raw = json.dumps({"d": direction, "k": seq}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        direction, seq = data["d"], int(data["k"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Refused(400, {"error": "Invalid pagination cursor"}) from None
    if direction not in (AuditLogSortDirection.ASC, AuditLogSortDirection.DESC):
        raise Refused(400, {"error": "Invalid pagination cursor"})
    return str(direction), seq
