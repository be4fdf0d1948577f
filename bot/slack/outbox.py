"""Every channel post and update leaves through the outbox: the product writes what a message should say
into the database, and the sender (`bot/slack/sender.py`) delivers it to Slack when it can.

So a Slack outage never stops a change, nothing said is lost across restarts, and retries, pacing
(about one post per second per channel) and coalescing live here, and nowhere else. Pacing is a time in
the database, never a sleep: a busy channel holds no thread and delays no other channel."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

from bot.slack.gateway import (
    Blocks,
)
from bot.slack.markup import as_mrkdwn
from bot.store.outbox import (
    OutboxStore,
)
from bot.store.tables import OutboxMessage, OutboxState

if TYPE_CHECKING:
    from bot.slack.sender import OutboxSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSettings:
    pace: float = 1.0  # seconds between two posts in one channel (Slack allows about one per second)
    give_up: float = 4 * 3600.0  # keep retrying a message through an outage this long
    lease_seconds: float = 20.0  # a replica delivering a channel holds it this long at most
    workers: int = 4  # Slack calls in flight at once, each for a different channel
    tick: float = 0.25
    first_backoff: float = 1.0  # seconds before a failed message is tried again; doubling each time
    max_backoff: float = 60.0
    # While channels back off because Slack failed, one of them is tried this often: when it works,
    # every channel waiting for Slack goes at once, so an outage's end is seen within seconds.
    # 1.5 s keeps the look-ups of unanswered posts (conversations.history, Tier 3) under 50 a minute.
    probe_interval: float = 1.5
    unsure_settle: float = 3.0  # an unanswered post is looked for no sooner than this after it


class PostOptions(TypedDict, total=False):
    """How a post is queued. `key` names it (else a new one); `thread` is the parent's key; `merge` joins
    successive replies that are still unposted into one; `link` appends a link to that message once it
    exists; `notify_url`/`notify_text` answer the person who just acted if the bot is not in the channel;
    `notify_user` is sent a DM (`notify_about` says which change) if the channel stops taking this message
    or its thread's replies, or Slack fails for longer than the give-up time."""

    key: str | None
    thread: str | None
    merge: str | None
    link: str | None
    notify_url: str | None
    notify_text: str | None
    notify_user: str | None
    notify_about: str | None


class Outbox:
    """What the product calls to say something in a channel. Nothing here talks to Slack."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        clock: Callable[[], float] = time.time,
        sender: OutboxSender | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sender = sender

    def post(
        self, channel: str, text: str, blocks: Blocks | None = None, **options: Unpack[PostOptions]
    ) -> str:
        """Queue a post; returns its key. The options are `PostOptions`."""
        key = self.store.add(self.message(channel, text, blocks, **options))
        self.wake()
        return key

    def respond(self, response_url: str, text: str, blocks: Blocks, *, channel: str, link: str) -> str:
        """Replace a private message through its response_url once the message `link` names is posted,
        its pending links (`markup.pending_link`) pointing there. Queued with that channel's messages,
        so it goes right after the post it links to; dropped if that post never happens."""
        now = self.clock()
        key = self.store.add(
            OutboxMessage(
                key=uuid.uuid4().hex,
                channel=channel,
                link_key=link,
                respond_url=response_url,
                text=as_mrkdwn(text),
                blocks_json=json.dumps(blocks),
                state=OutboxState.PENDING,
                version=1,
                sent_version=0,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
        self.wake()
        return key

    def message(
        self, channel: str, text: str, blocks: Blocks | None = None, **options: Unpack[PostOptions]
    ) -> OutboxMessage:
        """A post as `post` queues it, for a caller that stores it in its own transaction (then `wake`)."""
        now = self.clock()
        notify_text, notify_about = options.get("notify_text"), options.get("notify_about")
        return OutboxMessage(
            key=options.get("key") or uuid.uuid4().hex,
            channel=channel,
            thread_key=options.get("thread"),
            merge_key=options.get("merge"),
            link_key=options.get("link"),
            text=as_mrkdwn(text),
            blocks_json=json.dumps(blocks or []),
            notify_url=options.get("notify_url"),
            notify_text=as_mrkdwn(notify_text) if notify_text else None,
            notify_user=options.get("notify_user"),
            notify_about=as_mrkdwn(notify_about) if notify_about else None,
            state=OutboxState.PENDING,
            version=1,
            sent_version=0,
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )

    def update(self, key: str, text: str, blocks: Blocks | None = None, *, link: str | None = None) -> None:
        """New content for a message already queued: Slack gets only the latest. With `link`, its pending
        links (`markup.pending_link`) point to that message, and the update waits until it is posted."""
        if self.store.revise(key, as_mrkdwn(text), json.dumps(blocks or []), link_key=link):
            self.wake()
        else:
            log.warning("no message %s to update", key)

    def adopt(self, key: str, channel: str, ts: str) -> None:
        self.store.adopt(key, channel, ts, self.clock())

    def first_attempt(self, key: str, wait: float = 1.0) -> str | None:
        """Try to deliver this message now, waiting at most `wait` seconds; the Slack error code if Slack
        refused it for good (e.g. `not_in_channel`), else None (delivered, or still on its way). A
        refusal returned here is the caller's to tell; one that comes later is told by the outbox."""
        return self.sender.attempt(key, wait) if self.sender is not None else None

    def wake(self) -> None:
        if self.sender is not None:
            self.sender.wake()
