"""`/chain watch [<chain>] [<env> ...]` and `/chain unwatch <chain> [<env> ...]`: post every change to a
chain in this channel, including those made outside chainops (`bot.watch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.commands.parsing import Command, Name, arity, flags, names
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.slack.invocation import Invocation


class WatchCommand(Command):
    verb: Literal["watch"] = "watch"
    chain: Name | None = None  # None: list the channel's subscriptions
    envs: tuple[Name, ...] = ()  # none: every environment of the chain

    @property
    def needs_baseten(self) -> bool:
        return self.chain is not None


class UnwatchCommand(Command):
    verb: Literal["unwatch"] = "unwatch"
    chain: Name
    envs: tuple[Name, ...] = ()


def _chain_and_envs(args: list[str], verb: Verb) -> tuple[str | None, tuple[str, ...]]:
    positional, _ = flags(args, verb)
    arity(positional, verb)
    if not positional:
        return None, ()
    chain, *envs = positional
    names({"chain name": chain}, verb)
    for env in envs:
        names({"environment name": env}, verb)
    return chain, tuple(dict.fromkeys(envs))


def parse_watch(args: list[str], verb: Verb) -> Command:
    chain, envs = _chain_and_envs(args, verb)
    return WatchCommand(chain=chain, envs=envs)


def parse_unwatch(args: list[str], verb: Verb) -> Command:
    chain, envs = _chain_and_envs(args, verb)
    assert chain is not None  # the usage says <chain> is needed
    return UnwatchCommand(chain=chain, envs=envs)


def watch(ops: Operations, command: WatchCommand, inv: Invocation) -> None:
    ops.watching.watch(command, inv)


def unwatch(ops: Operations, command: UnwatchCommand, inv: Invocation) -> None:
    ops.watching.unwatch(command, inv)


WATCH: Verb = Verb(
    name="watch",
    arguments=("[<chain>]", "[<env> ...]"),
    summary="Post every change to a chain in this channel, including those made outside chainops, with who made them. Alone: what this channel watches.",
    example="/chain watch hello-chain production",
    priority=Priority.WRITE,
    request=WatchCommand,
    parser=parse_watch,
    answer=watch,
)

UNWATCH: Verb = Verb(
    name="unwatch",
    arguments=("<chain>", "[<env> ...]"),
    summary="Stop posting a chain's changes in this channel (those environments, or all).",
    example="/chain unwatch hello-chain",
    priority=Priority.WRITE,
    request=UnwatchCommand,
    parser=parse_unwatch,
    answer=unwatch,
)
