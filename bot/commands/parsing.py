"""`/chain ...` arguments parsed into typed request models, one parser per verb. Anything malformed raises
UsageError with a short, specific message; nothing here talks to Baseten. Which verbs exist, and their
usage, options and arguments, is the registry's (`bot.commands.registry`)."""

from __future__ import annotations

import re
import shlex
import unicodedata
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def needs_baseten(self) -> bool:
        """Whether answering it calls Baseten; what does not is answered on the lane that never waits
        for Baseten, so help is not queued behind reads waiting for a slow Baseten."""
        return True


class HelpCommand(_Command):
    verb: Literal["help"] = "help"
    topic: str | None = None  # a verb's name: that verb's help; None: every verb

    @property
    def needs_baseten(self) -> bool:
        return False


class PromoteCommand(_Command):
    verb: Literal["promote"] = "promote"
    chain: Name
    env: Name
    deployment_id: Name
    keep_previous: bool = False
    force: bool = False


class InstanceTypeChange(_Command):
    chainlet: ChainletName
    instance_type: InstanceTypeRef


class InstanceTypeCommand(_Command):
    verb: Literal["instance-type"] = "instance-type"
    chain: Name
    env: Name
    changes: tuple[InstanceTypeChange, ...] = Field(min_length=1)
    force: bool = False


class StatusCommand(_Command):
    verb: Literal["status"] = "status"
    chain: Name
    env: Name | None = None


class HistoryCommand(_Command):
    verb: Literal["history"] = "history"
    chain: Name | None = None
    env: Name | None = None
    limit: int = Field(default=10, ge=1, le=50)

    @property
    def needs_baseten(self) -> bool:
        return self.chain is not None  # a chain is resolved through Baseten; every chain's is the database's


class LockCommand(_Command):
    verb: Literal["lock"] = "lock"
    chain: Name
    env: Name
    reason: str = Field(default="", max_length=300)


class UnlockCommand(_Command):
    verb: Literal["unlock"] = "unlock"
    chain: Name
    env: Name


class WatchCommand(_Command):
    verb: Literal["watch"] = "watch"
    chain: Name | None = None  # None: list the channel's subscriptions
    envs: tuple[Name, ...] = ()  # none: every environment of the chain

    @property
    def needs_baseten(self) -> bool:
        return self.chain is not None


class UnwatchCommand(_Command):
    verb: Literal["unwatch"] = "unwatch"
    chain: Name
    envs: tuple[Name, ...] = ()


class _FormCommand(_Command):
    @property
    def needs_baseten(self) -> bool:
        return False  # opening a form needs no Baseten call


class PromoteModalCommand(_FormCommand):
    """`/chain promote` with no arguments: open the modal."""

    verb: Literal["promote-modal"] = "promote-modal"


class InstanceTypeModalCommand(_FormCommand):
    verb: Literal["instance-type-modal"] = "instance-type-modal"


FormCommand = PromoteModalCommand | InstanceTypeModalCommand

Command = (
    HelpCommand
    | PromoteCommand
    | InstanceTypeCommand
    | StatusCommand
    | HistoryCommand
    | LockCommand
    | UnlockCommand
    | WatchCommand
    | UnwatchCommand
    | PromoteModalCommand
    | InstanceTypeModalCommand
)


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


def _flags(args: list[str], verb: Verb) -> tuple[list[str], set[str]]:
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


def _arity(positional: list[str], verb: Verb) -> None:
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


def _names(values: dict[str, str], verb: Verb) -> None:
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
    for label, value in values.items():
        if not pattern.match(value):
            raise UsageError(md("`{}` is not a valid {}. Usage: {}", show(value), label, verb.usage))


def promote(args: list[str], verb: Verb) -> Command:
    positional, flags = _flags(args, verb)
    _arity(positional, verb)
    chain, env, deployment_id = positional
    _names({"chain name": chain, "environment name": env, "deployment id": deployment_id}, verb)
    return PromoteCommand(
        chain=chain,
        env=env,
        deployment_id=deployment_id,
        keep_previous="--keep-previous" in flags,
        force="--force" in flags,
    )


def instance_type(args: list[str], verb: Verb) -> Command:
    positional, flags = _flags(args, verb)
    _arity(positional, verb)
    chain, env, *pairs = positional
    _names({"chain name": chain, "environment name": env}, verb)
    changes: list[InstanceTypeChange] = []
    seen: set[str] = set()
    for pair in pairs:
        chainlet, sep, instance_type = pair.partition("=")
        if not sep or not chainlet or not instance_type:
            raise UsageError(
                md("`{}` should look like `<chainlet>=<instance_type>`, e.g. `HelloWorld=1x4`.", show(pair))
            )
        _names({"chainlet name": chainlet}, verb)
        if len(instance_type) > 200:
            raise UsageError(
                md("`{}` is too long for an instance type. Usage: {}", show(instance_type), verb.usage)
            )
        if chainlet in seen:
            raise UsageError(
                md("Chainlet `{}` is named twice; give each chainlet one instance type.", show(chainlet))
            )
        seen.add(chainlet)
        changes.append(InstanceTypeChange(chainlet=chainlet, instance_type=instance_type.strip()))
    return InstanceTypeCommand(chain=chain, env=env, changes=tuple(changes), force="--force" in flags)


def status(args: list[str], verb: Verb) -> Command:
    positional, _ = _flags(args, verb)
    _arity(positional, verb)
    chain, *env = positional
    _names({"chain name": chain, **({"environment name": env[0]} if env else {})}, verb)
    return StatusCommand(chain=chain, env=env[0] if env else None)


def history(args: list[str], verb: Verb) -> Command:
    positional, _ = _flags(args, verb)
    _arity(positional, verb)
    _names(dict(zip(("chain name", "environment name"), positional, strict=False)), verb)
    return HistoryCommand(
        chain=positional[0] if positional else None, env=positional[1] if len(positional) == 2 else None
    )


def lock(args: list[str], verb: Verb) -> Command:
    # The reason is free text: words in it that look like options are part of it.
    _arity(args, verb)
    chain, env, *reason = args
    _names({"chain name": chain, "environment name": env}, verb)
    text = " ".join(reason)
    if len(text) > 300:
        raise UsageError("lock: keep the reason under 300 characters.")
    return LockCommand(chain=chain, env=env, reason=text)


def unlock(args: list[str], verb: Verb) -> Command:
    positional, _ = _flags(args, verb)
    _arity(positional, verb)
    chain, env = positional
    _names({"chain name": chain, "environment name": env}, verb)
    return UnlockCommand(chain=chain, env=env)


def _chain_and_envs(args: list[str], verb: Verb) -> tuple[str | None, tuple[str, ...]]:
    positional, _ = _flags(args, verb)
    _arity(positional, verb)
    if not positional:
        return None, ()
    chain, *envs = positional
    _names({"chain name": chain}, verb)
    for env in envs:
        _names({"environment name": env}, verb)
    return chain, tuple(dict.fromkeys(envs))


def watch(args: list[str], verb: Verb) -> Command:
    chain, envs = _chain_and_envs(args, verb)
    return WatchCommand(chain=chain, envs=envs)


def unwatch(args: list[str], verb: Verb) -> Command:
    chain, envs = _chain_and_envs(args, verb)
    assert chain is not None  # the registry says <chain> is needed
    return UnwatchCommand(chain=chain, envs=envs)
