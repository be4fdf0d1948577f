"""Checks a request against Baseten before anything is offered: chain, environment, deployment, chainlets
and instance types. Every problem is a Refusal saying what was wrong and what exists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenNotFound
from bot.baseten.models import (
    Chain,
    ChainDeployment,
    ChainEnvironment,
    InstanceType,
    Phase,
    PromotionCleanupStrategy,
)
from bot.changes.plans import ChainletChange, InstanceTypePlan, PromotePlan
from bot.commands.parsing import InstanceTypeCommand, PromoteCommand
from bot.slack.markup import Mrkdwn, as_mrkdwn, md


class Refusal(Exception):
    """A request that will not be offered, with the reason to show its requester.

    `field` names the form input at fault (chain, env, deployment, chainlet:<name>) for modal errors."""

    def __init__(self, message: str, *, field: str = "chain") -> None:
        super().__init__(message)
        self.field = field
        # Plain text is escaped; markup (`md(...)`: code spans, mentions of approvers) is kept as built.
        self.text: Mrkdwn = as_mrkdwn(message)


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none"


# How alike a typed word and a name must be (difflib's ratio) to be offered as "Did you mean": one typo in
# a short id (`2x9` for `2x8`: 0.67) passes; a word sharing a letter or two with a name does not.
SUGGESTION_CUTOFF = 0.6
SUGGESTION_PREFIX = 3  # a typed start of a name this long or longer (`prod`) names it, if only one


def suggestion(word: str, names: Iterable[str]) -> str | None:
    """The one name the person most likely meant, or None when nothing is close: the same name in
    other letter case, the only name the word begins, or the closest name past the cutoff."""
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    typed = word.lower()
    if typed in by_lower:
        return by_lower[typed]
    starting = [name for lower, name in by_lower.items() if lower.startswith(typed)]
    if len(typed) >= SUGGESTION_PREFIX and len(starting) == 1:
        return starting[0]
    close = difflib.get_close_matches(typed, list(by_lower), n=1, cutoff=SUGGESTION_CUTOFF)
    return by_lower[close[0]] if close else None


def _hint(word: str, names: list[str]) -> Mrkdwn:
    close = suggestion(word, names)
    return md(" Did you mean `{}`?", close) if close else Mrkdwn("")


def _rolling_out(chain_name: str, env: str, candidate: str) -> Mrkdwn:
    return md(
        "{}/{} is already rolling out `{}`; wait for it to finish, then try again.",
        chain_name,
        env,
        candidate,
    )


def _ambiguous(name: str, chains: list[Chain]) -> Mrkdwn:
    candidates = Mrkdwn("; ").join(
        md("team {}: `{}`", c.team_name, c.id) for c in sorted(chains, key=lambda c: (c.team_name, c.id))
    )
    return md("{} chains are named `{}` ({}). Use the id of the one you mean.", len(chains), name, candidates)


class Planner:
    def __init__(self, baseten: BasetenClient, catalog: Catalog) -> None:
        self.baseten = baseten
        self.catalog = catalog

    def chain(self, name_or_id: str) -> Chain:
        """The chain with this id, or else the one chain with this name. Names are unique only within a
        team: a name that several chains share is refused with each of them, to be chosen by id."""
        for fresh in (False, True):
            if fresh:
                self.catalog.refresh_chains()  # a chain created a moment ago must not be refused
            chains = self.catalog.chains()
            found = next((c for c in chains if c.id == name_or_id), None)
            if found is not None:
                return found
            named = [c for c in chains if c.name == name_or_id]
            if len(named) > 1:
                raise Refusal(_ambiguous(name_or_id, named))
            if named:
                return named[0]
        names = sorted({c.name for c in chains})
        raise Refusal(
            md("No chain named `{}`.{} Chains: {}", name_or_id, _hint(name_or_id, names), _listing(names))
        )

    def environment_name(self, chain: Chain, env_name: str) -> None:
        """Refuse a name the chain has no environment of, suggesting the one most likely meant."""
        names = self.baseten.list_environment_names(chain.id)
        if env_name not in names:
            raise Refusal(
                md(
                    "No environment `{}` in {}.{} Environments: {}",
                    env_name,
                    chain.name,
                    _hint(env_name, names),
                    _listing(sorted(names)),
                ),
                field="env",
            )

    def environment(self, chain: Chain, env_name: str) -> ChainEnvironment:
        self.environment_name(chain, env_name)
        return self.baseten.get_environment(chain.id, env_name)

    def deployment(self, chain: Chain, deployment_id: str) -> ChainDeployment:
        try:
            return self.baseten.get_deployment(chain.id, deployment_id)
        except BasetenNotFound:
            recent = self.baseten.list_deployments(chain.id)[:5]
            shown = ", ".join(f"{d.id} ({d.status.value})" for d in recent) or "none"
            raise Refusal(
                md("No deployment `{}` in {}. Newest: {}", deployment_id, chain.name, shown),
                field="deployment",
            ) from None

    def plan_promote(self, command: PromoteCommand, *, kind: str = "promote") -> PromotePlan:
        chain = self.chain(command.chain)
        env = self.environment(chain, command.env)
        deployment = self.deployment(chain, command.deployment_id)
        if deployment.chain_id != chain.id:
            raise Refusal(
                md("Deployment `{}` belongs to another chain, not {}.", deployment.id, chain.name),
                field="deployment",
            )
        current = env.current_deployment
        if current is not None and current.id == deployment.id:
            raise Refusal(
                md("Deployment `{}` is already live in {}/{}.", deployment.id, chain.name, env.name),
                field="deployment",
            )
        if env.candidate_deployment is not None:
            raise Refusal(_rolling_out(chain.name, env.name, env.candidate_deployment.id), field="env")
        if deployment.status.phase is Phase.OFF:
            raise Refusal(
                md(
                    "Deployment `{}` is {}. Chains have no reactivation endpoint: reactivate it in Baseten "
                    "first, or promote another deployment.",
                    deployment.id,
                    deployment.status.value.lower(),
                ),
                field="deployment",
            )
        if deployment.status.phase is Phase.FAILED:
            raise Refusal(
                md("Deployment `{}` is {}; it cannot serve traffic.", deployment.id, deployment.status.value),
                field="deployment",
            )
        return PromotePlan(
            kind="rollback" if kind == "rollback" else "promote",
            chain_id=chain.id,
            chain_name=chain.name,
            chain_team=chain.team_name,
            env=env.name,
            deployment_id=deployment.id,
            deployment_status=deployment.status,
            deployment_created_at=deployment.created_at,
            previous_deployment_id=current.id if current else None,
            scale_down_previous=not command.keep_previous,
            cleanup=env.promotion_settings.promotion_cleanup_strategy
            or PromotionCleanupStrategy.SCALE_TO_ZERO,
            redeploys=bool(env.promotion_settings.redeploy_on_promotion),
            force=command.force,
        )

    def plan_instance_types(self, command: InstanceTypeCommand) -> InstanceTypePlan:
        chain = self.chain(command.chain)
        env = self.environment(chain, command.env)
        settings = {s.chainlet_name: s for s in env.chainlet_settings}
        types = self.catalog.instance_types()
        prices = self.catalog.prices_per_minute()
        changes: list[ChainletChange] = []
        for change in command.changes:
            setting = settings.get(change.chainlet)
            if setting is None:
                names = sorted(settings)
                raise Refusal(
                    md(
                        "No chainlet `{}` in {}/{}.{} Chainlets: {}",
                        change.chainlet,
                        chain.name,
                        env.name,
                        _hint(change.chainlet, names),
                        _listing(names),
                    ),
                    field=f"chainlet:{change.chainlet}",
                )
            new = _instance_type(change.instance_type, types, field=f"chainlet:{change.chainlet}")
            current: InstanceType | None = setting.instance_type
            if current is not None and current.id == new.id:
                raise Refusal(
                    md("`{}` already runs on `{}` in {}/{}.", change.chainlet, new.id, chain.name, env.name),
                    field=f"chainlet:{change.chainlet}",
                )
            scaling = setting.autoscaling_settings
            changes.append(
                ChainletChange(
                    chainlet=change.chainlet,
                    current=current,
                    new=new,
                    min_replica=scaling.min_replica if scaling else None,
                    max_replica=scaling.max_replica if scaling else None,
                    current_price_per_minute=prices.get(current.id) if current else None,
                    new_price_per_minute=prices.get(new.id),
                )
            )
        if env.candidate_deployment is not None:
            raise Refusal(_rolling_out(chain.name, env.name, env.candidate_deployment.id), field="env")
        return InstanceTypePlan(
            chain_id=chain.id,
            chain_name=chain.name,
            chain_team=chain.team_name,
            env=env.name,
            previous_deployment_id=env.current_deployment.id if env.current_deployment else None,
            changes=tuple(changes),
            force=command.force,
        )


def _instance_type(typed: str, types: list[InstanceType], *, field: str) -> InstanceType:
    """An instance type by its id or by the name Baseten shows, in any letter case."""
    wanted = typed.strip().lower()
    found = [t for t in types if t.id.lower() == wanted] or [t for t in types if t.name.lower() == wanted]
    if len(found) == 1:
        return found[0]
    if found:
        ids = Mrkdwn(", ").join(md("`{}`", t.id) for t in ordered(found))
        raise Refusal(
            md("`{}` is the name of several instance types ({}); use the id.", typed, ids), field=field
        )
    by_key = {t.id: t.id for t in types} | {t.name: t.id for t in types}
    close = suggestion(typed, by_key)
    hint = md(" Did you mean `{}`?", by_key[close]) if close else Mrkdwn("")
    raise Refusal(
        md("No instance type `{}`.{} Instance types: {}", typed, hint, _listing(_ordered_ids(types), 20)),
        field=field,
    )


def ordered(types: Iterable[InstanceType]) -> list[InstanceType]:
    """CPU types first, then GPU types, each from small to large."""
    return sorted(
        types, key=lambda t: (t.gpu_count > 0, t.gpu_type or "", t.millicpu_limit, t.memory_limit_mib)
    )


def _ordered_ids(types: Iterable[InstanceType]) -> list[str]:
    return [t.id for t in ordered(types)]
