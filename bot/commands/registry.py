"""Every `/chain` verb, described once. Help, usage and its errors, the manifest's usage hint, metric
labels, how urgent a command is and whether it opens a form are all read from this table: a verb added
here is complete everywhere, and one missing a part fails `tests/test_verbs.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.commands import parsing as commands
from bot.commands.parsing import Command, FormCommand, HelpCommand, UsageError, show
from bot.runtime.workpool import Priority
from bot.slack.markup import Mrkdwn, md

HELP_FLAGS = ("--help", "-h")


@dataclass(frozen=True)
class Option:
    flag: str
    meaning: str


@dataclass(frozen=True)
class Verb:
    name: str
    # What follows the verb: `<x>` is needed, `[<x>]` may be left out, a last one ending in `...` takes
    # every word after it. Usage, help and arity errors are all read from this.
    arguments: tuple[str, ...]
    summary: str  # one line: what the command does
    example: str  # a whole command that works against the built-in simulator
    priority: Priority  # changes go before reads on the work pool
    request: type[Command]  # what the command parses into
    parser: Callable[[list[str], Verb], Command]
    form: type[FormCommand] | None = None  # what the verb alone parses into when it opens a form
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def synopsis(self) -> str:
        """Arguments and options, as usage shows them: `<chain> [<env>] [--force]`."""
        return " ".join([*self.arguments, *(f"[{o.flag}]" for o in self.options)])

    @property
    def usage(self) -> Mrkdwn:
        return md("`{}`", " ".join(filter(None, ("/chain", self.name, self.synopsis))))

    @property
    def opens_form(self) -> bool:
        return self.form is not None

    @property
    def labels(self) -> tuple[str, ...]:
        """The metric labels of this verb's commands (the form's has its own)."""
        models = [self.request, *([self.form] if self.form else [])]
        return tuple(str(model.model_fields["verb"].default) for model in models)


def _help(args: list[str], verb: Verb) -> Command:
    if len(args) > 1:
        raise UsageError(
            md("help: too many arguments (`{}`). Usage: {}", show(" ".join(args[1:])), verb.usage)
        )
    return HelpCommand(topic=find(args[0]).name if args else None)


FORCE = Option("--force", "go ahead although the environment is locked (its approvers only, if it has any)")

VERBS: tuple[Verb, ...] = (
    Verb(
        name="promote",
        arguments=("<chain>", "<env>", "<deployment_id>"),
        options=(
            Option("--keep-previous", "keep the previous deployment running; the promote then runs at once"),
            FORCE,
        ),
        summary="Promote a deployment. Scaling the previous one down asks for your confirmation first.",
        example="/chain promote hello-chain production dep-hello-4",
        priority=Priority.WRITE,
        request=commands.PromoteCommand,
        parser=commands.promote,
        form=commands.PromoteModalCommand,
    ),
    Verb(
        name="instance-type",
        arguments=("<chain>", "<env>", "<chainlet>=<instance_type> ..."),
        options=(FORCE,),
        summary="Change the instance types of chainlets in one batch; Baseten builds and promotes a new deployment.",
        example="/chain instance-type hello-chain staging RandInt=2x8",
        priority=Priority.WRITE,
        request=commands.InstanceTypeCommand,
        parser=commands.instance_type,
        form=commands.InstanceTypeModalCommand,
        aliases=("instance-types",),
    ),
    Verb(
        name="status",
        arguments=("<chain>", "[<env>]"),
        summary="The live deployment's chainlets: status, instance type, replicas, autoscaling, and any lock.",
        example="/chain status hello-chain production",
        priority=Priority.READ,
        request=commands.StatusCommand,
        parser=commands.status,
    ),
    Verb(
        name="history",
        arguments=("[<chain>]", "[<env>]"),
        summary="The last ten changes: when, who asked, who approved, what, and how it ended.",
        example="/chain history hello-chain",
        priority=Priority.READ,
        request=commands.HistoryCommand,
        parser=commands.history,
    ),
    Verb(
        name="lock",
        arguments=("<chain>", "<env>", "[reason ...]"),
        summary=md("Refuse changes to an environment until it is unlocked (unless forced with `--force`)."),
        example="/chain lock hello-chain production launch freeze",
        priority=Priority.WRITE,
        request=commands.LockCommand,
        parser=commands.lock,
    ),
    Verb(
        name="unlock",
        arguments=("<chain>", "<env>"),
        summary="Allow changes to a locked environment again.",
        example="/chain unlock hello-chain production",
        priority=Priority.WRITE,
        request=commands.UnlockCommand,
        parser=commands.unlock,
    ),
    Verb(
        name="watch",
        arguments=("[<chain>]", "[<env> ...]"),
        summary="Post every change to a chain in this channel, including those made outside chainops, with who made them. Alone: what this channel watches.",
        example="/chain watch hello-chain production",
        priority=Priority.WRITE,
        request=commands.WatchCommand,
        parser=commands.watch,
    ),
    Verb(
        name="unwatch",
        arguments=("<chain>", "[<env> ...]"),
        summary="Stop posting a chain's changes in this channel (those environments, or all).",
        example="/chain unwatch hello-chain",
        priority=Priority.WRITE,
        request=commands.UnwatchCommand,
        parser=commands.unwatch,
    ),
    Verb(
        name="help",
        arguments=("[<command>]",),
        summary="Every command with an example, or one command with its options.",
        example="/chain help promote",
        priority=Priority.READ,
        request=HelpCommand,
        parser=_help,
    ),
)

_BY_NAME = {name: verb for verb in VERBS for name in (verb.name, *verb.aliases)}
_BY_MODEL = {model: verb for verb in VERBS for model in (verb.request, verb.form) if model}


def find(name: str) -> Verb:
    verb = _BY_NAME.get(name.lower())
    if verb is None:
        names = ", ".join(v.name for v in VERBS)
        raise UsageError(md("Unknown command `{}`. Commands: {}.", show(name), names))
    return verb


def of(command: Command) -> Verb:
    return _BY_MODEL[type(command)]


def parse(text: str) -> Command:
    """A `/chain` command's text as its request model; UsageError says what is wrong with it."""
    words = commands.words(text)
    if not words or words[0] in HELP_FLAGS:
        return HelpCommand()
    verb, args = find(words[0]), words[1:]
    if any(arg in HELP_FLAGS for arg in args):
        return HelpCommand(topic=verb.name)
    if not args and verb.form is not None:
        return verb.form()
    return verb.parser(args, verb)


