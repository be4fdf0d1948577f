"""What every `/chain` command's parsing shares: the checks on its words, options, arity and names, and
the request models' bases. Each verb's own request model and parser are in its module; anything
malformed raises UsageError with a short, specific message, and nothing here talks to Baseten."""

from __future__ import annotations

import re
import shlex
import unicodedata
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from bot.slack.markup import Mrkdwn, as_mrkdwn, md

if TYPE_CHECKING:
    from bot.commands.registry import Verb

MAX_INPUT = 1000

# Baseten names and ids are plain tokens; anything else is a typo or an injection attempt.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")]
# Chainlets are named after their classes, which can be long; they travel in request bodies, not paths.
ChainletName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,299}$")]
# An instance type by id (`A10G:8x32`) or by the name Baseten shows (`A10G 24GiB (1x, 8 vCPU, 32 GiB)`),
# in any letter case. It is looked up in Baseten's list; only the id it resolves to is ever sent.
InstanceTypeRef = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UsageError(Exception):
    """Bad input, with the message to show the person who typed it (text; escaped when shown)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.text: Mrkdwn = as_mrkdwn(message)  # plain text is escaped; `md(...)` keeps its own code


class Command(BaseModel):
    """A parsed `/chain` command: each verb's request model (its module in `bot.commands`) is one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verb: str = ""  # each verb's request model names it (its metric label)

    @property
    def needs_baseten(self) -> bool:
        """Whether answering it calls Baseten; what does not is answered on the lane that never waits
        for Baseten, so help is not queued behind reads waiting for a slow Baseten."""
        return True


class ChangeCommand(Command):
    """A request to change an environment: what every change verb's request has."""

    chain: Name
    env: Name
    force: bool = False


class FormCommand(Command):
    """A verb typed alone, opening its form."""

    @property
    def needs_baseten(self) -> bool:
        return False  # opening a form needs no Baseten call


def words(text: str) -> list[str]:
    """The words of a command as a shell would split them, after the checks every command gets."""
    text = (text or "").strip()
    if len(text) > MAX_INPUT:
        raise UsageError(f"That command is too long ({len(text)} characters; at most {MAX_INPUT}).")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t" for ch in text):
        raise UsageError("That command contains control characters; type it on one line without them.")
    try:
        return shlex.split(text.replace("\u201c", '"').replace("\u201d", '"'))
    except ValueError:
        raise UsageError("Unbalanced quotes in that command. Names never need quotes.") from None


def show(word: str) -> str:
    """Echo user input safely: short, and without characters that break Slack formatting."""
    cleaned = re.sub(r"[`<>&*_~]", "", word)
    return cleaned if len(cleaned) <= 40 else cleaned[:40] + "…"


def is_option(word: str) -> bool:
    return word.startswith("--") or (word.startswith("-") and len(word) > 1 and not word[1].isdigit())


def flags(args: list[str], verb: Verb) -> tuple[list[str], set[str]]:
    allowed = {option.flag for option in verb.options}
    positional, flags = [], set()
    for arg in args:
        if is_option(arg):
            if arg not in allowed:
                known = f"options here: {', '.join(sorted(allowed))}" if allowed else f"{verb.name} has none"
                raise UsageError(md("Unknown option `{}` ({}). Usage: {}", show(arg), known, verb.usage))
            flags.add(arg)
        else:
            positional.append(arg)
    return positional, flags


def arity(positional: list[str], verb: Verb) -> None:
    """As many arguments as the verb's usage names: `<x>` is needed, `[<x>]` may be left out, and a
    last one ending in `...` (`<x> ...`, `[x ...]`) takes every word that follows."""
    needed = [a.removesuffix(" ...") for a in verb.arguments if not a.startswith("[")]
    if len(positional) < len(needed):
        missing = " ".join(needed[len(positional) :])
        raise UsageError(md("{}: missing {}. Usage: {}", verb.name, missing, verb.usage))
    takes_rest = bool(verb.arguments) and verb.arguments[-1].removesuffix("]").endswith("...")
    if not takes_rest and len(positional) > len(verb.arguments):
        extra = " ".join(positional[len(verb.arguments) :])
        raise UsageError(md("{}: too many arguments (`{}`). Usage: {}", verb.name, show(extra), verb.usage))


def names(values: dict[str, str], verb: Verb) -> None:
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
    for label, value in values.items():
        if not pattern.match(value):
            raise UsageError(md("`{}` is not a valid {}. Usage: {}", show(value), label, verb.usage))
