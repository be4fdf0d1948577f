"""`/chain ...` text parsed into typed request models. Anything malformed raises UsageError with a short,
specific message; nothing here talks to Baseten."""

from __future__ import annotations

import re
import shlex
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.markup import Mrkdwn, as_mrkdwn

MAX_INPUT = 1000

# Baseten names and ids are plain tokens; anything else is a typo or an injection attempt.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")]
# Chainlets are named after their classes, which can be long; they travel in request bodies, not paths.
ChainletName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,299}$")]


class UsageError(Exception):
    """Bad input, with the message to show the person who typed it (text; escaped when shown)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.text: Mrkdwn = as_mrkdwn(message)


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HelpCommand(_Command):
    verb: Literal["help"] = "help"


class PromoteCommand(_Command):
    verb: Literal["promote"] = "promote"
    chain: Name
    env: Name
    deployment_id: Name
    keep_previous: bool = False
    force: bool = False


class InstanceTypeChange(_Command):
    chainlet: ChainletName
    instance_type_id: Name


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


class LockCommand(_Command):
    verb: Literal["lock"] = "lock"
    chain: Name
    env: Name
    reason: str = Field(default="", max_length=300)


class UnlockCommand(_Command):
    verb: Literal["unlock"] = "unlock"
    chain: Name
    env: Name


class PromoteModalCommand(_Command):
    """`/chain promote` with no arguments: open the modal."""

    verb: Literal["promote-modal"] = "promote-modal"


class InstanceTypeModalCommand(_Command):
    verb: Literal["instance-type-modal"] = "instance-type-modal"


Command = (
    HelpCommand
    | PromoteCommand
    | InstanceTypeCommand
    | StatusCommand
    | HistoryCommand
    | LockCommand
    | UnlockCommand
    | PromoteModalCommand
    | InstanceTypeModalCommand
)

USAGE = {
    "promote": "`/chain promote <chain> <env> <deployment_id> [--keep-previous] [--force]`",
    "instance-type": "`/chain instance-type <chain> <env> <chainlet>=<instance_type> [...] [--force]`",
    "status": "`/chain status <chain> [<env>]`",
    "history": "`/chain history [<chain>] [<env>]`",
    "lock": "`/chain lock <chain> <env> [reason]`",
    "unlock": "`/chain unlock <chain> <env>`",
}


def parse(text: str) -> Command:
    text = (text or "").strip()
    if len(text) > MAX_INPUT:
        raise UsageError(f"That command is too long ({len(text)} characters; at most {MAX_INPUT}).")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t" for ch in text):
        raise UsageError("That command contains control characters; type it on one line without them.")
    try:
        words = shlex.split(text.replace("\u201c", '"').replace("\u201d", '"'))
    except ValueError:
        raise UsageError("Unbalanced quotes in that command. Names never need quotes.") from None
    if not words or words[0] in ("help", "-h", "--help"):
        return HelpCommand()
    verb, args = words[0].lower(), words[1:]
    parsers = {
        "promote": _promote,
        "instance-type": _instance_type,
        "instance-types": _instance_type,
        "status": _status,
        "history": _history,
        "lock": _lock,
        "unlock": _unlock,
    }
    if verb not in parsers:
        raise UsageError(
            f"Unknown command `{_show(verb)}`. Commands: promote, instance-type, status, history, lock, unlock, help."
        )
    return parsers[verb](args)


def _show(word: str) -> str:
    """Echo user input safely: short, and without characters that break Slack formatting."""
    cleaned = re.sub(r"[`<>&*_~]", "", word)
    return cleaned if len(cleaned) <= 40 else cleaned[:40] + "…"


def _flags(args: list[str], allowed: set[str], usage: str) -> tuple[list[str], set[str]]:
    positional, flags = [], set()
    for arg in args:
        if arg.startswith("--") or (arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit()):
            if arg not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise UsageError(f"Unknown option `{_show(arg)}` (options here: {known}). Usage: {usage}")
            flags.add(arg)
        else:
            positional.append(arg)
    return positional, flags


def _names(values: dict[str, str], usage: str) -> None:
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
    for label, value in values.items():
        if not pattern.match(value):
            raise UsageError(f"`{_show(value)}` is not a valid {label}. Usage: {usage}")


def _promote(args: list[str]) -> Command:
    usage = USAGE["promote"]
    positional, flags = _flags(args, {"--keep-previous", "--force"}, usage)
    if not positional and not flags:
        return PromoteModalCommand()
    if len(positional) != 3:
        missing = ["<chain>", "<env>", "<deployment_id>"][len(positional) :]
        what = f"missing {' '.join(missing)}" if missing else "too many arguments"
        raise UsageError(f"promote: {what}. Usage: {usage}")
    chain, env, deployment_id = positional
    _names({"chain name": chain, "environment name": env, "deployment id": deployment_id}, usage)
    return PromoteCommand(
        chain=chain,
        env=env,
        deployment_id=deployment_id,
        keep_previous="--keep-previous" in flags,
        force="--force" in flags,
    )


def _instance_type(args: list[str]) -> Command:
    usage = USAGE["instance-type"]
    positional, flags = _flags(args, {"--force"}, usage)
    if not positional and not flags:
        return InstanceTypeModalCommand()
    if len(positional) < 3:
        raise UsageError(
            f"instance-type: give a chain, an environment and at least one <chainlet>=<instance_type>. Usage: {usage}"
        )
    chain, env, *pairs = positional
    _names({"chain name": chain, "environment name": env}, usage)
    changes: list[InstanceTypeChange] = []
    seen: set[str] = set()
    for pair in pairs:
        chainlet, sep, instance_type = pair.partition("=")
        if not sep or not chainlet or not instance_type:
            raise UsageError(
                f"`{_show(pair)}` should look like `<chainlet>=<instance_type>`, e.g. `HelloWorld=1x4`."
            )
        _names({"chainlet name": chainlet, "instance type": instance_type}, usage)
        if chainlet in seen:
            raise UsageError(
                f"Chainlet `{_show(chainlet)}` is named twice; give each chainlet one instance type."
            )
        seen.add(chainlet)
        changes.append(InstanceTypeChange(chainlet=chainlet, instance_type_id=instance_type))
    return InstanceTypeCommand(chain=chain, env=env, changes=tuple(changes), force="--force" in flags)


def _status(args: list[str]) -> Command:
    usage = USAGE["status"]
    positional, _ = _flags(args, set(), usage)
    if not 1 <= len(positional) <= 2:
        raise UsageError(f"status: give a chain and optionally an environment. Usage: {usage}")
    _names(
        {
            "chain name": positional[0],
            **({"environment name": positional[1]} if len(positional) == 2 else {}),
        },
        usage,
    )
    return StatusCommand(chain=positional[0], env=positional[1] if len(positional) == 2 else None)


def _history(args: list[str]) -> Command:
    usage = USAGE["history"]
    positional, _ = _flags(args, set(), usage)
    if len(positional) > 2:
        raise UsageError(f"history: too many arguments. Usage: {usage}")
    for value in positional:
        _names({"name": value}, usage)
    chain = positional[0] if positional else None
    env = positional[1] if len(positional) == 2 else None
    return HistoryCommand(chain=chain, env=env)


def _lock(args: list[str]) -> Command:
    usage = USAGE["lock"]
    if len(args) < 2:
        raise UsageError(f"lock: give a chain and an environment. Usage: {usage}")
    chain, env, *reason = args
    _names({"chain name": chain, "environment name": env}, usage)
    text = " ".join(reason)
    if len(text) > 300:
        raise UsageError("lock: keep the reason under 300 characters.")
    return LockCommand(chain=chain, env=env, reason=text)


def _unlock(args: list[str]) -> Command:
    usage = USAGE["unlock"]
    if len(args) != 2:
        raise UsageError(f"unlock: give a chain and an environment. Usage: {usage}")
    _names({"chain name": args[0], "environment name": args[1]}, usage)
    return UnlockCommand(chain=args[0], env=args[1])
