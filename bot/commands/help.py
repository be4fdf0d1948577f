"""`/chain help [<command>]`: every verb with its usage and an example, or one verb with its options,
read from the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from bot.commands.parsing import Command, UsageError, show
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority
from bot.slack.blocks import Blocks, context, header, section
from bot.slack.markup import Mrkdwn, lines, md

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
    ops.tell(inv, help_text(topic), help_blocks(registry.VERBS, topic))


def help_text(topic: Verb | None) -> str:
    return f"chainops: /chain {topic.name}" if topic else "chainops commands"


def help_blocks(verbs: Sequence[Verb], topic: Verb | None = None) -> Blocks:
    """Every verb with its usage and an example, or one verb with its options too."""
    if topic is not None:
        return _verb_help(topic)
    return [
        header("chainops: Baseten Chains from Slack"),
        *(section(_verb_line(verb)) for verb in verbs),
        context(
            md(
                "`/chain help <command>` or `/chain <command> --help` shows a command's options. "
                "Changes that scale a deployment down ask for confirmation first."
            )
        ),
    ]


def _verb_line(verb: Verb) -> Mrkdwn:
    form = " No arguments opens a form." if verb.opens_form else ""
    return md(
        "*/chain {}* `{}`\n   {}{}\n   e.g. `{}`", verb.name, verb.synopsis, verb.summary, form, verb.example
    )


def _verb_help(verb: Verb) -> Blocks:
    block_list = [
        header(f"/chain {verb.name}"),
        section(md("`{}`\n{}", f"/chain {verb.name} {verb.synopsis}", verb.summary)),
    ]
    if verb.options:
        block_list.append(
            section(lines([md("*Options*")] + [md("`{}` {}", o.flag, o.meaning) for o in verb.options]))
        )
    form = "\nWith no arguments it opens a form." if verb.opens_form else ""
    block_list.append(section(md("e.g. `{}`{}", verb.example, form)))
    block_list.append(context(md("`/chain help` lists every command.")))
    return block_list


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
