"""Durable reads and writes of the outbox: channel messages waiting for Slack, and per-channel pacing.

A channel is delivered by one replica at a time (a lease on its `outbox_channels` row, claimed with one
conditional UPDATE like rollouts), which keeps its messages in order and its pacing shared."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.tables import OutboxChannel, OutboxMessage, OutboxState

MAX_MERGED_BLOCKS = 45  # Slack takes 50 blocks per message; merged progress replies stay below it
# Why a channel is blocked (`outbox_channels.blocked_by`); only an outage backoff is cut short.
BLOCKED_BY_RATE_LIMIT = "ratelimited"  # Slack's Retry-After: always honoured
BLOCKED_BY_OUTAGE = "outage"  # Slack failed; a success elsewhere (or a probe) ends the wait
BLOCKED_BY_WOKEN = "woken"  # woken after an outage; failing again now means the channel's own trouble
BLOCKED_BY_RETRYING = "retrying"  # failing after a wake: plain backoff until it works again


class OutboxStore:
    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        # The store's own transactions, so database failures read the same everywhere.
        self._session = session

    # -- what the product asks for ---------------------------------------------------------------------

    def add(self, message: OutboxMessage) -> str:
        """Queue a message; a reply with a merge key joins the previous one while that is still unposted.

        Returns the key the message is known by (the earlier message's, when merged)."""
        with self._session() as s:
            if message.merge_key:
                earlier = s.scalar(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.merge_key == message.merge_key,
                        OutboxMessage.state == OutboxState.PENDING,
                        OutboxMessage.ts.is_(None),
                    )
                    .order_by(OutboxMessage.id.desc())
                    .limit(1)
                )
                blocks = json.loads(earlier.blocks_json) if earlier is not None else []
                if (
                    earlier is not None
                    and len(blocks) + len(json.loads(message.blocks_json)) <= MAX_MERGED_BLOCKS
                ):
                    earlier.text = f"{earlier.text}\n{message.text}"
                    earlier.blocks_json = json.dumps(blocks + json.loads(message.blocks_json))
                    earlier.version += 1
                    return earlier.key
            s.add(message)
            return message.key

    def add_once(self, message: OutboxMessage) -> bool:
        """Queue a message unless one with its key exists (on any replica); True if this one was queued."""
        try:
            with self._session() as s:
                if s.scalar(select(OutboxMessage.id).where(OutboxMessage.key == message.key)) is not None:
                    return False
                s.add(message)
            return True
        except IntegrityError:
            return False  # another replica queued it first

    def adopt(self, key: str, channel: str, ts: str, now: float) -> None:
        """Know a message Slack already shows (posted before the outbox existed), so replies can name it."""
        try:
            with self._session() as s:
                if s.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is None:
                    s.add(
                        OutboxMessage(
                            key=key,
                            channel=channel,
                            text="",
                            blocks_json="[]",
                            ts=ts,
                            state=OutboxState.DELIVERED,
                            version=0,
                            sent_version=0,
                            created_at=now,
                            next_attempt_at=now,
                        )
                    )
        except IntegrityError:
            pass  # another replica adopted it first

    def revise(self, key: str, text: str, blocks_json: str, *, link_key: str | None = None) -> bool:
        """New content for a message: only the latest content is ever sent. False if the key is unknown.
        `link_key`: the message its pending links point to (the update waits for it to be posted)."""
        linked = {"link_key": link_key} if link_key else {}
        with self._session() as s:
            result = s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == key, OutboxMessage.state != OutboxState.DEAD)
                .values(
                    text=text,
                    blocks_json=blocks_json,
                    version=OutboxMessage.version + 1,
                    state=OutboxState.PENDING,
                    **linked,
                )
            )
            return _rowcount(result) == 1

    def message(self, key: str) -> OutboxMessage | None:
        with self._session() as s:
            return s.scalar(select(OutboxMessage).where(OutboxMessage.key == key))

    # -- what the sender does --------------------------------------------------------------------------

    def due_channels(self, *, now: float, owner: str, limit: int) -> list[str]:
        """Channels with something to send now: an update, or a post whose pacing has elapsed."""
        o, c = OutboxMessage, OutboxChannel
        free = or_(c.lease_owner.is_(None), c.lease_until < now, c.lease_owner == owner)
        ready = or_(
            c.channel.is_(None),
            and_(c.blocked_until <= now, free, or_(o.ts.is_not(None), c.next_post_at <= now)),
        )
        query = (
            select(o.channel)
            .outerjoin(c, c.channel == o.channel)
            .where(o.state == OutboxState.PENDING, o.next_attempt_at <= now, ready)
            .group_by(o.channel)
            .order_by(func.min(o.id))
            .limit(limit)
        )
        with self._session() as s:
            return list(s.scalars(query))

    def next_due(self) -> float | None:
        with self._session() as s:
            return s.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.state == OutboxState.PENDING
                )
            )

    def outage_channel(self, *, now: float, owner: str, quiet: float) -> str | None:
        """The channel waiting longest in an outage backoff, to try whether Slack is back; None if one
        was tried in the last `quiet` seconds (by any replica: a failure sets its `next_attempt_at`)."""
        o, c = OutboxMessage, OutboxChannel
        free = or_(c.lease_owner.is_(None), c.lease_until < now, c.lease_owner == owner)
        backing_off = and_(
            c.blocked_by == BLOCKED_BY_OUTAGE, c.blocked_until > now, o.state == OutboxState.PENDING
        )
        tried = (
            select(o.id).join(c, c.channel == o.channel).where(backing_off, o.next_attempt_at > now - quiet)
        )
        query = (
            select(c.channel)
            .join(o, o.channel == c.channel)
            .where(
                c.blocked_by == BLOCKED_BY_OUTAGE,
                c.blocked_until > now,
                free,
                o.state == OutboxState.PENDING,
                o.next_attempt_at <= now,
            )
            .group_by(c.channel)
            .order_by(func.min(o.id))
            .limit(1)
        )
        with self._session() as s:
            if s.scalar(tried.limit(1)) is not None:
                return None
            return s.scalar(query)

    def wake_outage_channels(self, *, now: float) -> int:
        """Slack answered: channels backing off because Slack was down may send now (once per outage,
        so a channel whose own messages keep failing is not retried at every success elsewhere)."""
        with self._session() as s:
            result = s.execute(
                update(OutboxChannel)
                .where(OutboxChannel.blocked_by == BLOCKED_BY_OUTAGE, OutboxChannel.blocked_until > now)
                .values(blocked_until=0.0, blocked_by=BLOCKED_BY_WOKEN)
            )
            return _rowcount(result)

    def claim_channel(
        self, channel: str, *, owner: str, now: float, lease_seconds: float, probe: bool = False
    ) -> OutboxChannel | None:
        """Hold the channel to deliver it; `probe` also takes one backing off for an outage."""
        try:
            with self._session() as s:
                if s.get(OutboxChannel, channel) is None:
                    s.add(OutboxChannel(channel=channel))
        except IntegrityError:
            pass  # another replica created it; the claim below decides who delivers
        free = or_(
            OutboxChannel.lease_owner.is_(None),
            OutboxChannel.lease_until < now,
            OutboxChannel.lease_owner == owner,
        )
        ready = OutboxChannel.blocked_until <= now
        if probe:
            ready = or_(ready, OutboxChannel.blocked_by == BLOCKED_BY_OUTAGE)
        with self._session() as s:
            result = s.execute(
                update(OutboxChannel)
                .where(OutboxChannel.channel == channel, ready, free)
                .values(lease_owner=owner, lease_until=now + lease_seconds)
            )
            if _rowcount(result) != 1:
                return None
            return s.get(OutboxChannel, channel)

    def release_channel(self, channel: str, *, owner: str, **values: Any) -> None:
        with self._session() as s:
            s.execute(
                update(OutboxChannel)
                .where(OutboxChannel.channel == channel, OutboxChannel.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0, **values)
            )

    def release_channels(self) -> None:
        with self._session() as s:
            s.execute(update(OutboxChannel).values(lease_owner=None, lease_until=0.0))

    def pending_in(self, channel: str, *, now: float, limit: int = 20) -> list[OutboxMessage]:
        """The channel's undelivered messages in the order they were written."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.channel == channel,
                        OutboxMessage.state == OutboxState.PENDING,
                        OutboxMessage.next_attempt_at <= now,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            )

    def delivered(self, message_id: int, *, version: int, ts: str) -> None:
        """Record what reached Slack; if the content changed meanwhile, the message stays pending."""
        with self._session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(
                    ts=ts,
                    sent_version=version,
                    attempts=0,
                    failing_since=None,
                    unsure_since=None,
                    error=None,
                    state=OutboxState.DELIVERED,
                )
            )
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.version > OutboxMessage.sent_version)
                .values(state=OutboxState.PENDING)
            )

    def sending(self, message_id: int, *, now: float) -> None:
        """A post is about to go: until its answer is recorded, Slack may show it without our knowing."""
        with self._session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(unsure_since=now))

    def not_sent(self, message_id: int) -> None:
        """Slack answered that it made nothing: there is no post to look for."""
        with self._session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(unsure_since=None))

    def failed(self, message_id: int, *, now: float, error: str, retry_at: float) -> OutboxMessage | None:
        with self._session() as s:
            row = s.get(OutboxMessage, message_id)
            if row is None:
                return None
            row.attempts += 1
            row.failing_since = row.failing_since or now
            row.error = error[:200]
            row.next_attempt_at = retry_at
            return row

    def dead(self, message_id: int, *, error: str) -> None:
        with self._session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(state=OutboxState.DEAD, error=error[:200])
            )

    # -- for operators and metrics ---------------------------------------------------------------------

    def depth(self) -> int:
        """How many messages wait for Slack."""
        with self._session() as s:
            return int(s.scalar(select(func.count()).where(OutboxMessage.state == OutboxState.PENDING)) or 0)

    def oldest_pending_at(self) -> float | None:
        """When the oldest waiting message was written (its age is now minus this)."""
        with self._session() as s:
            return s.scalar(
                select(func.min(OutboxMessage.created_at)).where(OutboxMessage.state == OutboxState.PENDING)
            )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))
