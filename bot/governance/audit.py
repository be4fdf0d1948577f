"""The audit trail: every request, decision, execution and outcome, and the history people read from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.changes.plans import ChainRef, ChangePlan
from bot.store import AuditEvent, Store

# Events that settle how a request ended, latest wins.
OUTCOMES = (
    "executed",
    "failed",
    "not_run",
    "not_made",
    "cancelled",
    "rejected",
    "expired",
    "succeeded",
    "rollout_failed",
    "timed_out",
)


LOCK_EVENTS = ("locked", "unlocked")
# Events that are changes of their own rather than requests with an outcome: history shows each one as it
# happened, with who and why: locks, watch subscriptions, and changes made outside chainops.
STANDING = (*LOCK_EVENTS, "watched", "unwatched", "outside")


@dataclass(frozen=True)
class HeldLock:
    """The lock a forced change went past: who took it, and why."""

    by: str
    reason: str


@dataclass(frozen=True)
class Change:
    """One line of `/chain history`: a request and how it ended, or a standing event (`event`)."""

    at: float
    requester: str  # whoever acted: the requester, or who locked or unlocked
    summary: str
    outcome: str
    approver: str | None
    forced: bool
    kind: str  # the change kind its plan was stored under (an undo of another change, for one)
    event: str = "requested"
    where: str = ""  # chain/env of a standing event
    reason: str = ""  # why it was locked
    overridden: HeldLock | None = None


class AuditTrail:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def record(self, event: str, actor: str, **fields: Any) -> None:
        self.store.audit(self.event(event, actor, **fields))

    def event(
        self,
        event: str,
        actor: str,
        *,
        plan: ChangePlan | None = None,
        request_id: str | None = None,
        kind: str = "",
        chain: ChainRef | None = None,
        chain_name: str = "",
        env: str = "",
        summary: str = "",
        approver: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> AuditEvent:
        """An event as `record` stores it, for a caller that stores it in its own transaction."""
        if plan is not None:
            kind, chain, env, summary = plan.kind, plan.chain, plan.env, summary or plan.describe()
        if chain is not None:
            chain_name = chain.name
        return AuditEvent(
            at=self.clock(),
            event=event,
            actor=actor,
            kind=kind,
            chain_id=chain.id if chain is not None else "",
            chain_name=chain_name,
            env=env,
            summary=summary,
            confirmation_id=request_id,
            approver=approver,
            channel=channel,
            thread_ts=thread_ts,
        )

    def changes(
        self,
        *,
        chain: ChainRef | None,
        env: str | None,
        limit: int,
        shown: Callable[[AuditEvent], bool] | None = None,
    ) -> list[Change]:
        """The latest requests and standing events, newest first, each request with how it ended.
        `shown`: only those a person may see (the App Home), looked for among a few times `limit`."""
        changes = []
        found = self.store.history(
            chain_id=chain.id if chain else None,
            chain_name=chain.name if chain else None,
            env=env,
            events=("requested", *STANDING),
            limit=limit if shown is None else limit * 10,
        )
        if shown is not None:
            found = [e for e in found if shown(e)][:limit]
        locks = _LockHistory(self.store, chain=chain, env=env)
        for request in found:
            if request.event in STANDING:
                changes.append(_standing(request))
                continue
            events = self.store.events_for(request.confirmation_id) if request.confirmation_id else []
            outcomes = [
                # Not run says why (changed since the preview, locked...): Baseten was never asked.
                f"not run: {e.summary}" if e.event == "not_run" and e.summary else e.event
                for e in events
                if e.event in OUTCOMES
            ]
            forced = next((e for e in events if e.event == "forced"), None)
            changes.append(
                Change(
                    at=request.at,
                    requester=request.actor,
                    summary=request.summary,
                    outcome=outcomes[-1].replace("_", " ") if outcomes else "pending",
                    approver=next((e.actor for e in events if e.event == "approved"), None),
                    forced=forced is not None,
                    kind=request.kind,
                    overridden=locks.held(forced) if forced is not None else None,
                )
            )
        return changes


def _standing(event: AuditEvent) -> Change:
    where = f"{event.chain_name}/{event.env}" if event.env else event.chain_name  # a whole chain watched
    # A lock's summary reads "lock <chain>/<env>: <reason>".
    reason = event.summary.removeprefix(f"lock {where}:").strip() if event.event == "locked" else ""
    return Change(
        at=event.at,
        requester=event.actor,
        summary=event.summary,
        outcome=event.event,
        approver=None,
        forced=False,
        kind=event.kind,
        event=event.event,
        where=where,
        reason=reason,
    )


class _LockHistory:
    """Which lock was held on an environment at a given moment, read from the trail once per history."""

    SCAN = 200  # lock and unlock events looked at; an override older than these is shown without its lock

    def __init__(self, store: Store, *, chain: ChainRef | None, env: str | None) -> None:
        self._store, self._chain, self._env = store, chain, env
        self._events: list[AuditEvent] | None = None

    def held(self, at: AuditEvent) -> HeldLock | None:
        if self._events is None:
            self._events = self._store.history(
                chain_id=self._chain.id if self._chain else None,
                chain_name=self._chain.name if self._chain else None,
                env=self._env,
                events=LOCK_EVENTS,
                limit=self.SCAN,
            )
        latest = next(
            (
                e
                for e in self._events  # newest first
                if _same_chain(e, at) and e.env == at.env and e.at <= at.at
            ),
            None,
        )
        if latest is None or latest.event != "locked":
            return None
        return HeldLock(by=latest.actor, reason=_standing(latest).reason)


def _same_chain(a: AuditEvent, b: AuditEvent) -> bool:
    """By id; events recorded before chain ids were can only be told apart by name."""
    if a.chain_id and b.chain_id:
        return a.chain_id == b.chain_id
    return a.chain_name == b.chain_name
