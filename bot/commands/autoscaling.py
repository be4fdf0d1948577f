"""`/chain autoscaling`: replica counts and scaling behaviour of chainlets in one environment.

`/chain autoscaling <chain> <env> <chainlet> <key>=<value>... [<chainlet> <key>=<value>...]` is one
PATCH of Baseten's autoscaling settings with an update per chainlet, carrying only the keys named (and of
those, only the ones that differ from today's). A change runs at once only when all it does is raise
`min` or `max`; anything that can take capacity away is confirmed first."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.changes.plans import ChangeKind, Reverted
from bot.commands.autoscaling_plan import (
    HIGHEST,
    KEYS,
    LARGEST,
    LOWEST,
    AutoscalingPlan,
    check,
    key_list,
)
from bot.commands.parsing import (
    ChainletName,
    ChangeCommand,
    Command,
    FormCommand,
    UsageError,
    arity,
    flags,
    names,
    show,
)
from bot.commands.verb import FORCE, Verb
from bot.runtime.workpool import Priority
from bot.slack.markup import md

_NUMBER = re.compile(r"^[+-]?\d+$")


# -- the request ---------------------------------------------------------------------------------------


class ChainletScaling(BaseModel):
    """The settings one chainlet should have, by the words typed (`min`, `max`, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chainlet: ChainletName
    settings: dict[str, int] = Field(min_length=1)


class AutoscalingCommand(ChangeCommand):
    verb: Literal["autoscaling"] = "autoscaling"
    chainlets: tuple[ChainletScaling, ...] = Field(min_length=1)


class AutoscalingModalCommand(FormCommand):
    """`/chain autoscaling` alone: open the form."""

    verb: Literal["autoscaling-modal"] = "autoscaling-modal"


def parse(args: list[str], verb: Verb) -> Command:
    positional, given = flags(args, verb)
    arity(positional, verb)
    chain, env, *rest = positional
    names({"chain name": chain, "environment name": env}, verb)
    if "=" in rest[0]:
        raise UsageError(
            md(
                "Name the chainlet before its settings, e.g. `HelloWorld {}`. Usage: {}",
                show(rest[0]),
                verb.usage,
            )
        )
    chainlets: list[ChainletScaling] = []
    current: tuple[str, dict[str, int]] | None = None
    for word in rest:
        if "=" not in word:
            if current is not None:
                chainlets.append(_chainlet(*current))
            names({"chainlet name": word}, verb)
            if any(c.chainlet == word for c in chainlets):
                raise UsageError(
                    md(
                        "Chainlet `{}` is named twice; give all its settings after one mention of it.",
                        show(word),
                    )
                )
            current = (word, {})
            continue
        assert current is not None
        key, value = _setting(word, current[0])
        if key in current[1]:
            raise UsageError(md("`{}` is given twice for `{}`; give it once.", key, show(current[0])))
        current[1][key] = value
    assert current is not None
    chainlets.append(_chainlet(*current))
    return AutoscalingCommand(chain=chain, env=env, chainlets=tuple(chainlets), force="--force" in given)


def _setting(word: str, chainlet: str) -> tuple[str, int]:
    typed, _, raw = word.partition("=")
    key = typed.strip().lower()
    if key not in KEYS:
        raise UsageError(md("`{}` is not an autoscaling setting. Keys: {}.", show(typed), key_list()))
    if not _NUMBER.match(raw.strip()):
        raise UsageError(md("`{}={}`: give a whole number, e.g. `{}=2`.", key, show(raw), key))
    value = int(raw)
    if value < 0:
        raise UsageError(md("`{}={}`: a negative value is not a setting.", key, value))
    high = HIGHEST.get(key, LARGEST)
    if not LOWEST[key] <= value <= high:
        limit = (
            "from 1 to 100 (a percentage)"
            if key == "utilization"
            else (f"at least {LOWEST[key]}" if value < LOWEST[key] else f"at most {high}")
        )
        raise UsageError(md("`{}={}`: {} is {}.", key, value, key, limit))
    return key, value


def _chainlet(name: str, settings: dict[str, int]) -> ChainletScaling:
    if not settings:
        raise UsageError(
            md(
                "Give `{}` a setting to change, e.g. `{} max=2`. Keys: {}.",
                show(name),
                show(name),
                key_list(),
            )
        )
    low, high = settings.get("min"), settings.get("max")
    if low is not None and high is not None and low > high:
        raise UsageError(md("`{}`: min ({}) is above max ({}).", show(name), low, high))
    return ChainletScaling(chainlet=name, settings=settings)


def revert(kind: str, reverted: Reverted) -> ChangeCommand | None:
    """Every changed key back to the value it had before the change (None when one was unknown)."""
    plan = reverted.plan
    if not isinstance(plan, AutoscalingPlan):
        return None
    chainlets = []
    for change in plan.changes:
        before = {k: v for k, v in change.before.items() if v is not None}
        if len(before) != len(change.before):
            return None
        chainlets.append(ChainletScaling(chainlet=change.chainlet, settings=before))
    return AutoscalingCommand(chain=reverted.chain_id, env=reverted.env, chainlets=tuple(chainlets))


VERB: Verb = Verb(
    name="autoscaling",
    arguments=("<chain>", "<env>", "<chainlet> <key>=<value> ..."),
    options=(FORCE,),
    summary=md(
        "Change replicas and scaling of chainlets ({}); anything that can take capacity away asks for "
        "your confirmation first.",
        key_list(),
    ),
    example="/chain autoscaling hello-chain production HelloWorld max=4",
    priority=Priority.WRITE,
    request=AutoscalingCommand,
    parser=parse,
    change=ChangeKind(plan=AutoscalingPlan, check=check, revert=revert),
    form=AutoscalingModalCommand,
)
