"""Slack mrkdwn at one boundary: text is escaped, and intended markup is built only by these helpers.

A string from Baseten or from a person goes through `escape`, so it can never become a mention, a link or
a broadcast by accident; mentions and links are made by the helpers below from ids and URLs we checked."""

from __future__ import annotations

import re

_ID = re.compile(r"^[A-Z0-9]+$")


def escape(text: str) -> str:
    """The three characters Slack reserves for markup, as Slack asks them to be sent."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _checked_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"not a Slack id: {value!r}")
    return value


def user(user_id: str) -> str:
    return f"<@{_checked_id(user_id)}>"


def channel(channel_id: str) -> str:
    return f"<#{_checked_id(channel_id)}>"


def usergroup(group_id: str) -> str:
    return f"<!subteam^{_checked_id(group_id)}>"


def link(url: str, label: str) -> str:
    """A link whose label is shown as text; the URL must be one we built (http or https)."""
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        raise ValueError("not a link we can show")
    return f"<{url}|{escape(label).replace('|', '¦')}>"
