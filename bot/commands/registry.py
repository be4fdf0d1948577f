"""Every `/chain` verb, one line each (each verb is described whole in its own module). Help, usage and
its errors, the manifest's usage hint, metric labels, routing, how urgent a command is, whether it
opens a form and the kinds of stored plans are all read from this table: a verb added here is complete
everywhere, and one missing a part fails `tests/test_verbs.py`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.changes.plans import ChangeKind, PlanCodec
from bot.commands import autoscaling, help, history, instance_type, lock, promote, status, watch
from bot.commands import parsing as commands
from bot.commands.help import HelpCommand
from bot.commands.parsing import Command, UsageError, show
from bot.commands.verb import Option, Verb
from bot.runtime import metrics
from bot.runtime.workpool import Priority
from bot.slack.markup import md

__all__ = [
    "CHANGE_KINDS",
    "PLANS",
    "VERBS",
    "ChangeKind",
    "Option",
    "Parsed",
    "Verb",
    "find",
    "of",
    "parse",
    "read",
]

HELP_FLAGS = ("--help", "-h")

# One line per verb, in the order help lists them.
VERBS: tuple[Verb, ...] = (
    promote.VERB,
    instance_type.VERB,
    autoscaling.VERB,
    status.VERB,
    history.VERB,
    lock.LOCK,
    lock.UNLOCK,
    watch.WATCH,
    watch.UNWATCH,
    help.VERB,
)

CHANGE_KINDS: tuple[ChangeKind, ...] = tuple(verb.change for verb in VERBS if verb.change is not None)
# Every stored plan's model, by its `kind`: a confirmation or a rollout is read back through this.
PLANS = PlanCodec(CHANGE_KINDS)

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


metrics.count_commands(metric_labels())


def usage_hint() -> str:
    """What Slack shows while `/chain` is typed (the manifest's `usage_hint`)."""
    return " | ".join(f"{verb.name} {verb.synopsis}" for verb in VERBS)
