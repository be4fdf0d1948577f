"""The plan of `/chain autoscaling`: the keys a person types and Baseten's fields they name, each
chainlet's values before and after, and the plan itself (what it previews, writes, and how the change is
followed by reading the environment back), checked against the environment as it is now."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from bot.baseten.models import (
    AutoscalingSettings,
    Chain,
    ChainEnvironment,
    ChainletEnvironmentAutoscalingSettingsUpdate,
    UpdateAutoscalingSettings,
    UpdateChainletEnvironmentAutoscalingSettingsRequest,
)
from bot.changes.planner import Planner, Refusal, hint, listing
from bot.changes.plans import Applying, Blocks, ChangePlan
from bot.slack.markup import Mrkdwn, md, user
from bot.slack.previews import chain_identity

if TYPE_CHECKING:
    from bot.baseten.client import BasetenClient
    from bot.commands.autoscaling import AutoscalingCommand

# The words a person types, and Baseten's field each one names (UpdateAutoscalingSettingsV1).
KEYS: dict[str, str] = {
    "min": "min_replica",
    "max": "max_replica",
    "concurrency": "concurrency_target",
    "window": "autoscaling_window",
    "delay": "scale_down_delay",
    "utilization": "target_utilization_percentage",
}
# What each key means, for help and the form's hints.
MEANINGS: dict[str, str] = {
    "min": "replicas always running",
    "max": "replicas at most",
    "concurrency": "requests per replica before scaling up",
    "window": "seconds of traffic considered",
    "delay": "seconds before a replica is scaled down",
    "utilization": "target utilization, %",
}
LOWEST = {"min": 0, "max": 1, "concurrency": 1, "window": 0, "delay": 0, "utilization": 1}
HIGHEST = {"utilization": 100}
LARGEST = 10**9  # no setting is meaningful past this; it keeps the request within Baseten's integers
HEADLINE_CHAINLETS = 10
# Baseten moves replicas within a minute or two; past this the thread says the settings were not applied.
FOLLOW_TIMEOUT = 600.0


def key_list() -> Mrkdwn:
    return Mrkdwn(", ").join(md("`{}`", word) for word in KEYS)


# -- the plan ------------------------------------------------------------------------------------------


class ScalingChange(BaseModel):
    """One chainlet's settings before and after, by the words a person types, and what it runs on."""

    model_config = ConfigDict(frozen=True)

    chainlet: str
    before: dict[str, int | None]  # today's value of every key that changes
    after: dict[str, int]  # the new value of every key that changes
    min_replica: int | None  # today's range, for the cost at the floor and the ceiling
    max_replica: int | None
    active_replicas: int | None
    instance_type: str | None
    price_per_minute: float | None

    def value(self, key: str) -> int | None:
        """The key's value once the change is made."""
        if key in self.after:
            return self.after[key]
        return {"min": self.min_replica, "max": self.max_replica}.get(key)

    @property
    def only_raises_capacity(self) -> bool:
        """All it does is raise `min` or `max`."""
        return all(
            key in ("min", "max") and self.before.get(key) is not None and new > (self.before[key] or 0)
            for key, new in self.after.items()
        )

    @property
    def scales_to_zero(self) -> bool:
        return self.after.get("min") == 0 and self.before.get("min") != 0

    @property
    def update(self) -> UpdateAutoscalingSettings:
        return UpdateAutoscalingSettings(**{KEYS[k]: v for k, v in self.after.items()})


