"""`/chain lock <chain> <env> [reason ...]` and `/chain unlock <chain> <env>`: refuse changes to an
environment until it is unlocked, announced in the channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.changes.planner import Refusal
from bot.changes.plans import ChainRef
from bot.commands.parsing import Command, Name, UsageError, arity, flags, names
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority
from bot.slack import blocks
from bot.slack.invocation import invite_hint
from bot.slack.markup import Mrkdwn, lines, md

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.slack.invocation import Invocation


class LockCommand(Command):
    verb: Literal["lock"] = "lock"
    chain: Name
    env: Name
    reason: str = Field(default="", max_length=300)


class UnlockCommand(Command):
    verb: Literal["unlock"] = "unlock"
    chain: Name
    env: Name


def parse_lock(args: list[str], verb: Verb) -> Command:
    # The reason is free text: words in it that look like options are part of it.
    arity(args, verb)
    chain, env, *reason = args
    names({"chain name": chain, "environment name": env}, verb)
    text = " ".join(reason)
    if len(text) > 300:
        raise UsageError("lock: keep the reason under 300 characters.")
    return LockCommand(chain=chain, env=env, reason=text)


def parse_unlock(args: list[str], verb: Verb) -> Command:
    positional, _ = flags(args, verb)
    arity(positional, verb)
    chain, env = positional
    names({"chain name": chain, "environment name": env}, verb)
    return UnlockCommand(chain=chain, env=env)


def _may_guard(ops: Operations, inv: Invocation, env: str) -> None:
    """Locking is for those who may change the environment, and for its approvers (an SRE in an incident)."""
    if not ops.policy.may_approve(inv.user, env):
        ops.may_request(inv, env)


def _announce(ops: Operations, inv: Invocation, text: Mrkdwn) -> None:
    """Announce in the channel; if the bot is not in it, the outbox tells the person instead."""
    ops.outbox.post(
        inv.channel,
        text,
        [blocks.section(text)],
        notify_url=inv.response_url,
        notify_text=lines([text, invite_hint(inv.channel)]),
    )


def lock(ops: Operations, command: LockCommand, inv: Invocation) -> None:
    chain = ops.planner.chain(command.chain)
    ops.planner.environment(chain, command.env)
    _may_guard(ops, inv, command.env)
    _announce(
        ops,
        inv,
        ops.locks.lock(
            ChainRef.of(chain), command.env, user=inv.user, reason=command.reason, channel=inv.channel
        ),
    )


def unlock(ops: Operations, command: UnlockCommand, inv: Invocation) -> None:
    chain = ops.planner.chain(command.chain)
    _may_guard(ops, inv, command.env)
    try:
        text = ops.locks.unlock(ChainRef.of(chain), command.env, user=inv.user, channel=inv.channel)
    except Refusal:
        # Not locked: a mistyped environment is named as such (a lock on an environment Baseten no
        # longer has is still lifted above, so the name is checked only now).
        ops.planner.environment_name(chain, command.env)
        raise
    _announce(ops, inv, text)


LOCK: Verb = Verb(
    name="lock",
    arguments=("<chain>", "<env>", "[reason ...]"),
    summary=md("Refuse changes to an environment until it is unlocked (unless forced with `--force`)."),
    example="/chain lock hello-chain production launch freeze",
    priority=Priority.WRITE,
    request=LockCommand,
    parser=parse_lock,
    answer=lock,
)

UNLOCK: Verb = Verb(
    name="unlock",
    arguments=("<chain>", "<env>"),
    summary="Allow changes to a locked environment again.",
    example="/chain unlock hello-chain production",
    priority=Priority.WRITE,
    request=UnlockCommand,
    parser=parse_unlock,
    answer=unlock,
)
