"""Without the audit log: what an environment shows (live and candidate deployment, each chainlet's
instance type and autoscaling), and how two such views differ, for the environments a channel watches."""

from __future__ import annotations

from typing import Any

from bot.baseten.models import ChainEnvironment
from bot.slack.markup import Mrkdwn, md

View = dict[str, Any]


def view(env: ChainEnvironment) -> View:
    return {
        "live": env.current_deployment.id if env.current_deployment else None,
        "candidate": env.candidate_deployment.id if env.candidate_deployment else None,
        "types": {s.chainlet_name: s.instance_type.id for s in env.chainlet_settings},
        "scaling": {
            s.chainlet_name: s.autoscaling_settings.model_dump(exclude_none=True)
            for s in env.chainlet_settings
            if s.autoscaling_settings is not None
        },
    }


def differences(before: View, after: View) -> list[Mrkdwn]:
    """What changed from one view to the next, one line each; nothing for the first view."""
    if not before:
        return []
    found: list[Mrkdwn] = []
    if before.get("candidate") != after.get("candidate") and after.get("candidate"):
        found.append(md("deployment `{}` is rolling out", after["candidate"]))
    if before.get("live") != after.get("live"):
        found.append(
            md("live deployment `{}` → `{}`", before.get("live") or "none", after.get("live") or "none")
        )
    old_types, new_types = before.get("types", {}), after.get("types", {})
    for chainlet in sorted(new_types):
        if chainlet in old_types and old_types[chainlet] != new_types[chainlet]:
            found.append(
                md("*{}* instance type `{}` → `{}`", chainlet, old_types[chainlet], new_types[chainlet])
            )
    old_scaling, new_scaling = before.get("scaling", {}), after.get("scaling", {})
    for chainlet in sorted(new_scaling):
        old, new = old_scaling.get(chainlet, {}), new_scaling[chainlet]
        changed = [
            md("{} {} → {}", name.replace("_", " "), old.get(name, "?"), value)
            for name, value in sorted(new.items())
            if old.get(name) != value
        ]
        if chainlet in old_scaling and changed:
            found.append(md("*{}* autoscaling: {}", chainlet, Mrkdwn(", ").join(changed)))
    return found
