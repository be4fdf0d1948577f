"""Follows every active rollout from the database: a leased job (`bot/runtime/loops.py`) whose items are
rollouts, each polled by `RolloutPoll` on a small pool under a lease, so that of several replicas exactly
one follows it, and another takes over when one dies."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from bot.baseten.client import BasetenClient
from bot.changes.rollout_poll import FollowerSettings, RolloutPoll, Writes
from bot.runtime import logs, metrics
from bot.runtime.loops import LeasedJob, Leases
from bot.runtime.repeated import RepeatedFailure
from bot.slack import blocks
from bot.slack.outbox import Outbox
from bot.store import Rollout, RolloutState, Store, StoreUnavailable

__all__ = ["Follower", "FollowerSettings", "new_owner_id"]

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Follower:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        outbox: Outbox,
        settings: FollowerSettings,
        writes: Writes | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        instance_types: Callable[[], blocks.Hardware] = dict,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.owner = owner or new_owner_id()
        self.rollouts = RolloutPoll(
            store=store,
            baseten=baseten,
            outbox=outbox,
            settings=settings,
            owner=self.owner,
            clock=clock,
            writes=writes,
            instance_types=instance_types,
        )
        self._poll_failure = RepeatedFailure(log, "polling a rollout")
        self.job: LeasedJob[Rollout] = LeasedJob(
            "following rollouts",
            interval=settings.tick,  # at least this often, for rollouts that just started
            claim=self._claim,
            key=lambda rollout: rollout.id,
            work=self._poll_guarded,
            workers=settings.workers,
            leases=Leases(
                renew=lambda now: store.renew_leases(
                    owner=self.owner, now=now, lease_seconds=settings.lease_seconds
                ),
                release=lambda: store.release_leases(self.owner),
                # On SQLite no other replica exists: leases left by this bot's previous life (killed
                # without a chance to hand them back) need not be waited out.
                forget_stale=store.release_leases if store.single_process else None,
            ),
            next_due=store.next_poll_due,  # sleep until the next poll is due
            expected=(StoreUnavailable,),
            clock=clock,
            thread_name="chainops-poll",
        )

    def wait_polls(self, timeout: float = 30.0) -> None:
        """Wait until no poll is under way (tests, the console and benchmarks use this)."""
        self.job.wait_idle(timeout)

    def run_once(self) -> None:
        """One scheduling pass and the polls it started."""
        self.job.run()
        self.wait_polls()

    def busy(self) -> bool:
        return bool(self.store.rollouts(RolloutState.FOLLOWING))

    def _claim(self, now: float) -> list[Rollout]:
        return self.store.claim_due_rollouts(
            owner=self.owner,
            now=now,
            lease_seconds=self.settings.lease_seconds,
            limit=self.settings.workers * 64,
        )

    def _poll_guarded(self, claimed: Rollout) -> None:
        try:
            # Re-read: the claim may predate a poll that finished meanwhile, and a stale row would
            # report the same transition twice.
            rollout = self.store.rollout(claimed.id)
            due = rollout is not None and rollout.next_poll_at <= self.clock()
            if (
                rollout is None
                or not due
                or rollout.state != RolloutState.FOLLOWING
                or rollout.lease_owner != self.owner
            ):
                return
            with logs.bound(
                request_id=rollout.request_id,
                rollout_id=rollout.id,
                chain=rollout.chain_name,
                environment=rollout.env,
            ):
                outcome = self.rollouts.poll(rollout)
                if outcome is not None:
                    metrics.rollout_finished(outcome)
                    log.info("rollout finished: %s", outcome)
        except StoreUnavailable as exc:
            self._poll_failure.failed(exc)
        except Exception as exc:
            self._poll_failure.failed(exc, expected=False)
            with contextlib.suppress(StoreUnavailable):  # retried when the database is back
                self.store.save_rollout(
                    claimed.id, owner=self.owner, next_poll_at=self.clock() + self.settings.poll_interval
                )
        else:
            self._poll_failure.succeeded()
