"""Filling in a modal from the console: `set <n> <value>`, then `submit`. Each step is the payload Slack
would send (block_suggestion, block_actions, view_submission), dispatched to the same app."""

from __future__ import annotations

from typing import Any


def inputs(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in view.get("blocks", []) if b.get("type") == "input"]


def static_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options += group.get("options", [])
    return options


def choose(options: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """An option by its value, or the single one whose label starts with what was typed."""
    wanted = wanted.strip()
    for option in options:
        if option.get("value") == wanted:
            return option
    starting = [o for o in options if str(o["text"]["text"]).lower().startswith(wanted.lower())]
    return starting[0] if len(starting) == 1 else None


def initial_values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What Slack's state holds before anyone types: the preselected options."""
    values: dict[str, dict[str, Any]] = {}
    for block in inputs(view):
        element = block.get("element") or {}
        action_id = str(element.get("action_id"))
        if element.get("initial_option"):
            values[block["block_id"]] = {
                action_id: {"type": element["type"], "selected_option": element["initial_option"]}
            }
        elif element.get("initial_options") is not None:
            values[block["block_id"]] = {
                action_id: {"type": element["type"], "selected_options": element["initial_options"]}
            }
    return values


def with_state(view_id: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {**view, "id": view_id, "state": {"values": values}}
