"""A Gateway that prints what a person in Slack would see and remembers buttons by number."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from bot.console.render import render, slack_text

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class ShownButton:
    action_id: str
    value: str
    channel: str
    message_ts: str | None
    response_url: str | None
    confirm: dict[str, Any] | None


class ConsoleGateway:
    def __init__(self, out: TextIO, *, user_names: dict[str, str] | None = None) -> None:
        self.out = out
        self.buttons: dict[int, ShownButton] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.open_form: str | None = None
        self._numbers = itertools.count(1)
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._messages: dict[str, str] = {}
        self._user_names = user_names or {}

    def _print(self, lines: list[str]) -> None:
        text = "\n".join(lines)
        for user_id, name in self._user_names.items():
            text = text.replace(f"@{user_id}", f"@{name}")
        with self._lock:
            print(text, file=self.out, flush=True)

    def _lines(
        self,
        text: str,
        blocks: Blocks | None,
        *,
        channel: str,
        ts: str | None,
        response_url: str | None,
        indent: str,
    ) -> list[str]:
        def number(element: dict[str, Any]) -> int:
            n = next(self._numbers)
            self.buttons[n] = ShownButton(
                str(element.get("action_id")),
                str(element.get("value", "")),
                channel,
                ts,
                response_url,
                element.get("confirm"),
            )
            return n

        return render(blocks, number, indent) if blocks else [indent + slack_text(text)]

    def post(
        self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None
    ) -> str:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if thread_ts:
            label = f"  ↳ in thread of #{self._messages.get(thread_ts, '?')}"
            self._print(
                [label, *self._lines(text, blocks, channel=channel, ts=ts, response_url=None, indent="    ")]
            )
        else:
            self._messages[ts] = str(len(self._messages) + 1)
            self._print(
                [
                    f"#{self._messages[ts]} in #{channel}:",
                    *self._lines(text, blocks, channel=channel, ts=ts, response_url=None, indent="  "),
                ]
            )
        return ts

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        label = f"✎ message #{self._messages.get(ts, '?')} updated:"
        self._print(
            [label, *self._lines(text, blocks, channel=channel, ts=ts, response_url=None, indent="  ")]
        )

    def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, replace_original: bool = False
    ) -> None:
        label = "✎ (only you) preview updated:" if replace_original else "(only you)"
        self._print(
            [
                label,
                *self._lines(
                    text, blocks, channel="console", ts=None, response_url=response_url, indent="  "
                ),
            ]
        )

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        view_id = f"V{next(self._ts):05d}"
        self.views[view_id] = view
        self.open_form = view_id
        self._print_view(view_id, view)
        return view_id

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        self.views[view_id] = view
        if view_id == self.open_form:
            self._print_view(view_id, view)
        return ""

    def _print_view(self, view_id: str, view: dict[str, Any]) -> None:
        title = slack_text(str((view.get("title") or {}).get("text", "Form")))
        lines = [f"┌ form: {title}"]
        for n, block in enumerate((b for b in view.get("blocks", []) if b.get("type") == "input"), start=1):
            label = slack_text(str((block.get("label") or {}).get("text", "")))
            element = block.get("element") or {}
            options = [slack_text(str(o["text"]["text"])) for o in element.get("options", [])[:10]]
            for group in element.get("option_groups", []):
                options += [slack_text(str(o["text"]["text"])) for o in group.get("options", [])[:10]]
            choice = f" — choices: {', '.join(options)}" if options else ""
            lines.append(f"│ {n}. {label}{choice}")
        for block in view.get("blocks", []):
            if block.get("type") in ("section", "context"):
                lines += ["│ " + line for line in render([block], lambda _e: 0)]
        lines.append("└ fill in with `set <n> <value>`, then `submit` (or `close`)")
        self._print(lines)

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        return []

    def permalink(self, channel: str, ts: str) -> str | None:
        return None
