"""`/chain status <chain> [<env>]`: the live deployment's chainlets, and any lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.baseten.errors import BasetenError, BasetenInvalidName, BasetenNotFound
from bot.changes.plans import ChainRef
from bot.commands.parsing import Command, Name, arity, flags, names
from bot.commands.verb import Verb
from bot.runtime.workpool import Priority
from bot.slack import blocks
from bot.slack.markup import md
from bot.watch import threads

if TYPE_CHECKING:
    from bot.changes.operations import Operations
    from bot.slack.invocation import Invocation

STATUS_ENVIRONMENTS = 10  # environments read for `/chain status <chain>`; the rest are named as a count
STATUS_DETAILED_CHAINLETS = 40  # chainlets with their own section in `/chain status <chain> <env>`


class StatusCommand(Command):
    verb: Literal["status"] = "status"
    chain: Name
    env: Name | None = None


def parse(args: list[str], verb: Verb) -> Command:
    positional, _ = flags(args, verb)
    arity(positional, verb)
    chain, *env = positional
    names({"chain name": chain, **({"environment name": env[0]} if env else {})}, verb)
    return StatusCommand(chain=chain, env=env[0] if env else None)


def answer(ops: Operations, command: StatusCommand, inv: Invocation) -> None:
    chain = ops.planner.chain(command.chain)
    env_names = (
        [ops.planner.environment(chain, command.env).name]
        if command.env
        else ops.baseten.list_environment_names(chain.id)
    )
    # One environment in detail; several with one line per chainlet, as many as fit in a message.
    detailed = STATUS_DETAILED_CHAINLETS if len(env_names) == 1 else 0
    per_env: list[blocks.Blocks] = []
    types = ops.planner.catalog.instance_types_by_name()
    typed = ChainRef.of(chain).word
    for name in env_names[:STATUS_ENVIRONMENTS]:
        try:
            env = ops.baseten.get_environment(chain.id, name)
        except (BasetenInvalidName, BasetenNotFound) as exc:
            if command.env:
                raise
            # One environment that cannot be read hides none of the others.
            per_env.append(blocks.unreadable_environment(chain.name, name, _unreadable(exc)))
            continue
        lock_line = ops.locks.status_line(ChainRef.of(chain), name)
        shown = blocks.status_message(
            chain.name,
            name,
            env.current_deployment,
            lock_line,
            detailed=detailed,
            types=types,
            typed=typed,
        )
        if env.candidate_deployment is not None:
            # A rollout in progress, whoever started it, with the thread that follows it.
            candidate = env.candidate_deployment.id
            line = threads.in_progress(ops.store, ops.gateway, chain.id, name, candidate)
            shown.insert(1, blocks.context(line))
        per_env.append(shown)
    block_list = blocks.environments_status(
        chain.name, per_env, len(env_names) - len(per_env), chain_id=chain.id, typed=typed
    )
    if not env_names:
        block_list.append(blocks.section(md("{} has no environments.", chain.name)))
    ops.tell(inv, md("Status of {}", chain.name), block_list)


def _unreadable(exc: BasetenError) -> str:
    if isinstance(exc, BasetenInvalidName):
        return md(
            "Not shown: chainops cannot address this environment, since its name is not made of letters, "
            "digits, `-`, `_` and `.`. See it in Baseten, or rename it there."
        )
    return "Not shown: Baseten no longer finds this environment."


VERB: Verb = Verb(
    name="status",
    arguments=("<chain>", "[<env>]"),
    summary="The live deployment's chainlets: status, instance type, replicas, autoscaling, and any lock.",
    example="/chain status hello-chain production",
    priority=Priority.READ,
    request=StatusCommand,
    parser=parse,
    answer=answer,
)
