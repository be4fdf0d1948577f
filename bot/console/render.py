"""Block Kit rendered as readable terminal text. Pure: blocks in, lines out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.slack.markup import readable

EMOJI = {
    ":hourglass_flowing_sand:": "⏳",
    ":hourglass:": "⌛",
    ":large_green_circle:": "🟢",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":lock:": "🔒",
    ":unlock:": "🔓",
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":no_entry_sign:": "🚫",
    ":raised_hand:": "✋",
    ":point_right:": "👉",
    ":electric_plug:": "🔌",
}


def emoji_text(text: str) -> str:
    """Emoji codes as the characters Slack shows for them (plain text shows them too)."""
    for code, char in EMOJI.items():
        text = text.replace(code, char)
    return text


def slack_text(text: str) -> str:
    """Slack mrkdwn to plain terminal text: emoji, emphasis, then mentions, links and escaped
    characters read back as `bot.slack.markup` reads them."""
    text = emoji_text(text).replace("```", "")
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    return readable(text, urls=True)


def _text(obj: dict[str, Any] | None) -> str:
    return slack_text(str((obj or {}).get("text", "")))


def render(
    blocks: list[dict[str, Any]], button_key: Callable[[dict[str, Any]], str], indent: str = ""
) -> list[str]:
    """`button_key` names each button as the person types it (`1`, or `1 · click 4`)."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text(block.get("text"))
            lines += [f"{indent}{title}", f"{indent}{'─' * min(len(title), 60)}"]
        elif kind == "section":
            if block.get("text"):
                lines += [indent + line for line in _text(block["text"]).splitlines()]
            fields = [_text(f).replace("\n", ": ", 1) for f in block.get("fields", [])]
            if fields:
                lines.append(indent + "   " + " | ".join(f.replace("\n", " ") for f in fields))
            menu = block.get("accessory") or {}
            if menu.get("type") == "overflow":  # a menu's choices, pressed like buttons
                choices = [{**o, "action_id": menu.get("action_id")} for o in menu.get("options", [])]
                lines.append(
                    indent + "   " + "   ".join(f"[{button_key(c)}] {_text(c.get('text'))}" for c in choices)
                )
        elif kind == "context":
            lines.append(indent + "   " + "  ".join(_text(e) for e in block.get("elements", [])))
        elif kind == "actions":
            buttons = []
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    buttons.append(f"[{button_key(element)}] {_text(element.get('text'))}")
            lines.append(indent + "   " + "   ".join(buttons))
        elif kind == "divider":
            lines.append(indent + "─" * 40)
    return lines
