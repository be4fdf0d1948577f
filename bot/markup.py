"""Slack mrkdwn at one boundary: text is escaped, and intended markup is built only by these helpers.

A plain `str` is text: the Block Kit builders escape its `&`, `<` and `>`, so a string from Baseten or
from a person can never become a mention, a link or a broadcast. `Mrkdwn` is text that is already
markup; only `md` (our own templates, values escaped) and the mention and link helpers below make it.
Plain-text objects (titles, options, field errors) are not mrkdwn and are never escaped."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_ID = re.compile(r"^[A-Z0-9]+$")


class Mrkdwn(str):
    """Text that is already Slack markup: safe to send as mrkdwn as it is.

    Concatenating or joining escapes whatever plain text is added, so markup stays markup and text
    stays text."""

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, as_mrkdwn(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(as_mrkdwn(other), self))

    def join(self, parts: Iterable[str]) -> Mrkdwn:
        return Mrkdwn(str.join(self, (as_mrkdwn(p) for p in parts)))


def escape(text: str) -> str:
    """The three characters Slack reserves for markup, as Slack asks them to be sent."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_mrkdwn(text: str) -> Mrkdwn:
    """Markup stays as it is; anything else is text and is escaped."""
    return text if isinstance(text, Mrkdwn) else Mrkdwn(escape(text))


class _Template(string.Formatter):
    def parse(self, format_string: str) -> Iterable[tuple[str, str | None, str | None, str | None]]:
        for literal, field, spec, conversion in super().parse(format_string):
            yield escape(literal), field, spec, conversion

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        return escape(format(value, format_spec))


_TEMPLATE = _Template()


def md(template: str, /, *args: object, **kwargs: object) -> Mrkdwn:
    """Our own mrkdwn template (its `*`, `_` and backticks are formatting; its `<`, `>`, `&` are text),
    with every value escaped unless it is markup already: `md("*{}* by {}", name, user(u))`."""
    return Mrkdwn(_TEMPLATE.vformat(template, args, kwargs))


def lines(parts: Sequence[str]) -> Mrkdwn:
    return Mrkdwn("\n").join(parts)


def _checked_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"not a Slack id: {value!r}")
    return value


def user(user_id: str) -> Mrkdwn:
    return Mrkdwn(f"<@{_checked_id(user_id)}>")


def channel(channel_id: str) -> Mrkdwn:
    return Mrkdwn(f"<#{_checked_id(channel_id)}>")


def usergroup(group_id: str) -> Mrkdwn:
    return Mrkdwn(f"<!subteam^{_checked_id(group_id)}>")


def link(url: str, label: str) -> Mrkdwn:
    """A link whose label is shown as text; the URL must be one we built (http or https)."""
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        raise ValueError("not a link we can show")
    return Mrkdwn(f"<{url}|{escape(label).replace('|', '¦')}>")


# -- reading markup back as text (the console, and plain-text places such as field errors) ------------

_ENTITY = re.compile(r"<(@|#|!subteam\^)([A-Z0-9]+)(?:\|([^>]*))?>|<(https?://[^|>]+)(?:\|([^>]*))?>")


def readable(text: str, names: Mapping[str, str] | None = None, *, urls: bool = False) -> str:
    """Mrkdwn as a person reads it: mentions as @name/#name, links as their label (and URL, with
    `urls`), entities decoded last so that escaped text never reads as markup."""
    names = names or {}

    def entity(match: re.Match[str]) -> str:
        if match.group(4):
            label = match.group(5)
            if label and urls:
                return f"{label} ({match.group(4)})"
            return label or match.group(4)
        sigil, ident, label = match.group(1), match.group(2), match.group(3)
        shown = label or names.get(ident, ident)
        return ("#" if sigil == "#" else "@") + shown

    decoded = _ENTITY.sub(entity, text)
    return decoded.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- cutting markup to Slack's limits without breaking it -----------------------------------------------

_MARKERS = "*_~`"


def truncate(text: Mrkdwn, limit: int, *, more: str = "…") -> Mrkdwn:
    """At most `limit` characters, cut where no entity, mention, link or formatting is left open."""
    if len(text) <= limit:
        return text
    cut = str(text)[: max(0, limit - len(more) - 4)]
    newline = cut.rfind("\n")
    if newline > len(cut) // 2:
        cut = cut[:newline]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    fence = ""
    if cut.count("```") % 2:
        fence = "\n```"
    else:
        start = cut.rfind("\n") + 1
        line = cut[start:]
        for marker in _MARKERS:
            if marker == "`" and "```" in line:
                continue
            if line.count(marker) % 2:
                at = line.rfind(marker)
                line = line[:at] + line[at + 1 :]
        cut = cut[:start] + line
    return Mrkdwn(cut.rstrip() + more + fence)
