"""The audit trail: every request, decision, execution and outcome, and the history people read from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.plans import InstanceTypePlan, PromotePlan, describe
from bot.store import AuditEvent, Store

# Events that settle how a request ended, latest wins.
OUTCOMES = (
    "executed",
    "failed",
    "not_made",
    "cancelled",
    "rejected",
    "expired",
    "succeeded",
    "rollout_failed",
    "timed_out",
)


@dataclass(frozen=True)
class Change:
    """One line of `/chain history`."""

    at: float
    requester: str
    summary: str
    outcome: str
    approver: str | None
    forced: bool
    rollback: bool


class AuditTrail:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def record(
        self,
        event: str,
        actor: str,
        *,
        plan: PromotePlan | InstanceTypePlan | None = None,
        request_id: str | None = None,
        kind: str = "",
        chain_name: str = "",
        env: str = "",
        summary: str = "",
        approver: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> None:
        if plan is not None:
            kind, chain_name, env, summary = plan.kind, plan.chain_name, plan.env, summary or describe(plan)
        self.store.audit(
            AuditEvent(
                at=self.clock(),
                event=event,
                actor=actor,
                kind=kind,
                chain_name=chain_name,
                env=env,
                summary=summary,
                confirmation_id=request_id,
                approver=approver,
                channel=channel,
                thread_ts=thread_ts,
            )
        )

    def changes(self, *, chain_name: str | None, env: str | None, limit: int) -> list[Change]:
        """The latest requests, newest first, each with how it ended."""
        changes = []
        for request in self.store.history(chain_name=chain_name, env=env, events=("requested",), limit=limit):
            events = self.store.events_for(request.confirmation_id) if request.confirmation_id else []
            outcomes = [e.event for e in events if e.event in OUTCOMES]
            changes.append(
                Change(
                    at=request.at,
                    requester=request.actor,
                    summary=request.summary,
                    outcome=outcomes[-1].replace("_", " ") if outcomes else "pending",
                    approver=next((e.actor for e in events if e.event == "approved"), None),
                    forced=any(e.event == "forced" for e in events),
                    rollback=request.kind == "rollback",
                )
            )
        return changes
