"""What a watching channel is told, as pure functions of typed data. Everything Baseten sends (names,
emails, key names, client versions, unknown event types) is shown as text, never as markup."""

from __future__ import annotations

from collections.abc import Sequence

from bot.baseten.audit_log import (
    AuditLogEntry,
    AuditLogEventAutoscalingSettings,
    AuditLogEventType,
    ChainDeployedEvent,
    ChainDeploymentPromotedEvent,
    ChainEnvironmentCreatedEvent,
    ChainletAutoscalingSettingsChangedEvent,
    ChainletInstanceTypeChangedEvent,
)
from bot.slack import blocks
from bot.slack.markup import Mrkdwn, md
from bot.store.tables import WatchSubscription

E = AuditLogEventType
AUTOSCALING_FIELDS = (
    "min_replica",
    "max_replica",
    "concurrency_target",
    "target_utilization_percentage",
    "autoscaling_window",
    "scale_down_delay",
)


def where(chain_name: str, env: str | None) -> Mrkdwn:
    return md("{}/*{}*", chain_name, env) if env else md("{}", chain_name)


def what(entry: AuditLogEntry, chain_name: str, *, pushed: bool = False, env: str | None = None) -> Mrkdwn:
    """What happened, in a few words: `promoted `dep-2` to hello-chain/*production*`. `env`: the
    environment when the entry does not name it (the one its deployment serves)."""
    event, env = entry.event, entry.environment_name or env
    deployment = (
        md("`{}`", entry.chain_deployment_id) if entry.chain_deployment_id else Mrkdwn("a deployment")
    )
    t = entry.event_type
    if t is E.CHAIN_DEPLOYMENT_PROMOTED:
        verb = "deployed and promoted new deployment" if pushed else "promoted"
        return md("{} {} to {}", verb, deployment, where(chain_name, env))
    if t is E.CHAIN_DEPLOYED:
        primary = " (its first)" if isinstance(event, ChainDeployedEvent) and event.is_primary else ""
        return md("deployed {}{} of {}", deployment, primary, where(chain_name, env))
    if t is E.CHAINLET_INSTANCE_TYPE_CHANGED and isinstance(event, ChainletInstanceTypeChangedEvent):
        return md(
            "changed the instance type of *{}* to `{}` in {}",
            event.chainlet_name or "a chainlet",
            event.instance_type_name or "?",
            where(chain_name, env),
        )
    if t is E.CHAINLET_AUTOSCALING_SETTINGS_CHANGED and isinstance(
        event, ChainletAutoscalingSettingsChangedEvent
    ):
        return md(
            "changed autoscaling of *{}* in {}: {}",
            event.chainlet_name or "a chainlet",
            where(chain_name, env),
            autoscaling_change(event.previous_settings, event.settings),
        )
    if t is E.CHAIN_DEPLOYMENT_ACTIVATED:
        return md("activated {} of {}", deployment, where(chain_name, env))
    if t is E.CHAIN_DEPLOYMENT_DEACTIVATED:
        return md("deactivated {} of {}", deployment, where(chain_name, env))
    if t is E.CHAIN_DEPLOYMENT_DELETED:
        return md("deleted {} of {}", deployment, where(chain_name, env))
    if t is E.CHAIN_DELETED:
        return md("deleted the chain {}", chain_name)
    if t in (E.CHAIN_ENVIRONMENT_CREATED, E.CHAIN_ENVIRONMENT_UPDATED):
        done = "created" if t is E.CHAIN_ENVIRONMENT_CREATED else "updated"
        settings = ""
        if isinstance(event, ChainEnvironmentCreatedEvent) and event.ramp_up_while_promoting is not None:
            settings = f" (ramp-up while promoting: {'on' if event.ramp_up_while_promoting else 'off'})"
        return md("{} environment {}{}", done, where(chain_name, env), settings)
    # An event type chainops does not know (yet): shown by its name.
    return md("made a change `{}` to {}", entry.event_type.value, where(chain_name, env))


