"""Filling in a modal from the console: `set <n> <value>`, then `submit`. Each step is the payload Slack
would send (block_suggestion, block_actions, view_submission), dispatched to the same app."""

from __future__ import annotations

from typing import Any

from bot.console.render import render, slack_text


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


def chosen(block: dict[str, Any], values: dict[str, dict[str, Any]]) -> str:
    """What a field holds, as the person reads it."""
    element = block.get("element") or {}
    state = values.get(str(block.get("block_id")), {}).get(str(element.get("action_id")), {})
    if element.get("type") == "checkboxes":
        ticked = {o.get("value") for o in state.get("selected_options") or []}
        return "; ".join(
            ("☑ " if o.get("value") in ticked else "☐ ") + slack_text(str(o["text"]["text"]))
            for o in element.get("options", [])
        )
    option = state.get("selected_option")
    return slack_text(str(option["text"]["text"])) if option else "(not set)"


def label(block: dict[str, Any]) -> str:
    return slack_text(str((block.get("label") or {}).get("text", "")))


def summary(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> str:
    """Every field and its value on one line: what `submit` would send."""
    return " | ".join(f"{label(b)}: {chosen(b, values)}" for b in inputs(view))


def rendered(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> list[str]:
    """The form as numbered fields with their values and choices, then its notes."""
    title = slack_text(str((view.get("title") or {}).get("text", "Form")))
    lines = [f"┌ form: {title}"]
    for n, block in enumerate(inputs(view), start=1):
        element = block.get("element") or {}
        choices = []
        if element.get("type") != "checkboxes":
            choices = [slack_text(str(o["text"]["text"])) for o in element.get("options", [])[:10]]
            for group in element.get("option_groups", []):
                choices += [slack_text(str(o["text"]["text"])) for o in group.get("options", [])[:10]]
        listed = f" — choices: {', '.join(choices)}" if choices else ""
        lines.append(f"│ {n}. {label(block)}: {chosen(block, values)}{listed}")
    for block in view.get("blocks", []):
        if block.get("type") in ("section", "context"):
            lines += ["│ " + line for line in render([block], lambda _e: "")]
    lines.append("└ fill in with `set <n> <value>`, then `submit` (or `close`)")
    return lines
