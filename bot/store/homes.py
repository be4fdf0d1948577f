"""Durable reads and writes behind the App Home: which homes need publishing (coalesced per person,
shared by replicas through a lease like the outbox's channels) and what a home shows.

A home is never stored: it is rebuilt from the current state when it is published, so however many
changes touch it between two publishes, Slack gets one `views.publish` with the latest content."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.tables import (
    AuditEvent,
    Confirmation,
    ConfirmationState,
    HomeRefresh,
    Rollout,
    RolloutState,
    WatchSubscription,
)


class HomeStore:
    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session = session

    # -- which homes to publish -------------------------------------------------------------------------

    def want(self, users: Iterable[str], *, now: float, opened_since: float) -> None:
        """Something on these people's homes changed: each home opened since `opened_since` is
        published once its pace allows (a home nobody looks at costs neither Slack nor Baseten)."""
        people = sorted(set(u for u in users if u))
        if not people:
            return
        with self._session() as s:
            s.execute(
                update(HomeRefresh)
                .where(
                    HomeRefresh.user.in_(people),
                    HomeRefresh.opened_at >= opened_since,
                    HomeRefresh.wanted_at < now,
                )
                .values(wanted_at=now)
            )

    def opened(self, person: str, *, now: float) -> None:
        """The person opened their home and it is being published now."""
        try:
            with self._session() as s:
                row = s.get(HomeRefresh, person)
                if row is None:
                    s.add(HomeRefresh(user=person, opened_at=now, published_at=now))
                else:
                    row.opened_at = now
                    row.published_at = now
        except IntegrityError:
            pass

    def viewers(self, *, since: float) -> list[str]:
        """Everyone who opened their home since then: the homes a change in a channel may be on."""
        with self._session() as s:
            return list(s.scalars(select(HomeRefresh.user).where(HomeRefresh.opened_at >= since)))

    def claim_due(
        self, *, owner: str, now: float, every: float, lease_seconds: float, limit: int = 50
    ) -> list[str]:
        """Homes wanted since their last publish, published at least `every` seconds ago, and held by
        no live replica: leased to `owner`, and marked published now (a change from now on is wanted
        again, so the latest content always gets out)."""
        free = or_(
            HomeRefresh.lease_owner.is_(None),
            HomeRefresh.lease_until < now,
            HomeRefresh.lease_owner == owner,
        )
        with self._session() as s:
            due = list(
                s.scalars(
                    select(HomeRefresh.user)
                    .where(
                        HomeRefresh.wanted_at > HomeRefresh.published_at,
                        HomeRefresh.published_at <= now - every,
                        free,
                    )
                    .order_by(HomeRefresh.wanted_at)
                    .limit(limit)
                )
            )
        claimed = []
        for person in due:
            with self._session() as s:
                done = _rowcount(
                    s.execute(
                        update(HomeRefresh)
                        .where(
                            HomeRefresh.user == person,
                            HomeRefresh.wanted_at > HomeRefresh.published_at,
                            HomeRefresh.published_at <= now - every,
                            free,
                        )
                        .values(lease_owner=owner, lease_until=now + lease_seconds, published_at=now)
                    )
                )
            if done:
                claimed.append(person)
        return claimed

    def release(self, person: str, *, owner: str) -> None:
        with self._session() as s:
            s.execute(
                update(HomeRefresh)
                .where(HomeRefresh.user == person, HomeRefresh.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0)
            )

    def next_due(self, *, every: float) -> float | None:
        """When the earliest wanted home may be published."""
        with self._session() as s:
            last = s.scalar(
                select(func.min(HomeRefresh.published_at)).where(
                    HomeRefresh.wanted_at > HomeRefresh.published_at
                )
            )
        return None if last is None else float(last) + every

    # -- what a home shows ------------------------------------------------------------------------------

    def pending_confirmations(self, *, now: float, limit: int = 500) -> list[Confirmation]:
        with self._session() as s:
            return list(
                s.scalars(
                    select(Confirmation)
                    .where(Confirmation.state == ConfirmationState.PENDING, Confirmation.expires_at > now)
                    .order_by(Confirmation.expires_at)
                    .limit(limit)
                )
            )

    def following(self, *, limit: int = 500) -> list[Rollout]:
        with self._session() as s:
            return list(
                s.scalars(
                    select(Rollout)
                    .where(Rollout.state == RolloutState.FOLLOWING)
                    .order_by(Rollout.started_at.desc())
                    .limit(limit)
                )
            )

    def following_where(self) -> dict[str, tuple[str, str, str]]:
        """Rollouts followed now: id -> (channel, who started it, chain id), to notice one start or end."""
        with self._session() as s:
            rows = s.execute(
                select(Rollout.id, Rollout.channel, Rollout.requester, Rollout.chain_id).where(
                    Rollout.state == RolloutState.FOLLOWING
                )
            ).all()
        return {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}

    def watched(self) -> list[tuple[str, str, str]]:
        """(chain id, chain name, channel) of every chain a channel watches."""
        with self._session() as s:
            rows = s.execute(
                select(WatchSubscription.chain_id, WatchSubscription.chain_name, WatchSubscription.channel)
                .distinct()
                .order_by(WatchSubscription.chain_id)
            ).all()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def events_after(self, event_id: int, *, limit: int = 500) -> list[AuditEvent]:
        with self._session() as s:
            return list(
                s.scalars(
                    select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id).limit(limit)
                )
            )

    def last_event_id(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.max(AuditEvent.id))) or 0)

    def requests(self, confirmation_ids: Iterable[str]) -> dict[str, AuditEvent]:
        """The "requested" event of each request: where (which channel) it was asked."""
        ids = sorted(set(confirmation_ids))
        if not ids:
            return {}
        with self._session() as s:
            found = s.scalars(
                select(AuditEvent).where(AuditEvent.event == "requested", AuditEvent.confirmation_id.in_(ids))
            )
            return {e.confirmation_id or "": e for e in found}

    def channels_used(self, person: str, chain_id: str, *, limit: int = 20) -> list[str]:
        """Channels this person changed or locked the chain in, latest first."""
        with self._session() as s:
            found = s.scalars(
                select(AuditEvent.channel)
                .where(
                    AuditEvent.actor == person,
                    AuditEvent.chain_id == chain_id,
                    AuditEvent.channel.is_not(None),
                    AuditEvent.event.in_(("requested", "locked", "unlocked")),
                )
                .order_by(AuditEvent.id.desc())
                .limit(limit)
            )
            return list(dict.fromkeys(c for c in found if c))

    def chains_changed_by(self, person: str, *, since: float, limit: int = 20) -> list[tuple[str, str]]:
        """(chain id, chain name) of the chains this person asked to change since then, latest first."""
        with self._session() as s:
            rows = s.execute(
                select(AuditEvent.chain_id, AuditEvent.chain_name, func.max(AuditEvent.at).label("last"))
                .where(
                    AuditEvent.actor == person,
                    AuditEvent.at >= since,
                    AuditEvent.chain_id != "",
                    AuditEvent.event.in_(("requested", "locked", "unlocked")),
                )
                .group_by(AuditEvent.chain_id, AuditEvent.chain_name)
                .order_by(func.max(AuditEvent.at).desc())
                .limit(limit)
            ).all()
        return [(str(r[0]), str(r[1])) for r in rows]


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
