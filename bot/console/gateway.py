"""A Gateway that prints what a person in Slack would see and remembers the buttons it showed.

Buttons get two numbers. The latest message with buttons numbers its own from 1, so "type 1" always
means the message just shown; every button also keeps a number for the whole session, typed as
`click <n>`, so an older one stays reachable. Where the two differ, a button shows both: `[1 · click 4]`."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from bot.console import forms
from bot.console.render import render, slack_text
from bot.slack.gateway import MessageMetadata, PostedMessage

Blocks = list[dict[str, Any]]
PROMPT = "> "
HOME = "home"  # where the App Home's buttons are shown


@dataclass(frozen=True)
class ShownButton:
    action_id: str
    value: str
    label: str
    channel: str
    message_ts: str | None
    response_url: str | None
    confirm: dict[str, Any] | None


class ConsoleGateway:
    def __init__(self, out: TextIO, *, user_names: dict[str, str] | None = None) -> None:
        self.out = out
        self.buttons: dict[int, ShownButton] = {}  # by session number (`click <n>`)
        self.latest: list[int] = []  # session numbers of the latest message's buttons, in order
        self.views: dict[str, dict[str, Any]] = {}
        self.form_values: dict[str, dict[str, dict[str, Any]]] = {}  # what was `set`, per view
        self.open_form: str | None = None
        self.home_asked = False  # the next App Home published is shown in full
        self._numbers = itertools.count(1)
        self._ts = itertools.count(1)
        self._lock = threading.RLock()  # a message is numbered and printed in one go
        self._messages: dict[str, str] = {}
        self._user_names = user_names or {}
        self._prompt: str | None = None  # shown and waiting for a line: redrawn after other output
        self._typed: Callable[[], str] = _nothing  # what the person has typed at the prompt so far

    # -- the terminal ----------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self._print(text.splitlines() or [""])

    def _print(self, lines: list[str]) -> None:
        text = "\n".join(lines)
        for user_id, name in self._user_names.items():
            text = text.replace(f"@{user_id}", f"@{name}")
        with self._lock:
            if self._prompt is not None:
                # Output arriving while the person types (a rollout moving on): print it above a fresh
                # prompt that still holds what they typed.
                self.out.write("\r\x1b[K" if _is_tty(self.out) else "\n")
            print(text, file=self.out)
            if self._prompt is not None:
                self.out.write(self._prompt + self._typed())
            self.out.flush()

    def read_line(self, stdin: TextIO, prompt: str = PROMPT) -> str:
        """Show `prompt` and read one line ("" at the end of input), keeping the prompt visible under
        any output printed meanwhile."""
        line_editing = _line_editing(stdin)
        with self._lock:
            self._prompt = prompt
            if line_editing is None:
                self.out.write(prompt)
                self.out.flush()
            else:
                self._typed = line_editing.get_line_buffer
        try:
            if line_editing is None:
                return stdin.readline()
            try:
                return input(prompt) + "\n"
            except EOFError:
                return ""
        finally:
            with self._lock:
                self._prompt = None
                self._typed = _nothing

    # -- buttons ---------------------------------------------------------------------------------------

    def _show(
        self,
        label: str,
        text: str,
        blocks: Blocks | None,
        *,
        channel: str,
        ts: str | None = None,
        response_url: str | None = None,
        indent: str = "  ",
    ) -> None:
        """Print a message under its label; its buttons become the latest ones."""
        shown: list[int] = []

        def key(element: dict[str, Any]) -> str:
            button = ShownButton(
                str(element.get("action_id")),
                str(element.get("value", "")),
                slack_text(str((element.get("text") or {}).get("text", ""))),
                channel,
                ts,
                response_url,
                element.get("confirm"),
            )
            # A message shown again (an update) keeps its buttons' session numbers.
            number = next((n for n, b in self.buttons.items() if b == button), None)
            if number is None:
                number = next(self._numbers)
                self.buttons[number] = button
            shown.append(number)
            return str(len(shown)) if len(shown) == number else f"{len(shown)} · click {number}"

        with self._lock:
            lines = render(blocks, key, indent) if blocks else [indent + slack_text(text)]
            if shown:
                self.latest = shown
            self._print([label, *lines])

    def button(self, position: int) -> ShownButton | None:
        """Button [position] of the latest message that showed buttons."""
        with self._lock:
            if 1 <= position <= len(self.latest):
                return self.buttons[self.latest[position - 1]]
        return None

    # -- the Gateway -----------------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        metadata: MessageMetadata | None = None,
    ) -> str:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if thread_ts:
            label = f"  ↳ in thread of #{self._messages.get(thread_ts, '?')}"
            self._show(label, text, blocks, channel=channel, ts=ts, indent="    ")
        else:
            self._messages[ts] = str(len(self._messages) + 1)
            self._show(f"#{self._messages[ts]} in #{channel}:", text, blocks, channel=channel, ts=ts)
        return ts

    def history(self, channel: str, *, oldest: float, thread_ts: str | None = None) -> list[PostedMessage]:
        return []  # the console always answers a post, so it never has to look for one

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        label = f"✎ message #{self._messages.get(ts, '?')} updated:"
        self._show(label, text, blocks, channel=channel, ts=ts)

    def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, replace_original: bool = False
    ) -> None:
        label = "✎ (only you) preview updated:" if replace_original else "(only you)"
        self._show(label, text, blocks, channel="console", response_url=response_url)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        view_id = f"V{next(self._ts):05d}"
        self.views[view_id] = view
        self.open_form = view_id
        self._print(forms.rendered(view, self.values(view_id)))
        return view_id

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> str:
        self.views[view_id] = view
        if view_id == self.open_form:
            self._print(forms.rendered(view, self.values(view_id)))
        return ""

    def values(self, view_id: str) -> dict[str, dict[str, Any]]:
        """The form's state as Slack would send it: what the view preselects, then what was `set`."""
        values = forms.initial_values(self.views[view_id])
        values.update(self.form_values.get(view_id, {}))
        return values

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        return []

    def permalink(self, channel: str, ts: str) -> str | None:
        return None

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        # Shown in full when asked for (`home`, or a press on it); a refresh after a change is one line.
        if self.home_asked:
            self.home_asked = False
            self._show("⌂ your App Home:", "", view.get("blocks") or [], channel=HOME)
        else:
            self._print(["⌂ your App Home was updated (type `home` to see it)"])

    def member_channels(self, user: str) -> set[str]:
        return set()  # the console's one channel is public: everyone may see it

    def is_private(self, channel: str) -> bool:
        return False


def _nothing() -> str:
    return ""


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _line_editing(stdin: TextIO) -> Any:
    """The readline module when lines come from the terminal itself (editing, history), else None."""
    import sys

    if stdin is not sys.stdin or not _is_tty(stdin):
        return None
    try:
        import readline
    except ImportError:
        return None
    return readline
