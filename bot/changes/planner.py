"""Looks up what a request names in Baseten before anything is offered: chain, environment, deployment
and instance types (each change kind checks the rest in its own module). Every problem is a Refusal
saying what was wrong and what exists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenNotFound
from bot.baseten.models import Chain, ChainDeployment, ChainEnvironment, InstanceType
from bot.slack.markup import Mrkdwn, as_mrkdwn, md


class Refusal(Exception):
    """A request that will not be offered, with the reason to show its requester.

    `field` names the form input at fault (chain, env, deployment, chainlet:<name>) for modal errors."""

    def __init__(self, message: str, *, field: str = "chain") -> None:
        super().__init__(message)
        self.field = field
        # Plain text is escaped; markup (`md(...)`: code spans, mentions of approvers) is kept as built.
        self.text: Mrkdwn = as_mrkdwn(message)


def listing(names: list[str], limit: int = 12) -> str:
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


def hint(word: str, names: list[str]) -> Mrkdwn:
    close = suggestion(word, names)
    return md(" Did you mean `{}`?", close) if close else Mrkdwn("")


def rolling_out(chain_name: str, env: str, candidate: str) -> Mrkdwn:
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
            md("No chain named `{}`.{} Chains: {}", name_or_id, hint(name_or_id, names), listing(names))
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
                    hint(env_name, names),
                    listing(sorted(names)),
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


def instance_type(typed: str, types: list[InstanceType], *, field: str) -> InstanceType:
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
        md("No instance type `{}`.{} Instance types: {}", typed, hint, listing(_ordered_ids(types), 20)),
        field=field,
    )


def ordered(types: Iterable[InstanceType]) -> list[InstanceType]:
    """CPU types first, then GPU types, each from small to large."""
    return sorted(
        types, key=lambda t: (t.gpu_count > 0, t.gpu_type or "", t.millicpu_limit, t.memory_limit_mib)
    )


def _ordered_ids(types: Iterable[InstanceType]) -> list[str]:
    return [t.id for t in ordered(types)]