def autoscaling_change(
    before: AuditLogEventAutoscalingSettings | None, after: AuditLogEventAutoscalingSettings
) -> Mrkdwn:
    """`max replicas 2 → 4, concurrency target 1 → 2`: the settings that changed, old → new."""
    parts = []
    for name in AUTOSCALING_FIELDS:
        new = getattr(after, name)
        old = getattr(before, name) if before is not None else None
        if new is None or new == old:
            continue
        label = name.replace("_", " ").replace("replica", "replicas")
        parts.append(md("{} {} → {}", label, "?" if old is None else old, new))
    return Mrkdwn(", ").join(parts) if parts else Mrkdwn("settings unchanged")


def who(entry: AuditLogEntry) -> Mrkdwn:
    """`ana@example.com via UI`, `deploy-bot via truss 0.11.2`."""
    return md("*{}* via {}", entry.actor.who, entry.via)


def headline(
    entry: AuditLogEntry, chain_name: str, *, pushed: bool = False, env: str | None = None
) -> Mrkdwn:
    """The announcement's one line (also the followed rollout's headline, kept as its thread's parent)."""
    return md(":eyes: {} {} outside chainops", who(entry), what(entry, chain_name, pushed=pushed, env=env))


def announcement(
    entry: AuditLogEntry, chain_name: str, *, pushed: bool = False, env: str | None = None
) -> blocks.Blocks:
    return [
        blocks.section(headline(entry, chain_name, pushed=pushed, env=env)),
        blocks.context(md("{} · from Baseten's audit log", blocks.when(entry.created))),
    ]


def more_changes(count: int, chain_word: str) -> Mrkdwn:
    return md("…and {} more changes while I was away: `/chain history {}`", count, chain_word)


def overtaken(entry: AuditLogEntry) -> Mrkdwn:
    """In a chainops rollout's thread: the outside change that took the environment from it."""
    event = entry.event
    deployment = event.chain_deployment_id if isinstance(event, ChainDeploymentPromotedEvent) else None
    return md(
        ":warning: Overtaken: {} promoted `{}` outside chainops ({}).",
        who(entry),
        deployment or "another deployment",
        blocks.when(entry.created),
    )


def difference(chain_name: str, env: str, change: Mrkdwn) -> Mrkdwn:
    """A change found by comparing the environment with what it showed before (no audit log: no who)."""
    return md(":eyes: {} changed: {} (who made it is unknown: no audit log)", where(chain_name, env), change)


def unavailable(reason: str, interval: float) -> Mrkdwn:
    return md(
        ":information_source: Who makes each change can't be shown: {}. I'll compare the environments every {} s "
        "and post what changed, without who made it.",
        reason,
        round(interval),
    )


def log_back() -> Mrkdwn:
    return md(
        ":information_source: Baseten's audit log can be read again: each change is posted with who made it."
    )


def subscribed(user: Mrkdwn, chain_name: str, envs: Sequence[str]) -> Mrkdwn:
    scope = ", ".join(envs) if envs else "all environments"
    return md(
        ":eyes: {} is watching {} ({}) here: every change, including those made outside chainops, "
        "is posted in this channel with who made it. `/chain unwatch {}` stops it.",
        user,
        chain_name,
        scope,
        chain_name,
    )


def unsubscribed(user: Mrkdwn, chain_name: str, envs: Sequence[str]) -> Mrkdwn:
    scope = ", ".join(e for e in envs if e) or "all environments"
    return md(":no_entry_sign: {} stopped watching {} ({}) here.", user, chain_name, scope)


def subscriptions(rows: Sequence[WatchSubscription]) -> Mrkdwn:
    if not rows:
        return md("This channel watches no chain. Start with `/chain watch <chain> [<env> ...]`.")
    by_chain: dict[str, list[str]] = {}
    for row in rows:
        by_chain.setdefault(row.chain_name, []).append(row.env)
    found = [
        md("• {} ({})", name, ", ".join(e for e in envs if e) if all(envs) else "all environments")
        for name, envs in by_chain.items()
    ]
    return md("This channel watches:\n{}", Mrkdwn("\n").join(found))
