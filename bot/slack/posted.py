"""Recognising the bot's own posts in Slack. Every post carries its outbox key in message metadata, so
a post whose answer never came (a timeout, a reset, a 5xx, a restart) can be found in the channel's
history, and adopted, instead of being posted a second time."""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.gateway import Gateway, MessageMetadata, PostedMessage

EVENT_TYPE = "chainops_message"
LOOKBACK = 60.0  # seconds before the post to read from: Slack's clock may differ from ours


def metadata(key: str, version: int) -> MessageMetadata:
    """What a post carries so it can be recognised: its outbox key and the version of its content."""
    return MessageMetadata(event_type=EVENT_TYPE, event_payload={"key": key, "version": version})


@dataclass(frozen=True)
class Found:
    ts: str
    version: int  # the content version Slack shows (older than the outbox's if it changed meanwhile)


def readable(channel: str) -> bool:
    """Channels whose history the bot may read (public and private); a DM by user id is not one."""
    return channel.startswith(("C", "G"))


def find(
    gateway: Gateway, *, channel: str, key: str, text: str, version: int, since: float, thread_ts: str | None
) -> Found | None:
    """The post with this outbox key made in `channel` (in the thread of `thread_ts`) from `since` on.
    Slack's errors are raised as they are (the caller decides whether to post anyway)."""
    messages = gateway.history(channel, oldest=since - LOOKBACK, thread_ts=thread_ts)
    for posted in messages:
        meta = posted.metadata
        if meta is not None and meta.event_type == EVENT_TYPE and meta.event_payload.get("key") == key:
            found = meta.event_payload.get("version")
            return Found(posted.ts, found if isinstance(found, int) else 0)
    # A client or proxy that dropped the metadata: the very same text, from a bot.
    same = next((m for m in messages if _same_text(m, text, thread_ts)), None)
    return Found(same.ts, version) if same is not None else None


def _same_text(posted: PostedMessage, text: str, thread_ts: str | None) -> bool:
    return posted.metadata is None and bool(posted.bot_id) and posted.ts != thread_ts and posted.text == text
