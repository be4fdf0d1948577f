"""All reads and writes of durable state. Claims are single conditional UPDATEs, so they are atomic on
SQLite and PostgreSQL alike: of two clicks or two replicas, exactly one sees its row count be 1.

Longer than most modules: every SQL statement of confirmations, rollouts, locks and the audit trail sits
here, so claims and the transactions that pair them can be read, and checked, side by side."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime import metrics
from bot.store.homes import HomeStore
from bot.store.outbox import OutboxStore
from bot.store.tables import (
    AuditEvent,
    Confirmation,
    ConfirmationState,
    EnvironmentLock,
    HealthProbe,
    Rollout,
    RolloutState,
    SeenRequest,
    WriteState,
)
from bot.store.watch import WatchStore

PROBES_KEPT = 86400.0  # seconds a stopped process's last health probe is kept


class StoreUnavailable(Exception):
    """The database cannot be used right now; nothing was written."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.outbox = OutboxStore(self._session)
        self.homes = HomeStore(self._session)
        self.watch = WatchStore(self._session)
        # A SQLite file deleted under a running process keeps working through its open handles, into a
        # file nobody will ever open again: remember which file we opened, and refuse once it is gone.
        database = engine.url.database
        self._file = database if self.single_process and database not in (None, "", ":memory:") else None
        self._file_id = _file_id(self._file) if self._file else None

    @property
    def single_process(self) -> bool:
        """SQLite serves one process: no other replica can hold a lease."""
        return self.engine.dialect.name == "sqlite"

    def outbox_backlog(self) -> tuple[int, float | None]:
        """Slack messages waiting to be delivered, and when the oldest was written (for /metrics)."""
        return self.outbox.depth(), self.outbox.oldest_pending_at()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        self._check_file()
        try:
            with self._sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            if isinstance(exc.orig, self.engine.dialect.loaded_dbapi.IntegrityError):
                raise
            raise StoreUnavailable(f"the database cannot be used ({type(exc.orig).__name__})") from exc

    def _check_file(self) -> None:
        if self._file and _file_id(self._file) != self._file_id:
            message = f"the SQLite file {self._file} was deleted or replaced while running"
            if held := _still_open(self._file_id):
                # Everything pending is still readable there until this process exits.
                message += f"; its data is still open as {held}: copy it back before restarting"
            raise StoreUnavailable(message)

    def check(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        with self._session() as s:
            s.execute(text("SELECT 1"))

    def probe_write(self, owner: str, now: float) -> None:
        """Raise StoreUnavailable unless the database takes a write and its commit (the health check: a
        full disk or a read-only database answers reads and refuses every change)."""
        with self._session() as s:
            s.merge(HealthProbe(owner=owner, probed_at=now))
            s.execute(delete(HealthProbe).where(HealthProbe.probed_at < now - PROBES_KEPT))

    # -- confirmations ---------------------------------------------------------------------------------

    def add_confirmation(self, confirmation: Confirmation) -> None:
        with self._session() as s:
            s.add(confirmation)

    def confirmation(self, confirmation_id: str) -> Confirmation | None:
        with self._session() as s:
            return s.get(Confirmation, confirmation_id)

    def claim_confirmation(self, confirmation_id: str, *, now: float, approver: str | None = None) -> bool:
        """Move a pending, unexpired confirmation to EXECUTING; True for exactly one caller."""
        with self._session() as s:
            result = s.execute(
                update(Confirmation)
                .where(
                    Confirmation.id == confirmation_id,
                    Confirmation.state == ConfirmationState.PENDING,
                    Confirmation.expires_at > now,
                )
                .values(state=ConfirmationState.EXECUTING, decided_at=now, approver=approver)
            )
            return _rowcount(result) == 1

    def claim_with_intent(
        self,
        confirmation_id: str,
        rollout: Rollout,
        rows: list[Any],
        *,
        now: float,
        since: float,
        approver: str | None = None,
    ) -> bool:
        """Claim a pending, unexpired confirmation and record its change's intent (the rollout, and
        `rows` such as its audit event and channel message) in one transaction: either all of it holds,
        or none. False if another click claimed it first, or a change to the same environment was
        started through chainops after `since` (the preview is stale; the caller says so)."""
        with self._session() as s:
            if self._changed_since(s, rollout.chain_id, rollout.env, since):
                return False
            result = s.execute(
                update(Confirmation)
                .where(
                    Confirmation.id == confirmation_id,
                    Confirmation.state == ConfirmationState.PENDING,
                    Confirmation.expires_at > now,
                )
                .values(state=ConfirmationState.EXECUTING, decided_at=now, approver=approver)
            )
            if _rowcount(result) != 1:
                return False
            s.add_all([rollout, *rows])
            return True

    def add_intent(self, rollout: Rollout, rows: list[Any]) -> None:
        """A change run at once: its intent, audit event and channel message in one transaction."""
        with self._session() as s:
            s.add_all([rollout, *rows])

    def mark_sent(self, rollout_id: str, *, owner: str, now: float) -> bool:
        """The last step before the Baseten write: True for exactly one holder of the rollout's lease.
        Once it is marked, the write is never sent again, whoever finds the rollout later."""
        with self._session() as s:
            result = s.execute(
                update(Rollout)
                .where(
                    Rollout.id == rollout_id,
                    Rollout.write_state == WriteState.INTENT,
                    Rollout.lease_owner == owner,
                    Rollout.state == RolloutState.FOLLOWING,
                )
                .values(write_state=WriteState.SENT, last_ok_at=now)
            )
            return _rowcount(result) == 1

    def record_answer(self, rollout_id: str, **values: Any) -> bool:
        """Baseten's answer to the write; False if the rollout was meanwhile resolved from the
        environment (by another replica that found it unanswered): that one reports, not us."""
        with self._session() as s:
            result = s.execute(
                update(Rollout)
                .where(Rollout.id == rollout_id, Rollout.write_state == WriteState.SENT)
                .values(write_state=WriteState.ANSWERED, **values)
            )
            return _rowcount(result) == 1

    def close_pending(
        self,
        confirmation_id: str,
        state: ConfirmationState,
        *,
        now: float,
        by: str | None = None,
        outcome: str | None = None,
    ) -> bool:
        """Cancel, reject, expire or not run a confirmation that is still pending; True if this call did it."""
        values: dict[str, Any] = {"state": state, "decided_at": now, "approver": by}
        if outcome is not None:
            values["outcome"] = outcome
        with self._session() as s:
            result = s.execute(
                update(Confirmation)
                .where(Confirmation.id == confirmation_id, Confirmation.state == ConfirmationState.PENDING)
                .values(**values)
            )
            return _rowcount(result) == 1

    def finish_confirmation(self, confirmation_id: str, state: ConfirmationState, outcome: str) -> None:
        with self._session() as s:
            s.execute(
                update(Confirmation)
                .where(Confirmation.id == confirmation_id)
                .values(state=state, outcome=outcome)
            )

    def due_expiries(self, *, now: float, limit: int = 50) -> list[Confirmation]:
        with self._session() as s:
            rows = s.scalars(
                select(Confirmation)
                .where(Confirmation.state == ConfirmationState.PENDING, Confirmation.expires_at <= now)
                .limit(limit)
            )
            return list(rows)

    # -- rollouts --------------------------------------------------------------------------------------

    def add_rollout(self, rollout: Rollout) -> None:
        with self._session() as s:
            s.add(rollout)

    def rollout(self, rollout_id: str) -> Rollout | None:
        with self._session() as s:
            return s.get(Rollout, rollout_id)

    def changed_since(self, chain_id: str, env: str, since: float) -> bool:
        """Whether a change to this environment was started through chainops after `since`."""
        with self._session() as s:
            return self._changed_since(s, chain_id, env, since)

    @staticmethod
    def _changed_since(s: Session, chain_id: str, env: str, since: float) -> bool:
        found = s.scalar(
            select(Rollout.id)
            .where(Rollout.chain_id == chain_id, Rollout.env == env, Rollout.started_at > since)
            .limit(1)
        )
        return found is not None

    def rollouts(self, state: RolloutState | None = None) -> list[Rollout]:
        with self._session() as s:
            query = select(Rollout).order_by(Rollout.started_at)
            if state is not None:
                query = query.where(Rollout.state == state)
            return list(s.scalars(query))

    def following_rollouts(self) -> tuple[int, float | None]:
        """How many rollouts are followed now and when the oldest started: one query, for /metrics."""
        with self._session() as s:
            count, oldest = s.execute(
                select(func.count(), func.min(Rollout.started_at)).where(
                    Rollout.state == RolloutState.FOLLOWING
                )
            ).one()
            return int(count), oldest

    def claim_due_rollouts(
        self, *, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Rollout]:
        """Lease rollouts whose next poll is due and that no live replica holds; return those now ours."""
        free = or_(Rollout.lease_owner.is_(None), Rollout.lease_until < now, Rollout.lease_owner == owner)
        with self._session() as s:
            candidates = list(
                s.execute(
                    select(Rollout.id, Rollout.lease_owner)
                    .where(Rollout.state == RolloutState.FOLLOWING, Rollout.next_poll_at <= now, free)
                    .order_by(Rollout.next_poll_at)
                    .limit(limit)
                )
            )
        claimed: list[Rollout] = []
        for rollout_id, previous_owner in candidates:
            with self._session() as s:
                result = s.execute(
                    update(Rollout)
                    .where(and_(Rollout.id == rollout_id, Rollout.state == RolloutState.FOLLOWING, free))
                    .values(lease_owner=owner, lease_until=now + lease_seconds)
                )
                if _rowcount(result) == 1:
                    row = s.get(Rollout, rollout_id)
                    if row is not None:
                        claimed.append(row)
                    if previous_owner not in (None, owner):
                        metrics.lease_taken_over()  # its holder stopped renewing: it died or hangs
        return claimed

    def next_poll_due(self) -> float | None:
        """When the earliest followed rollout is due, so the scheduler sleeps exactly until then."""
        with self._session() as s:
            return s.scalar(
                select(func.min(Rollout.next_poll_at)).where(Rollout.state == RolloutState.FOLLOWING)
            )

    def renew_leases(self, *, owner: str, now: float, lease_seconds: float) -> None:
        """Keep every rollout this process follows, so a slow poll never lets another replica in."""
        with self._session() as s:
            s.execute(
                update(Rollout)
                .where(Rollout.lease_owner == owner, Rollout.state == RolloutState.FOLLOWING)
                .values(lease_until=now + lease_seconds)
            )

    def save_rollout(self, rollout_id: str, /, *rows: Any, owner: str, **values: Any) -> bool:
        """Write progress only while we still hold the lease; False means another replica took over.
        `rows` (the replies and audit events that tell of this step) are stored in the same transaction:
        a kill or a database cut leaves the step and its telling both, or neither."""
        with self._session() as s:
            result = s.execute(
                update(Rollout).where(Rollout.id == rollout_id, Rollout.lease_owner == owner).values(**values)
            )
            if _rowcount(result) != 1:
                return False
            s.add_all(rows)
            return True

    def update_rollout(self, rollout_id: str, **values: Any) -> None:
        """For the rollout's creator, before any follower has leased it."""
        with self._session() as s:
            s.execute(update(Rollout).where(Rollout.id == rollout_id).values(**values))

    def release_leases(self, owner: str | None = None) -> None:
        """Hand back one owner's rollouts, or every rollout (a single process starting after a crash)."""
        held = Rollout.lease_owner.is_not(None) if owner is None else Rollout.lease_owner == owner
        with self._session() as s:
            s.execute(update(Rollout).where(held).values(lease_owner=None, lease_until=0.0))

    # -- audit trail -----------------------------------------------------------------------------------

    def audit(self, event: AuditEvent) -> None:
        with self._session() as s:
            s.add(event)

    def history(
        self,
        *,
        chain_id: str | None,
        chain_name: str | None,
        env: str | None,
        events: tuple[str, ...],
        limit: int,
    ) -> list[AuditEvent]:
        """`chain_id` names the chain; `chain_name` finds its events from before ids were recorded."""
        with self._session() as s:
            query = select(AuditEvent).where(AuditEvent.event.in_(events))
            if chain_id:
                query = query.where(
                    or_(
                        AuditEvent.chain_id == chain_id,
                        and_(AuditEvent.chain_id == "", AuditEvent.chain_name == (chain_name or "")),
                    )
                )
            if env:
                query = query.where(AuditEvent.env == env)
            return list(s.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))

    def events_for(self, confirmation_id: str) -> list[AuditEvent]:
        with self._session() as s:
            query = (
                select(AuditEvent)
                .where(AuditEvent.confirmation_id == confirmation_id)
                .order_by(AuditEvent.id)
            )
            return list(s.scalars(query))

    # -- environment locks -----------------------------------------------------------------------------

    def lock(self, chain_id: str, chain_name: str, env: str) -> EnvironmentLock | None:
        with self._session() as s:
            return s.scalars(
                select(EnvironmentLock)
                .where(EnvironmentLock.env == env, _lock_of(chain_id, chain_name))
                .order_by(EnvironmentLock.locked_at)
                .limit(1)
            ).first()

    def add_lock(self, lock: EnvironmentLock) -> bool:
        """False if the environment is already locked."""
        with self._session() as s:
            held = s.scalars(
                select(EnvironmentLock.chain_id).where(
                    EnvironmentLock.env == lock.env, _lock_of(lock.chain_id, lock.chain_name)
                )
            ).first()
            if held is not None:
                return False
            s.add(lock)
            return True

    def remove_lock(self, chain_id: str, chain_name: str, env: str) -> bool:
        with self._session() as s:
            result = s.execute(
                delete(EnvironmentLock).where(EnvironmentLock.env == env, _lock_of(chain_id, chain_name))
            )
            return _rowcount(result) >= 1

    # -- signed requests already seen ------------------------------------------------------------------

    def first_sightings(self, requests: list[tuple[int, str]], *, keep_for: float) -> set[tuple[int, str]]:
        """Record signed requests (timestamp, signature) in one transaction; returns those recorded now,
        i.e. the ones no replica had seen before."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(SeenRequest)
            .values([{"request_ts": t, "signature": s, "expires_at": t + keep_for} for t, s in requests])
            .on_conflict_do_nothing()
            .returning(SeenRequest.request_ts, SeenRequest.signature)
        )
        with self._session() as s:
            return {(int(row[0]), str(row[1])) for row in s.execute(statement)}

    def forget_sightings(self, *, now: float) -> None:
        with self._session() as s:
            s.execute(delete(SeenRequest).where(SeenRequest.expires_at < now))


def _lock_of(chain_id: str, chain_name: str) -> Any:
    """The chain's locks: by its id, and any kept by its name from before locks were kept by id."""
    return EnvironmentLock.chain_id.in_((chain_id, chain_name))


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _still_open(file_id: tuple[int, int] | None) -> str | None:
    """Where this process still holds the deleted file open (Linux), so an operator can copy it back."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            stat = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (stat.st_dev, stat.st_ino) == file_id:
            return f"/proc/{os.getpid()}/fd/{fd}"
    return None


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))
