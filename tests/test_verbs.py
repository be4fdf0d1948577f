"""The registry of verbs: each verb is described whole, and help, usage errors, metric labels and the
manifest's usage hint all come from it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from bot.changes.plans import ChangePlan
from bot.commands import registry as verbs
from bot.commands.parsing import ChangeCommand
from bot.runtime import metrics
from bot.runtime.workpool import Priority
from bot.slack.markup import readable
from tests.world import World

ROOT = Path(__file__).resolve().parent.parent
# Fields a verb may leave empty: not every verb has options, aliases or a form.
OPTIONAL = {"options", "aliases", "form", "change", "answer"}


@pytest.mark.parametrize("verb", verbs.VERBS, ids=lambda v: v.name)
def test_every_verb_is_described_whole(verb: verbs.Verb) -> None:
    for field in dataclasses.fields(verb):
        if field.name not in OPTIONAL:
            assert getattr(verb, field.name), f"{verb.name} has no {field.name}"
    assert isinstance(verb.priority, Priority) and verb.summary.endswith(".")
    assert all(option.flag.startswith("--") and option.meaning for option in verb.options)
    assert verb.example.startswith(f"/chain {verb.name} ")
    assert type(verbs.parse(verb.example.removeprefix("/chain "))) is verb.request
    assert verb.request.model_fields["verb"].default == verb.name
    alone = verbs.read(verb.name)
    assert alone.opens_form is verb.opens_form
    if verb.form is not None:
        assert type(alone.command) is verb.form
    assert set(verb.labels) <= metrics.COMMAND_NAMES


@pytest.mark.parametrize("verb", verbs.VERBS, ids=lambda v: v.name)
def test_every_verb_is_either_a_change_or_answered_at_once(verb: verbs.Verb) -> None:
    assert (verb.change is None) != (verb.answer is None), f"{verb.name}: a change kind or an answer, not both"
    if verb.change is not None:
        # A change goes before reads, and its request names what it changes.
        assert verb.priority is Priority.WRITE and issubclass(verb.request, ChangeCommand)


@pytest.mark.parametrize("kind", verbs.CHANGE_KINDS, ids=lambda k: k.plan.__name__)
def test_every_change_kind_has_every_part_the_lifecycle_asks_for(kind: verbs.ChangeKind) -> None:
    assert issubclass(kind.plan, ChangePlan) and not inspect.isabstract(kind.plan), (
        f"{kind.plan.__name__} lacks {sorted(getattr(kind.plan, '__abstractmethods__', ()))}"
    )
    assert kind.names and all(verbs.PLANS.kind(name) is kind for name in kind.names)
    assert callable(kind.check) and (kind.revert is None or callable(kind.revert))
    assert kind.undo is None or verbs.PLANS.kind(kind.undo) is not None, f"{kind.undo} is no stored kind"


def test_no_two_change_kinds_store_plans_under_one_name() -> None:
    names = [name for kind in verbs.CHANGE_KINDS for name in kind.names]
    assert len(names) == len(set(names))


def test_the_lifecycle_imports_no_particular_verb() -> None:
    """Offer, decide, execute and follow know change kinds only through the registry."""
    allowed = {"bot.commands.registry", "bot.commands.parsing"}
    for path in (ROOT / "bot" / "changes").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot.commands"):
                imported = {node.module} if node.module != "bot.commands" else {f"bot.commands.{a.name}" for a in node.names}
                assert imported <= allowed, f"{path.name} imports {imported - allowed}"


def test_the_manifest_hints_at_every_verb_as_the_registry_describes_it() -> None:
    manifest = yaml.safe_load((ROOT / "app_manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["usage_hint"] == verbs.usage_hint()
    for name in ("history", "lock", "unlock", "[--force]"):
        assert name in command["usage_hint"]


def test_changes_go_before_reads_and_bad_input_is_a_read() -> None:
    assert verbs.read("promote hello-chain production dep-hello-4").priority is Priority.WRITE
    assert verbs.read("unlock hello-chain production").priority is Priority.WRITE
    assert verbs.read("status hello-chain").priority is Priority.READ
    assert verbs.read("promote --help").priority is Priority.READ
    assert verbs.read("promote a b c d").priority is Priority.READ


def test_what_needs_no_baseten_is_known_from_the_command() -> None:
    for text in ("", "help", "promote --help", "history", "promote", "instance-type", "promote a b c d", "frob"):
        assert not verbs.read(text).needs_baseten, text
    for text in ("history hello-chain", "status hello-chain", "promote hello-chain production dep-hello-4", "unlock a b"):
        assert verbs.read(text).needs_baseten, text


def test_help_shows_every_verb_with_its_whole_usage_and_an_example(world: World) -> None:
    world.command("help")

    shown = world.private_text()
    for verb in verbs.VERBS:
        assert f"*/chain {verb.name}* `{verb.synopsis}`" in shown
        assert f"e.g. `{verb.example}`" in shown
    assert "[--keep-previous] [--force]" in shown
    assert world.channel_messages() == [] and world.sim.requests == []


@pytest.mark.parametrize(
    "text", ["help promote", "promote --help", "promote -h", "help PROMOTE", "promote hello-chain --help"]
)
def test_help_on_one_command_shows_its_usage_options_and_example(world: World, text: str) -> None:
    world.command(text)

    shown = world.private_text()
    assert "`/chain promote <chain> <env> <deployment_id> [--keep-previous] [--force]`" in shown
    assert "`--keep-previous` keep the previous deployment running" in shown
    assert "`--force` go ahead although the environment is locked" in shown
    assert "e.g. `/chain promote hello-chain production dep-hello-4`" in shown
    assert "With no arguments it opens a form." in shown
    assert "/chain status" not in shown and "Unknown option" not in shown
    assert world.channel_messages() == [] and world.sim.requests == []


def test_help_on_a_command_without_options_or_form(world: World) -> None:
    world.command("status --help")

    shown = world.private_text()
    assert (
        "`/chain status <chain> [<env>]`" in shown and "e.g. `/chain status hello-chain production`" in shown
    )
    assert "Options" not in shown and "opens a form" not in shown


def test_help_on_an_unknown_command_names_the_commands(world: World) -> None:
    world.command("help frobnicate")

    assert world.private_text() == (
        "Unknown command `frobnicate`. Commands: promote, instance-type, autoscaling, status, history, lock, unlock, watch, unwatch, help."
    )


TOO_MANY = {
    "promote": "promote hello-chain production dep-hello-4 extra words",
    "status": "status hello-chain production extra",
    "history": "history hello-chain production extra",
    "unlock": "unlock hello-chain staging extra words",
    "help": "help promote extra",
}


def test_every_verb_with_a_fixed_number_of_arguments_is_covered() -> None:
    rest = {v.name for v in verbs.VERBS if v.arguments[-1].removesuffix("]").endswith("...")}
    assert (
        set(TOO_MANY)
        == {v.name for v in verbs.VERBS} - rest
        == {"promote", "status", "history", "unlock", "help"}
    )


@pytest.mark.parametrize("text", TOO_MANY.values(), ids=TOO_MANY.keys())
def test_too_many_arguments_say_so_and_which(world: World, text: str) -> None:
    verb = verbs.find(text.split()[0])
    world.command(text)

    shown = world.private_text()
    extra = text.split(maxsplit=len(verb.arguments) + 1)[-1]  # the words past the last argument
    assert shown == f"{verb.name}: too many arguments (`{extra}`). Usage: {readable(verb.usage)}"
    assert world.channel_messages() == [] and world.writes == []


@pytest.mark.parametrize(
    "text, answer",
    [
        ("unlock hello-chain", "unlock: missing <env>. Usage: `/chain unlock <chain> <env>`"),
        ("lock", "lock: missing <chain> <env>. Usage: `/chain lock <chain> <env> [reason ...]`"),
        ("status", "status: missing <chain>. Usage: `/chain status <chain> [<env>]`"),
        (
            "instance-type hello-chain production --force",
            "instance-type: missing <chainlet>=<instance_type>.",
        ),
        ("unlock hello-chain production --force", "Unknown option `--force` (unlock has none)."),
    ],
)
def test_too_few_arguments_name_what_is_missing(world: World, text: str, answer: str) -> None:
    world.command(text)

    assert world.private_text().startswith(answer)
    assert world.channel_messages() == [] and world.writes == []


def test_a_lock_reason_may_hold_words_that_look_like_options(world: World) -> None:
    world.command("lock hello-chain production freeze -- until --monday")

    [message] = world.channel_messages()
    assert "freeze -- until --monday" in str(message.text)


def test_every_verb_that_opens_a_form_has_one_and_every_form_a_verb() -> None:
    from bot.slack.form_steps import BY_COMMAND

    assert set(BY_COMMAND) == {verb.form for verb in verbs.VERBS if verb.form is not None}
    for verb in verbs.VERBS:
        if verb.form is not None:
            assert verb.change is not None, f"{verb.name}'s form offers a change, so {verb.name} is one"