class AutoscalingPlan(ChangePlan):
    kind: Literal["autoscaling"] = "autoscaling"
    changes: tuple[ScalingChange, ...]

    @property
    def destructive(self) -> bool:
        """Anything that can take capacity away is confirmed; only raising min or max runs at once."""
        return not all(c.only_raises_capacity for c in self.changes)

    @property
    def request(self) -> UpdateChainletEnvironmentAutoscalingSettingsRequest:
        """The one PATCH: an update per chainlet, only the keys that change."""
        return UpdateChainletEnvironmentAutoscalingSettingsRequest(
            updates=[
                ChainletEnvironmentAutoscalingSettingsUpdate(
                    chainlet_name=c.chainlet, autoscaling_settings=c.update
                )
                for c in self.changes
            ]
        )

    def describe(self) -> str:
        """One line for history and the audit trail."""
        per_chainlet = "; ".join(
            f"{c.chainlet} " + " ".join(f"{k}={v}" for k, v in c.after.items()) for c in self.changes
        )
        return f"autoscaling {per_chainlet} in {self.chain_name}/{self.env}"

    def doing(self, requester: str) -> Mrkdwn:
        """The channel message's headline: who is changing what."""
        shown = Mrkdwn(", ").join(
            md("{} {}", c.chainlet, " ".join(f"{k}={v}" for k, v in c.after.items()))
            for c in self.changes[:HEADLINE_CHAINLETS]
        )
        if len(self.changes) > HEADLINE_CHAINLETS:
            shown += md(" …and {} more", len(self.changes) - HEADLINE_CHAINLETS)
        return md(
            "{} is changing autoscaling of {} in *{}*: {}", user(requester), self.chain_name, self.env, shown
        )

    def summary(self) -> Blocks:
        from bot.commands import autoscaling_preview

        return autoscaling_preview.summary(self, chain_identity(self))

    def question(self) -> str:
        from bot.commands import autoscaling_preview

        return autoscaling_preview.question(self)

    def write(self, baseten: BasetenClient) -> Applying:
        """One PATCH. Baseten applies it to the environment, with no deployment to follow: the thread
        follows the settings read back instead (`UNCHANGED`: nothing to follow)."""
        from bot.commands import autoscaling_preview

        answer = baseten.update_autoscaling_settings(self.chain_id, self.env, self.request)
        status = answer.status.value
        return Applying(
            status=status,
            note=autoscaling_preview.accepted(status, answer.message),
            unchanged=answer.status.changed_nothing,
        )

    # -- followed by reading the environment back (there is no deployment to follow) -------------------

    follows_environment: ClassVar[bool] = True
    revertible: ClassVar[bool] = True
    follow_timeout: ClassVar[float] = FOLLOW_TIMEOUT

    def seen(self, env: ChainEnvironment) -> dict[str, int | None]:
        """What a poll remembers for the next: active replicas per chainlet."""
        return {c.chainlet: env.active_replicas_of(c.chainlet) for c in self.changes}

    def progress(self, env: ChainEnvironment, seen: dict[str, int | None]) -> list[Mrkdwn]:
        from bot.commands import autoscaling_preview

        return autoscaling_preview.moved(self, env, seen)

    def settled_text(self, env: ChainEnvironment, took: str) -> Mrkdwn:
        from bot.commands import autoscaling_preview

        return autoscaling_preview.settled(self, env, took)

    def not_applied_text(self, env: ChainEnvironment, waited: str, typed: str) -> Mrkdwn:
        from bot.commands import autoscaling_preview

        return autoscaling_preview.not_applied(self, env, waited, typed)

    def applied_in(self, env: ChainEnvironment) -> bool:
        """Every chainlet's settings read back as requested (an unanswered write was made)."""
        return self.request.applied_in(env)

    def settled_in(self, env: ChainEnvironment) -> bool:
        """Made, and every chainlet's active replicas sit within its new [min, max]."""
        return self.request.settled_in(env)


def _typed(settings: AutoscalingSettings | None) -> dict[str, int | None]:
    """Today's settings by the words typed."""
    if settings is None:
        return {word: None for word in KEYS}
    return {word: getattr(settings, field) for word, field in KEYS.items()}


def check(
    planner: Planner, chain: Chain, env: ChainEnvironment, command: AutoscalingCommand
) -> AutoscalingPlan:
    """The command against the environment as it is now: each chainlet exists, the range it ends with
    is sound, and something changes. Only keys that differ from today's are kept."""
    prices = planner.catalog.prices_per_minute()
    chain_name = chain.name
    known = sorted(s.chainlet_name for s in env.chainlet_settings)
    changes: list[ScalingChange] = []
    for wanted in command.chainlets:
        field = f"chainlet:{wanted.chainlet}"
        setting = env.setting_of(wanted.chainlet)
        if setting is None:
            raise Refusal(
                md(
                    "No chainlet `{}` in {}/{}.{} Chainlets: {}",
                    wanted.chainlet,
                    chain_name,
                    env.name,
                    hint(wanted.chainlet, known),
                    listing(known),
                ),
                field=field,
            )
        today = _typed(setting.autoscaling_settings)
        low = wanted.settings.get("min", today["min"])
        high = wanted.settings.get("max", today["max"])
        if low is not None and high is not None and low > high:
            other, both = ("max", low) if "min" in wanted.settings else ("min", high)
            raise Refusal(
                md(
                    "`{}`: min ({}) would be above max ({}); its {} is {} today, so change it too, e.g. `{} min={} max={}`.",
                    wanted.chainlet,
                    low,
                    high,
                    other,
                    today[other],
                    wanted.chainlet,
                    both,
                    both,
                ),
                field=field,
            )
        after = {k: v for k, v in wanted.settings.items() if today[k] != v}
        if not after:
            continue
        changes.append(
            ScalingChange(
                chainlet=wanted.chainlet,
                before={k: today[k] for k in after},
                after=after,
                min_replica=today["min"],
                max_replica=today["max"],
                active_replicas=env.active_replicas_of(wanted.chainlet),
                instance_type=setting.instance_type.id,
                price_per_minute=prices.get(setting.instance_type.id),
            )
        )
    if not changes:
        chainlets = ", ".join(c.chainlet for c in command.chainlets)
        raise Refusal(
            md("Already so: {} in {}/{} already has those settings.", chainlets, chain_name, env.name)
        )
    return AutoscalingPlan(
        chain_id=chain.id,
        chain_name=chain_name,
        chain_team=chain.team_name,
        env=env.name,
        previous_deployment_id=env.current_deployment.id if env.current_deployment else None,
        changes=tuple(changes),
        force=command.force,
    )
