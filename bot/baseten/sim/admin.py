"""The simulator's admin endpoints (`/_sim/...`, not part of Baseten's API): changes made "from outside"
chainops, as a person in Baseten's UI, `truss chains push` or a script with its own key would make them,
and the audit log's availability.

    POST /_sim/outside/promote      {"chain", "environment", "deployment", "by", "source"?, "client_name"?, "client_version"?}
    POST /_sim/outside/push         {"chain", "environment", "by", "source"?, "client_name"?, "client_version"?}
    POST /_sim/outside/instance-type {"chain", "environment", "chainlet", "instance_type", "by", "source"?}
    POST /_sim/outside/autoscaling  {"chain", "environment", "chainlet", "settings": {...}, "by", "source"?}
    POST /_sim/outside/deactivate   {"chain", "deployment", "by", "source"?}
    POST /_sim/outside/activate     {"chain", "deployment", "by", "source"?}
    POST /_sim/outside/event        {"chain", "event_type", "event_data"?, "environment"?, "by", "source"?}
    POST /_sim/audit_log            {"refuse": 404 | 403 | null}

`by` is an email (a person) or an API key's name; `chain` an id, or a name only one chain has."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.baseten.sim.state import Refused
from bot.baseten.sim.transport import BasetenSimulator

PREFIX = "/_sim/"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Outside(_Body):
    chain: str = Field(min_length=1)
    by: str = Field(min_length=1)
    source: str = Field(default="UI", min_length=1)


class _Promote(_Outside):
    environment: str = Field(min_length=1)
    deployment: str = Field(min_length=1)
    client_name: str | None = None
    client_version: str | None = None


class _Push(_Outside):
    environment: str = Field(min_length=1)
    source: str = Field(default="API", min_length=1)
    client_name: str | None = "truss"
    client_version: str | None = "0.11.2"


class _InstanceType(_Outside):
    environment: str = Field(min_length=1)
    chainlet: str = Field(min_length=1)
    instance_type: str = Field(min_length=1)


class _Autoscaling(_Outside):
    environment: str = Field(min_length=1)
    chainlet: str = Field(min_length=1)
    settings: dict[str, Any] = Field(min_length=1)


class _Deployment(_Outside):
    deployment: str = Field(min_length=1)


class _Event(_Outside):
    event_type: str = Field(min_length=1)
    event_data: dict[str, Any] = Field(default_factory=dict)
    environment: str | None = None


class _AuditLog(_Body):
    refuse: Literal[403, 404] | None = None


def handle(sim: BasetenSimulator, method: str, path: str, body: Any) -> tuple[int, Any]:
    """The answer to an admin request: (HTTP status, JSON body)."""
    if method != "POST":
        return 405, {"error": f"Method {method} not allowed"}
    action = path.partition("?")[0].removeprefix(PREFIX)
    if not isinstance(body, dict):
        return 400, {"error": "The body must be a JSON object"}
    try:
        return 200, _dispatch(sim, action, body)
    except ValidationError as exc:
        first = exc.errors()[0]
        return 400, {"error": f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"}
    except Refused as refused:
        return refused.status, refused.body


def _dispatch(sim: BasetenSimulator, action: str, body: dict[str, Any]) -> dict[str, Any]:
    if action == "audit_log":
        sim.audit_log_refuses(_AuditLog.model_validate(body).refuse)
        return {"ok": True}
    if action == "outside/promote":
        p = _Promote.model_validate(body)
        client = {"client_name": p.client_name, "client_version": p.client_version}
        deployment = sim.outside_promote(
            p.chain, p.environment, p.deployment, by=p.by, source=p.source, **client
        )
        return {"ok": True, "deployment_id": deployment}
    if action == "outside/push":
        u = _Push.model_validate(body)
        deployment = sim.outside_push(
            u.chain,
            u.environment,
            by=u.by,
            source=u.source,
            client_name=u.client_name,
            client_version=u.client_version,
        )
        return {"ok": True, "deployment_id": deployment}
    if action == "outside/instance-type":
        t = _InstanceType.model_validate(body)
        sim.outside_instance_type(
            t.chain, t.environment, t.chainlet, t.instance_type, by=t.by, source=t.source
        )
        return {"ok": True}
    if action == "outside/autoscaling":
        a = _Autoscaling.model_validate(body)
        status = sim.outside_autoscaling(
            a.chain, a.environment, a.chainlet, a.settings, by=a.by, source=a.source
        )
        return {"ok": True, "status": status}
    if action in ("outside/deactivate", "outside/activate"):
        d = _Deployment.model_validate(body)
        change = sim.outside_deactivate if action.endswith("deactivate") else sim.outside_activate
        change(d.chain, d.deployment, by=d.by, source=d.source)
        return {"ok": True}
    if action == "outside/event":
        e = _Event.model_validate(body)
        sim.outside_event(
            e.chain, e.event_type, e.event_data, by=e.by, source=e.source, environment=e.environment
        )
        return {"ok": True}
    raise Refused(404, {"error": f"No admin action {action}"})
