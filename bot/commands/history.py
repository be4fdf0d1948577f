"""`/chain history [<chain>] [<env>]`: the last changes, who asked and approved, and how they ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from bot.changes.plans import ChainRef
from bot.commands.parsing import Command, Name, arity, flags, names
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority
from bot.slack import blocks

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
    ops.tell(inv, f"Recent changes{scope}", blocks.history(f"Recent changes{scope}", changes))


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
