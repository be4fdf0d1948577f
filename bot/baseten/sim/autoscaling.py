"""The simulator's `PATCH .../chainlet_settings/autoscaling_settings`: a strict body (400 for a key the
schema does not define, a chainlet the environment lacks, a value no chainlet can run with), `UNCHANGED`
when nothing differs, `QUEUED` while a promotion is in progress, `ACCEPTED` otherwise; the settings are
applied at once and the active replicas then move into the new [min, max] one replica per step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.baseten.models import UpdateChainletEnvironmentAutoscalingSettingsRequest
from bot.baseten.sim.state import ChainletSpec, DeploymentState, EnvironmentState, Refused


@dataclass(frozen=True)
class ScalingChange:
    chainlet: str
    before: dict[str, int | None]
    after: dict[str, int | None]


def parse(body: Any) -> UpdateChainletEnvironmentAutoscalingSettingsRequest:
    if not isinstance(body, dict):
        raise Refused(400, {"error": "Request body must be a JSON object"})
    try:
        return UpdateChainletEnvironmentAutoscalingSettingsRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Refused(400, {"error": f"Invalid autoscaling settings: {where}: {first['msg']}"}) from None


def check(env: EnvironmentState, request: UpdateChainletEnvironmentAutoscalingSettingsRequest) -> None:
    """Refuse the whole request, before anything changes, if any update cannot apply."""
    seen: set[str] = set()
    for update in request.updates:
        name = update.chainlet_name
        if name in seen:
            raise Refused(400, {"error": f"Chainlet {name} appears more than once in updates"})
        seen.add(name)
        spec = env.settings.get(name)
        if spec is None:
            raise Refused(400, {"error": f"Chainlet {name} does not exist in environment {env.name}"})
        merged = {**spec.scaling(), **update.autoscaling_settings.changes}
        low, high = merged["min_replica"], merged["max_replica"]
        if low is not None and high is not None and low > high:
            raise Refused(
                400,
                {"error": f"min_replica ({low}) must not exceed max_replica ({high}) for chainlet {name}"},
            )


def apply(
    env: EnvironmentState,
    request: UpdateChainletEnvironmentAutoscalingSettingsRequest,
    serving: list[DeploymentState],
    now: float,
    step_seconds: float,
) -> list[ScalingChange]:
    """Change the environment's settings and those of the deployments it serves (or is promoting);
    returns what changed, per chainlet (nothing: the request changes nothing)."""
    changes = []
    for update in request.updates:
        spec = env.settings[update.chainlet_name]
        before = spec.scaling()
        after = {**before, **update.autoscaling_settings.changes}
        if after == before:
            continue
        for name, value in after.items():
            setattr(spec, name, value)
        for deployment in serving:
            running = deployment.chainlets.get(update.chainlet_name)
            if running is not None:
                _rescale(running, spec, now, step_seconds)
        changes.append(ScalingChange(update.chainlet_name, before, after))
    return changes


def _rescale(running: ChainletSpec, settings: ChainletSpec, now: float, step_seconds: float) -> None:
    running.replicas_from = running.active_replicas(now, step_seconds)
    running.replicas_since = now
    running.take_scaling(settings)


def answer(status: str, changes: list[ScalingChange], env: EnvironmentState) -> dict[str, Any]:
    names = ", ".join(c.chainlet for c in changes)
    messages = {
        "UNCHANGED": "The autoscaling settings are already as requested.",
        "QUEUED": f"Autoscaling settings for {names} will apply once the promotion in progress in "
        f"{env.name} is done.",
        "ACCEPTED": f"Autoscaling settings for {names} are being applied.",
    }
    return {"status": status, "message": messages.get(status, f"Autoscaling settings for {names}: {status}.")}
