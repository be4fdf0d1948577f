"""`/chain help [<command>]`: every verb with its usage and an example, or one verb with its options,
read from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.commands.parsing import Command, UsageError, show
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority
from bot.slack import blocks
from bot.slack.markup import md

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.slack.invocation import Invocation


class HelpCommand(Command):
    verb: Literal["help"] = "help"
    topic: str | None = None  # a verb's name: that verb's help; None: every verb

    @property
    def needs_baseten(self) -> bool:
        return False


def parse(args: list[str], verb: Verb) -> Command:
    from bot.commands import registry  # the registry lists this verb too

    if len(args) > 1:
        raise UsageError(
            md("help: too many arguments (`{}`). Usage: {}", show(" ".join(args[1:])), verb.usage)
        )
    return HelpCommand(topic=registry.find(args[0]).name if args else None)


def answer(ops: Operations, command: HelpCommand, inv: Invocation) -> None:
    from bot.commands import registry

    topic = registry.find(command.topic) if command.topic else None
    ops.tell(inv, blocks.help_text(topic), blocks.help_blocks(registry.VERBS, topic))


VERB: Verb = Verb(
    name="help",
    arguments=("[<command>]",),
    summary="Every command with an example, or one command with its options.",
    example="/chain help promote",
    priority=Priority.READ,
    request=HelpCommand,
    parser=parse,
    answer=answer,
)
