"""Durable state of `/chain watch`: which channels watch which chains, where each chain's audit log was
read up to, and the entries already handled.

A chain is read by one replica at a time (a lease on its `watched_chains` row, claimed with one
conditional UPDATE like rollouts). An entry is handled in one transaction with everything it causes
(history, channel messages, a followed rollout), keyed by its id: of two readers, or of a reader killed
after posting and restarted, exactly one commits it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.tables import Rollout, WatchedChain, WatchedEntry, WatchSubscription


class WatchStore:
    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session = session

    # -- subscriptions ---------------------------------------------------------------------------------

    def subscribe(self, subscription: WatchSubscription, chain: WatchedChain) -> bool:
        """Add a subscription (and the chain's reading state, if it is the chain's first); False if the
        channel already had it."""
        try:
            with self._session() as s:
                exists = s.get(
                    WatchSubscription, (subscription.channel, subscription.chain_id, subscription.env)
                )
                if exists is not None:
                    return False
                if s.get(WatchedChain, chain.chain_id) is None:
                    s.add(chain)
                s.add(subscription)
            return True
        except IntegrityError:
            return False  # the same subscription, or the chain's first, made at once elsewhere

    def unsubscribe(self, channel: str, chain_id: str, envs: list[str]) -> list[str]:
        """End the channel's subscriptions to the chain (those environments, or all); the ones ended.
        A chain nobody watches any more is no longer read."""
        with self._session() as s:
            query = select(WatchSubscription).where(
                WatchSubscription.channel == channel, WatchSubscription.chain_id == chain_id
            )
            if envs:
                query = query.where(WatchSubscription.env.in_(envs))
            ended = list(s.scalars(query))
            for row in ended:
                s.delete(row)
            s.flush()
            left = s.scalar(
                select(func.count())
                .select_from(WatchSubscription)
                .where(WatchSubscription.chain_id == chain_id)
            )
            if not left:
                s.execute(delete(WatchedChain).where(WatchedChain.chain_id == chain_id))
            return [row.env for row in ended]

    def of_channel(self, channel: str) -> list[WatchSubscription]:
        with self._session() as s:
            query = select(WatchSubscription).where(WatchSubscription.channel == channel)
            return list(s.scalars(query.order_by(WatchSubscription.chain_name, WatchSubscription.env)))

    def of_chain(self, chain_id: str) -> list[WatchSubscription]:
        with self._session() as s:
            query = select(WatchSubscription).where(WatchSubscription.chain_id == chain_id)
            return list(s.scalars(query.order_by(WatchSubscription.channel, WatchSubscription.env)))

    def chain(self, chain_id: str) -> WatchedChain | None:
        with self._session() as s:
            return s.get(WatchedChain, chain_id)

    # -- reading, one replica per chain ----------------------------------------------------------------

    def claim_due(
        self,
        *,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        next_poll_at: float,
        due_by: float | None = None,
    ) -> list[WatchedChain]:
        """Lease the chains due by `due_by` (now) that no live replica holds, and schedule their next
        read (in the same UPDATE: a read that finds nothing new writes nothing else); those now ours."""
        due_by = now if due_by is None else due_by
        free = or_(
            WatchedChain.lease_owner.is_(None),
            WatchedChain.lease_until < now,
            WatchedChain.lease_owner == owner,
        )
        with self._session() as s:
            due = list(
                s.scalars(
                    select(WatchedChain.chain_id)
                    .where(WatchedChain.next_poll_at <= due_by, free)
                    .order_by(WatchedChain.next_poll_at)
                    .limit(limit)
                )
            )
        claimed: list[WatchedChain] = []
        for chain_id in due:
            with self._session() as s:
                result = s.execute(
                    update(WatchedChain)
                    .where(and_(WatchedChain.chain_id == chain_id, WatchedChain.next_poll_at <= due_by, free))
                    .values(lease_owner=owner, lease_until=now + lease_seconds, next_poll_at=next_poll_at)
                )
                if getattr(result, "rowcount", 0) == 1:
                    row = s.get(WatchedChain, chain_id)
                    if row is not None:
                        claimed.append(row)
        return claimed

    def save(self, chain_id: str, *, owner: str, **values: Any) -> bool:
        """Write the chain's reading state only while we hold its lease."""
        with self._session() as s:
            result = s.execute(
                update(WatchedChain)
                .where(WatchedChain.chain_id == chain_id, WatchedChain.lease_owner == owner)
                .values(**values)
            )
            return getattr(result, "rowcount", 0) == 1

    def release(self, owner: str | None = None) -> None:
        held = WatchedChain.lease_owner.is_not(None) if owner is None else WatchedChain.lease_owner == owner
        with self._session() as s:
            s.execute(update(WatchedChain).where(held).values(lease_owner=None, lease_until=0.0))

    def next_due(self) -> float | None:
        with self._session() as s:
            return s.scalar(select(func.min(WatchedChain.next_poll_at)))

    def rollouts(self, chain_id: str, env: str | None = None) -> list[Rollout]:
        """The chain's latest rollouts (in that environment), newest first: chainops' own, and the
        outside ones it follows (those have no request id)."""
        with self._session() as s:
            return _rollouts_in(s, chain_id, env)

    # -- entries ---------------------------------------------------------------------------------------

    def handled(self, chain_id: str, entry_ids: list[str]) -> set[str]:
        if not entry_ids:
            return set()
        with self._session() as s:
            query = select(WatchedEntry.entry_id).where(
                WatchedEntry.chain_id == chain_id, WatchedEntry.entry_id.in_(entry_ids)
            )
            return set(s.scalars(query))

    def handle(self, chain_id: str, entry_id: str, at: float, rows: list[Any]) -> bool:
        """Record an entry as handled with everything it causes, in one transaction; False (and nothing
        written) if it was handled already."""
        try:
            with self._session() as s:
                if s.get(WatchedEntry, (chain_id, entry_id)) is not None:
                    return False
                s.add_all([WatchedEntry(chain_id=chain_id, entry_id=entry_id, at=at), *rows])
            return True
        except IntegrityError:
            return False


def _rollouts_in(s: Session, chain_id: str, env: str | None) -> list[Rollout]:
    query = select(Rollout).where(Rollout.chain_id == chain_id)
    if env:
        query = query.where(Rollout.env == env)
    return list(s.scalars(query.order_by(Rollout.started_at.desc()).limit(50)))
