"""The `/chain autoscaling` form: chain, then environment, then one row of number inputs per chainlet,
prefilled with today's values. Pure builders and the reading of a submission; only values that differ
from today's become the command, which is then checked like a typed one."""

from __future__ import annotations

import hashlib
from typing import Any

from bot.baseten.models import ChainEnvironment, ChainletEnvironmentSettings
from bot.commands.autoscaling import AutoscalingCommand, ChainletScaling
from bot.commands.autoscaling_plan import HIGHEST, KEYS, LARGEST, LOWEST, MEANINGS
from bot.slack.blocks import context, plain, section
from bot.slack.ids import Action, View
from bot.slack.markup import md
from bot.slack.modals import (
    PREVIEW_NOTE,
    FormMetadata,
    View_,
    _chain_input,
    _env_input,
    _modal,
)

TITLE = "Change autoscaling"
# Each chainlet is a header and six inputs; Slack allows 100 blocks in a view.
MAX_FORM_CHAINLETS = 12
PREFIX = "scaling:"


def block_id(chainlet: str, key: str) -> str:
    """Within Slack's 255 characters whatever the chainlet's name; mapped back through the environment."""
    return f"{PREFIX}{hashlib.sha256(chainlet.encode()).hexdigest()[:20]}:{key}"


def _number(chainlet: str, key: str, value: int | None, action_id: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "number_input",
        "action_id": action_id,
        "is_decimal_allowed": False,
        "min_value": str(LOWEST[key]),
        "max_value": str(HIGHEST.get(key, LARGEST)),
    }
    if value is not None:
        element["initial_value"] = str(value)
    return {
        "type": "input",
        "block_id": block_id(chainlet, key),
        "optional": True,  # left as it is (or emptied): the setting is not sent
        "label": plain(f"{key} ({MEANINGS[key]})", 2000),
        "element": element,
    }


def chainlet_rows(environment: ChainEnvironment, action_id: str) -> list[dict[str, Any]]:
    """A header per chainlet (with its replicas now) and a number input per key, prefilled."""
    blocks: list[dict[str, Any]] = []
    settings = environment.chainlet_settings[:MAX_FORM_CHAINLETS]
    for setting in settings:
        active = environment.active_replicas_of(setting.chainlet_name)
        now = "" if active is None else md(" · {} active replicas now", active)
        blocks.append(section(md("*{}* · `{}`{}", setting.chainlet_name, setting.instance_type.id, now)))
        scaling = setting.autoscaling_settings
        for key, field in KEYS.items():
            value = getattr(scaling, field) if scaling else None
            blocks.append(_number(setting.chainlet_name, key, value, action_id))
    hidden = len(environment.chainlet_settings) - len(settings)
    if hidden:
        blocks.append(
            context(
                md(
                    "…and {} more chainlets. Change those with `/chain autoscaling <chain> {} <chainlet> max=2`.",
                    hidden,
                    environment.name,
                )
            )
        )
    blocks.append(section("Only values you change are sent to Baseten."))
    return blocks


def modal(
    meta: FormMetadata,
    environments: list[str] | None = None,
    environment: ChainEnvironment | None = None,
    *,
    note: str | None = None,
) -> View_:
    """Chain; then its environments; then that environment's chainlets, each with today's values."""
    blocks: list[dict[str, Any]] = [_chain_input(meta)]
    if environments is not None:
        blocks += _env_input(meta, environments, dispatch=True)
    if environment is not None:
        blocks += chainlet_rows(environment, Action.SET_SCALING.value)
    ready = environment is not None
    default = (
        md("Today's values are filled in. {}", PREVIEW_NOTE)
        if ready
        else "Choose a chain and an environment."
    )
    blocks.append(context(note or default))
    return _modal(View.AUTOSCALING, TITLE, meta, blocks, ready=ready)


def _typed(state: dict[str, Any], block: str) -> str | None:
    for value in (state.get(block) or {}).values():
        typed = value.get("value")
        if typed not in (None, ""):
            return str(typed)
    return None


def has_rows(present: set[Any]) -> bool:
    """Whether the submitted step showed the chainlets' rows (else "Next" shows them)."""
    return any(str(b).startswith(PREFIX) for b in present)


def read(
    state: dict[str, Any], environment: ChainEnvironment, *, chain: str
) -> tuple[AutoscalingCommand | None, dict[str, str]]:
    """The command the form asks for (only changed values), or errors by block_id. None and no errors:
    nothing was changed."""
    errors: dict[str, str] = {}
    chainlets: list[ChainletScaling] = []
    for setting in environment.chainlet_settings[:MAX_FORM_CHAINLETS]:
        changed = _changed(state, setting, errors)
        if changed:
            chainlets.append(ChainletScaling(chainlet=setting.chainlet_name, settings=changed))
    if errors or not chainlets:
        return None, errors
    return AutoscalingCommand(chain=chain, env=environment.name, chainlets=tuple(chainlets)), {}


def _changed(
    state: dict[str, Any], setting: ChainletEnvironmentSettings, errors: dict[str, str]
) -> dict[str, int]:
    scaling = setting.autoscaling_settings
    changed: dict[str, int] = {}
    for key, field in KEYS.items():
        block = block_id(setting.chainlet_name, key)
        typed = _typed(state, block)
        if typed is None:
            continue
        try:
            value = int(typed)
        except ValueError:
            errors[block] = "Give a whole number."
            continue
        high = HIGHEST.get(key, LARGEST)
        if not LOWEST[key] <= value <= high:
            errors[block] = f"From {LOWEST[key]} to {high}."
            continue
        if scaling is None or getattr(scaling, field) != value:
            changed[key] = value
    return changed
