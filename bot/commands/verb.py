"""What describes a verb: the one record its module fills in and the registry lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.commands.parsing import Command, FormCommand
from bot.runtime.workpool import Priority
from bot.slack.markup import Mrkdwn, md

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.changes.plans import ChangeKind
    from bot.slack.invocation import Invocation

# How a read is answered: with what the lifecycle offers every verb (Baseten, the planner, locks, the
# audit trail, the outbox), privately or in the channel.
Answer = Callable[["Operations", Any, "Invocation"], None]


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
    # Exactly one of these: a change goes through the lifecycle (offer, decide, execute once, follow);
    # anything else is answered at once.
    change: ChangeKind | None = None
    answer: Answer | None = None
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


FORCE = Option("--force", "go ahead although the environment is locked (its approvers only, if it has any)")
