"""`/chain history [<chain>] [<env>]`: the last changes, who asked and approved, and how they ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.changes.plans import ChainRef
from bot.commands.parsing import Command, Name, arity, flags, names
from bot.commands.verb import Verb
from bot.governance.audit import Change
from bot.runtime.workpool import Priority
from bot.slack.blocks import Blocks, header, listing, section, when
from bot.slack.markup import Mrkdwn, md, person, user

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.slack.invocation import Invocation


class HistoryCommand(Command):
    verb: Literal["history"] = "history"
    chain: Name | None = None
    env: Name | None = None
    limit: int = Field(default=10, ge=1, le=50)

    @property
    def needs_baseten(self) -> bool:
        return self.chain is not None  # a chain is resolved through Baseten; every chain's is the database's


def parse(args: list[str], verb: Verb) -> Command:
    positional, _ = flags(args, verb)
    arity(positional, verb)
    names(dict(zip(("chain name", "environment name"), positional, strict=False)), verb)
    return HistoryCommand(
        chain=positional[0] if positional else None, env=positional[1] if len(positional) == 2 else None
    )


def answer(ops: Operations, command: HistoryCommand, inv: Invocation) -> None:
    found = ops.planner.chain(command.chain) if command.chain else None
    chain = ChainRef.of(found) if found else None
    chain_name = chain.name if chain else None
    changes = ops.audit.changes(chain=chain, env=command.env, limit=command.limit)
    scope = (f" to {chain_name}" if chain_name else "") + (f"/{command.env}" if command.env else "")
    if not changes:
        if found is not None and command.env:
            # Nothing recorded may be a mistyped environment: say so, with the one most likely meant.
            ops.planner.environment_name(found, command.env)
        ops.tell(inv, f"No changes recorded yet{scope}.")
        return
    ops.tell(inv, f"Recent changes{scope}", history_blocks(f"Recent changes{scope}", changes))


def history_blocks(title: str, changes: list[Change]) -> Blocks:
    """`/chain history`: newest first, who asked, what, how it ended, who approved."""
    from bot.commands import registry  # the registry lists this verb too

    found: list[Mrkdwn] = []
    for c in changes:
        if c.event != "requested":
            found.append(_standing_line(c))
            continue
        line = md("{} · {} · {} · *{}*", when(c.at), user(c.requester), c.summary, c.outcome)
        if c.approver:
            line += md(" · approved by {}", user(c.approver))
        if c.overridden:
            line += md(
                " · :warning: forced past the lock by {}: {}",
                user(c.overridden.by),
                c.overridden.reason or "no reason given",
            )
        elif c.forced:
            line += " · forced past lock"
        if registry.PLANS.is_undo(c.kind):
            line += " · rollback"
        found.append(line)
    return [
        header(title),
        section(listing(found, more=md("changes (narrow it with `/chain history <chain> <env>`)"))),
    ]


_STANDING = {
    "locked": ":lock: *locked*",
    "unlocked": ":unlock: *unlocked*",
    "watched": ":eyes: *watching*",
    "unwatched": ":no_entry_sign: *stopped watching*",
}


def _standing_line(change: Change) -> Mrkdwn:
    """A lock or an unlock, a watch subscription, a change made outside chainops: who, when, what, why."""
    if change.event == "outside":
        # Its summary was built as markup (every value from Baseten escaped) and stored as it was built.
        return md(
            "{} · {} · :eyes: {} · *outside chainops*",
            when(change.at),
            person(change.requester),
            Mrkdwn(change.summary),
        )
    line = md(
        "{} · {} · {} {}",
        when(change.at),
        person(change.requester),
        Mrkdwn(_STANDING[change.event]) if change.event in _STANDING else md("{}", change.event),
        change.where,
    )
    if change.event == "locked":
        line += md(": {}", change.reason or "no reason given")
    return line


VERB: Verb = Verb(
    name="history",
    arguments=("[<chain>]", "[<env>]"),
    summary="The last ten changes: when, who asked, who approved, what, and how it ended.",
    example="/chain history hello-chain",
    priority=Priority.READ,
    request=HistoryCommand,
    parser=parse,
    answer=answer,
)
