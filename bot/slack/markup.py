"""Slack mrkdwn at one boundary: text is escaped, and intended markup is built only by these helpers.

A plain `str` is text, shown as typed: the Block Kit builders escape its `&`, `<` and `>`, so a string
from Baseten or from a person can never become a mention, a link or a broadcast, and its formatting
characters are neutralised, so it never turns bold, italic, struck or into code. `Mrkdwn` is text that
is already markup; only `md` (our own templates, values escaped) and the mention and link helpers below
make it. Plain-text objects (titles, options, field errors) are not mrkdwn and are never escaped.
Bidirectional controls (an RTL override flips the rest of a line) are dropped from all of them."""

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


# Slack has no escape for its formatting characters: text gets look-alikes that Slack does not parse.
LOOKALIKES = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_ORIGINALS = {v: k for k, v in LOOKALIKES.items()}
_FORMATTING = re.compile(r"[*_~`]")
_QUOTE = re.compile(r"^&gt;", re.MULTILINE)  # `>` starting a line quotes it, escaped or not
_QUOTE_GUARD = "\u00ad"  # an invisible soft hyphen in front keeps it a `>`
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """Text for a plain_text object: as typed, without bidirectional controls."""
    return _BIDI.sub("", text)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inert(text: str, at: int) -> bool:
    """Slack formats no part of a word: `*`, `_` or `~` between two letters or digits stays itself
    (`hello_chain`, `:white_check_mark:`)."""
    return 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum() and text[at] != "`"


def escape(text: str) -> str:
    """Text as mrkdwn that shows it as typed: `&`, `<`, `>` as Slack asks them to be sent, formatting
    characters that could format as look-alikes, no bidirectional controls."""
    text = plain_text(text)
    text = _FORMATTING.sub(lambda m: m[0] if _inert(text, m.start()) else LOOKALIKES[m[0]], text)
    return _QUOTE.sub(_QUOTE_GUARD + "&gt;", _entities(text))


def escape_code(text: str, *, fenced: bool = False) -> str:
    """Text inside a code span or block, where Slack formats nothing: only a backtick could end it (and
    a line break, an inline span)."""
    text = _entities(plain_text(text)).replace("`", LOOKALIKES["`"])
    return text if fenced else text.replace("\n", " ")


def as_mrkdwn(text: str) -> Mrkdwn:
    """Markup stays as it is; anything else is text and is escaped."""
    return text if isinstance(text, Mrkdwn) else Mrkdwn(escape(text))


_BACKTICKS = re.compile(r"`+")


class _Template(string.Formatter):
    """One per template: it follows whether the next value sits inside the template's own code."""

    def __init__(self) -> None:
        self.code = ""  # "`" inside an inline code span, "```" inside a code block

    def parse(self, format_string: str) -> Iterable[tuple[str, str | None, str | None, str | None]]:
        for literal, field, spec, conversion in super().parse(format_string):
            for run in _BACKTICKS.findall(literal):
                fence = "```" if len(run) >= 3 else "`"
                if not self.code:
                    self.code = fence
                elif self.code == fence:
                    self.code = ""
            yield _entities(literal), field, spec, conversion

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        shown = format(value, format_spec)
        if self.code:
            return escape_code(shown, fenced=self.code == "```")
        return escape(shown)


def md(template: str, /, *args: object, **kwargs: object) -> Mrkdwn:
    """Our own mrkdwn template (its `*`, `_` and backticks are formatting; its `<`, `>`, `&` are text),
    with every value escaped unless it is markup already: `md("*{}* by {}", name, user(u))`. A value in
    the template's code (`md("`{}`", deployment_id)`) is shown exactly and cannot end the code early."""
    return Mrkdwn(_Template().vformat(template, args, kwargs))


def lines(parts: Sequence[str]) -> Mrkdwn:
    return Mrkdwn("\n").join(parts)


def _checked_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"not a Slack id: {value!r}")
    return value


def user(user_id: str) -> Mrkdwn:
    return Mrkdwn(f"<@{_checked_id(user_id)}>")


def person(who: str) -> Mrkdwn:
    """Whoever acted: a Slack user's mention, or (a change made outside Slack) the email or API key name
    Baseten names, shown as text."""
    return user(who) if _ID.match(who) else md("{}", who)


def channel(channel_id: str) -> Mrkdwn:
    return Mrkdwn(f"<#{_checked_id(channel_id)}>")


def usergroup(group_id: str) -> Mrkdwn:
    return Mrkdwn(f"<!subteam^{_checked_id(group_id)}>")


def link(url: str, label: str) -> Mrkdwn:
    """A link whose label is shown as text; the URL must be one we built (http or https)."""
    return Mrkdwn(f"<{_checked_url(url)}|{escape(label).replace('|', '¦')}>")


def _checked_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or any(c in url for c in '<>| \n"\\'):
        raise ValueError("not a link we can show")
    return url


_PENDING = "<chainops:pending-link|"
_PENDING_LINK = re.compile(re.escape(_PENDING) + r"([^>]*)>")


def pending_link(label: str) -> Mrkdwn:
    """A link to a message that is not posted yet: the outbox points it at that message's permalink
    when it sends (`resolve_pending`), so the link is never guessed and never built from text."""
    return Mrkdwn(f"{_PENDING}{escape(label).replace('|', '¦')}>")


def has_pending(text: str) -> bool:
    return _PENDING in text


def resolve_pending(text: str, url: str | None) -> str:
    """Pending links pointed at `url` (checked as `link` checks a URL), or, without one, their label."""
    try:
        checked = _checked_url(url) if url is not None else None
    except ValueError:
        checked = None
    if checked is None:
        return _PENDING_LINK.sub(r"\1", text)
    return text.replace(_PENDING, f"<{checked}|")


# -- reading markup back as text (the console, and plain-text places such as field errors) ------------

_ENTITY = re.compile(r"<(@|#|!subteam\^)([A-Z0-9]+)(?:\|([^>]*))?>|<(https?://[^|>]+)(?:\|([^>]*))?>")


def readable(text: str, names: Mapping[str, str] | None = None, *, urls: bool = False) -> str:
    """Mrkdwn as a person reads it: mentions as @name/#name, links as their label (and URL, with
    `urls`), look-alikes as the characters they stand for, entities decoded last so that escaped text
    never reads as markup."""
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

    decoded = _ENTITY.sub(entity, text).replace(_QUOTE_GUARD + "&gt;", "&gt;")
    decoded = "".join(_ORIGINALS.get(c, c) for c in decoded)
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
            at = [i for i, c in enumerate(line) if c == marker and not _inert(line, i)]
            if len(at) % 2:
                line = line[: at[-1]] + line[at[-1] + 1 :]
        cut = cut[:start] + line
    return Mrkdwn(cut.rstrip() + more + fence)