@dataclass(frozen=True)
class Parsed:
    """A command's text, read once where it arrives: what it asks for, or what is wrong with it."""

    command: Command | None
    error: UsageError | None = None

    @property
    def verb(self) -> Verb | None:
        return of(self.command) if self.command is not None else None

    @property
    def priority(self) -> Priority:
        """Changes go before reads: a promote waits for no status read, and neither waits for help."""
        return self.verb.priority if self.verb else Priority.READ

    @property
    def opens_form(self) -> bool:
        """The verb alone, opening its form."""
        return self.verb is not None and type(self.command) is self.verb.form

    @property
    def needs_baseten(self) -> bool:
        """False for what is answered without asking Baseten: help, a usage error, a form to open, the
        history of every chain."""
        return self.command is not None and self.command.needs_baseten

    @property
    def label(self) -> str:
        """The command's name for metrics: its verb, or "invalid" when it does not parse."""
        return self.command.verb if self.command is not None else "invalid"

    def checked(self) -> Command:
        if self.command is None:
            assert self.error is not None
            raise self.error
        return self.command


def read(text: str) -> Parsed:
    try:
        return Parsed(parse(text))
    except UsageError as exc:
        return Parsed(None, exc)


def metric_labels() -> frozenset[str]:
    return frozenset(label for verb in VERBS for label in verb.labels)


def usage_hint() -> str:
    """What Slack shows while `/chain` is typed (the manifest's `usage_hint`)."""
    return " | ".join(f"{verb.name} {verb.synopsis}" for verb in VERBS)
