"""One poll of one rollout: the state machine that reads Baseten, records what changed and says it in the
rollout's thread (the text itself is built in `rollout_messages`).

A rollout is FOLLOWING until Baseten shows it live, failed or stopped, it is passed over by another
change, or it runs past the rollout timeout. Its write may still be an intent (sent now, through the
change's `Writes`), or unanswered (resolved from the environment, never sent again). Every save goes
through the rollout's lease: if another replica took it over meanwhile, that one reports instead.
Longer than most modules: one state machine, whose steps read best in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenNotFound, BasetenRateLimited
from bot.baseten.models import ChainDeployment, DeploymentStatus, Phase
from bot.changes import rollout_messages as say
from bot.changes import settling
from bot.changes.plans import ChainRef, ChangePlan
from bot.commands import registry as verbs
from bot.governance.audit import AuditTrail
from bot.slack import blocks
from bot.slack.markup import Mrkdwn
from bot.slack.outbox import Outbox
from bot.store import Rollout, RolloutState, Store, WriteState, chainlet_statuses_json

log = logging.getLogger(__name__)

MAX_BUILD_INTERVAL = 60.0  # a long build is still checked every minute
UNREACHABLE_AFTER = 120.0  # say so in the thread once Baseten has been unreachable this long
RESOLVE_WINDOW = 120.0  # an unanswered write that shows no change this long after it was sent was not made
PARENT_REFRESH = 60.0  # refresh the elapsed time on the parent message at least this often
LOG_SCAN = 200  # newest lines read to find the last errors among them
LOG_SKEW_MS = 60_000  # start the log window a minute early, in case Baseten's clock is behind ours


@dataclass(frozen=True)
class FollowerSettings:
    poll_interval: float = 5.0
    rollout_timeout: float = 7200.0
    lease_seconds: float = 30.0
    workers: int = 8
    tick: float = 0.5
    rollback_window: float = 3600.0


class Writes(Protocol):
    """The change's Baseten write, as the poll needs it (`bot.changes.execution.Execution`)."""

    def writing(self, rollout_id: str) -> bool:
        """Whether this process is sending that rollout's write right now."""

    def resume(self, rollout: Rollout) -> None:
        """Send an intent nobody sent (its process died, or its database went away, after the claim)."""

    def settle(self, rollout: Rollout, made: bool) -> None:
        """An unanswered write resolved from the environment: made (True) or not (False)."""


class RolloutPoll:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        outbox: Outbox,
        settings: FollowerSettings,
        owner: str,
        clock: Callable[[], float],
        writes: Writes | None = None,
        instance_types: Callable[[], blocks.Hardware] = dict,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.outbox = outbox
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.writes = writes
        self.instance_types = instance_types  # to show chainlets' instance types by id
        self.audit = AuditTrail(store, clock)
        self._last_parent_update: dict[str, float] = {}

    def poll(self, rollout: Rollout) -> str | None:
        """Look at the rollout once; how it ended ("succeeded", "failed", …) if it did."""
        now = self.clock()
        if now - rollout.started_at > self.settings.rollout_timeout:
            return self._give_up(rollout, now)
        if self.writes is not None and self.writes.writing(rollout.id):
            # Its write is under way in this process: whatever it answers is recorded by the writer.
            self._later(rollout, now + self.settings.poll_interval)
            return None
        try:
            if rollout.write_state == WriteState.INTENT:
                if self.writes is not None:
                    self.writes.resume(rollout)
                return None
            plan = self._plan(rollout)
            if plan is not None and plan.follows_environment:
                return settling.poll(self, rollout, plan, now, resolve_window=RESOLVE_WINDOW)
            if not rollout.deployment_id:
                resolved, outcome = self._resolve(rollout, now)
                if resolved is None:
                    return outcome
                rollout = resolved
            deployment, serving, superseded_by = self._observe(rollout)
        except BasetenRateLimited as exc:
            self._rate_limited(rollout, exc)
            return None
        except BasetenError as exc:
            self._unreachable(rollout, now, exc)
            return None
        if rollout.unreachable_reported:
            self._reply(rollout, say.BACK_AGAIN)
        lines = say.changes(rollout, deployment)
        phase = deployment.rollout_phase
        if phase is Phase.LIVE and not serving and superseded_by is None:
            phase = Phase.IN_PROGRESS  # ready, but the environment has not switched traffic to it yet
        values: dict[str, object] = {
            "last_status": deployment.status.value,
            "last_chainlets_json": chainlet_statuses_json(deployment),
            "last_ok_at": now,
            "failures": 0,
            "unreachable_reported": False,
        }
        if phase is Phase.LIVE:
            state = RolloutState.SUCCEEDED if superseded_by is None else RolloutState.FAILED
            values.update(state=state, finished_at=now, lease_owner=None)
        elif phase in (Phase.FAILED, Phase.OFF):
            values.update(state=RolloutState.FAILED, finished_at=now, lease_owner=None)
        else:
            interval = self._interval(rollout, deployment, now)
            # Keep the cadence: the next poll is one interval after this one was due, not after it ended.
            values["next_poll_at"] = max(now + 0.01, min(rollout.next_poll_at, now) + interval)
        finished = phase is not Phase.IN_PROGRESS
        # The end's message is written before the end is saved (a failure's reads the logs from
        # Baseten), and saved with it: a kill in between leaves the rollout followed, to be told again.
        outcome, closing = self._closing(rollout, deployment, phase, superseded_by, now)
        if finished:
            # The parent shows the end before the closing reply arrives; telling it twice changes nothing.
            self._update_parent(rollout, deployment, now, say.state_line(phase))
            self._last_parent_update.pop(rollout.id, None)
        # Only the lease holder reports: if another replica took over meanwhile, it reports instead.
        if not self._save(rollout, *closing, **values):
            return None
        stale = now - self._last_parent_update.get(rollout.id, 0.0) > PARENT_REFRESH
        if not finished and (lines or stale):
            self._update_parent(rollout, deployment, now, say.state_line(phase))
        if lines and not finished:
            self._reply(rollout, say.progress(rollout, lines), progress=True)
        return outcome

    def _closing(
        self,
        rollout: Rollout,
        deployment: ChainDeployment,
        phase: Phase,
        superseded_by: str | None,
        now: float,
    ) -> tuple[str | None, list[object]]:
        """How the rollout ended, and the reply and audit event that tell of it; (None, []) while it runs."""
        if phase is Phase.LIVE and superseded_by is not None:
            reply = say.superseded(rollout, deployment, superseded_by)
            return "superseded", self._telling(rollout, reply.text, reply.blocks, event="rollout_failed")
        if phase is Phase.LIVE:
            reply = say.succeeded(
                rollout,
                deployment,
                took=now - rollout.started_at,
                previous=self._previous_fate(rollout, deployment),
                rollback_window=self.settings.rollback_window,
                revertible=self._revertible(rollout),
            )
            return "succeeded", self._telling(rollout, reply.text, reply.blocks, event="succeeded")
        if phase is Phase.IN_PROGRESS:
            return None, []
        errors = {
            c.id: self._error_lines(rollout, deployment, c.id)
            for c in say.failing(deployment)[: say.FAILED_WITH_LOGS]
        }
        reply = say.failed(rollout, deployment, errors)
        return "failed", self._telling(rollout, reply.text, reply.blocks, event="rollout_failed")

    def _observe(self, rollout: Rollout) -> tuple[ChainDeployment, bool, str | None]:
        """The deployment, whether the environment serves it, and what serves instead if it was passed over.

        One request per poll: the environment holds both its candidate and its current deployment."""
        env = self.baseten.get_environment(rollout.chain_id, rollout.env)
        current, candidate = env.current_deployment, env.candidate_deployment
        if current is not None and current.id == rollout.deployment_id:
            return current, True, None
        if candidate is not None and candidate.id == rollout.deployment_id:
            self._check_preview(rollout, current)
            return candidate, False, None
        # Neither: it failed out of the promotion, or another deployment was promoted meanwhile.
        deployment = self.baseten.get_deployment(rollout.chain_id, rollout.deployment_id)
        replaced = (
            current.id if current is not None and current.id != rollout.previous_deployment_id else None
        )
        return deployment, False, replaced

    def _check_preview(self, rollout: Rollout, current: ChainDeployment | None) -> None:
        """A change written without re-checking its preview: while it rolls out, the environment still
        serves what was live when it was written. If that is not what the preview showed, it is what the
        change replaces (and what a rollback returns to); the final message says so."""
        if not rollout.preview_unchecked:
            return
        live = current.id if current is not None else None
        values: dict[str, object] = {"preview_unchecked": False}
        if live != rollout.previous_deployment_id:
            values.update(previous_deployment_id=live, preview_live=rollout.previous_deployment_id or "")
        if self.store.save_rollout(rollout.id, owner=self.owner, **values):
            for name, value in values.items():
                setattr(rollout, name, value)

    def _resolve(self, rollout: Rollout, now: float) -> tuple[Rollout | None, str | None]:
        """The write was sent but its answer never came (a timeout, or the bot stopped): find what the
        environment is rolling out, and follow it. The write is never sent again. Returns the rollout to
        follow now, or None and how it ended if it did."""
        env = self.baseten.get_environment(rollout.chain_id, rollout.env)
        candidate = verbs.PLANS.made_in(rollout.plan_json, env, rollout.previous_deployment_id)
        if candidate is not None:
            made = self._telling(rollout, say.made_after_all(candidate.id).text)
            if not self._save(rollout, *made, deployment_id=candidate.id, write_state=WriteState.ANSWERED):
                return None, None
            if self.writes is not None:
                self.writes.settle(rollout, True)
            return self.store.rollout(rollout.id), None
        if now - rollout.started_at < RESOLVE_WINDOW:
            # Baseten may still be working on the write: look again before concluding anything.
            self._later(rollout, now + self.settings.poll_interval)
            return None, None
        return None, "not_made" if self._not_made(rollout, say.not_made(rollout).text, now) else None

    def _not_made(self, rollout: Rollout, text: Mrkdwn, now: float) -> bool:
        """An unanswered write resolved as not made: ended, told in its thread, and settled; False if
        another replica holds the rollout now (that one tells)."""
        if not self._save(
            rollout,
            *self._telling(rollout, text),
            state=RolloutState.FAILED,
            finished_at=now,
            lease_owner=None,
            write_state=WriteState.ANSWERED,
        ):
            return False
        self._update_parent(rollout, None, now, "not made")
        if self.writes is not None:
            self.writes.settle(rollout, False)
        return True

    def _interval(self, rollout: Rollout, deployment: ChainDeployment, now: float) -> float:
        base = self.settings.poll_interval
        if deployment.status is DeploymentStatus.BUILDING:
            # Builds take minutes to an hour: poll less often the longer one has been running.
            return min(max(base, (now - rollout.started_at) / 10), max(base, MAX_BUILD_INTERVAL))
        return base

    def _previous_fate(self, rollout: Rollout, deployment: ChainDeployment) -> say.PreviousFate | None:
        previous = rollout.previous_deployment_id
        if not previous or previous == deployment.id:
            return None
        try:
            old = self.baseten.get_deployment(rollout.chain_id, previous)
        except BasetenNotFound:
            return say.PreviousFate(previous, "was deleted", False)
        except BasetenError:
            return say.PreviousFate(previous, "could not be checked", False)
        if old.status.phase is Phase.OFF:
            return say.PreviousFate(previous, f"is {old.status.value.lower()} (deactivated)", False)
        if (
            old.status is DeploymentStatus.SCALED_TO_ZERO
            or old.status is DeploymentStatus.ACTIVE
            and old.chainlets
            and all(c.active_replica_count == 0 for c in old.chainlets)
        ):
            return say.PreviousFate(previous, "was scaled down to zero", True)
        return say.PreviousFate(previous, f"is still running ({old.status.value})", True)

    def _error_lines(self, rollout: Rollout, deployment: ChainDeployment, chainlet_id: str) -> str:
        """The last error lines since the rollout started. No `min_level` is sent: Baseten would then
        drop every line without a level."""
        try:
            entries = self.baseten.chainlet_logs(
                rollout.chain_id,
                deployment.id,
                chainlet_id,
                start_epoch_millis=int(rollout.started_at * 1000) - LOG_SKEW_MS,
                end_epoch_millis=int(self.clock() * 1000),
                limit=LOG_SCAN,
            )
        except BasetenError as exc:
            return say.logs_unavailable(exc.message)
        return say.error_lines(entries)

    def _give_up(self, rollout: Rollout, now: float) -> str | None:
        told = self._telling(rollout, say.gave_up(rollout, now - rollout.started_at).text, event="timed_out")
        if not self._save(rollout, *told, state=RolloutState.TIMED_OUT, finished_at=now, lease_owner=None):
            return None
        self._update_parent(rollout, None, now, "stopped following (timeout)")
        return "timed_out"

    def _unreachable(self, rollout: Rollout, now: float, exc: BasetenError) -> None:
        failures = rollout.failures + 1
        backoff = min(self.settings.poll_interval * 2 ** min(failures, 5), MAX_BUILD_INTERVAL)
        report = now - rollout.last_ok_at > UNREACHABLE_AFTER and not rollout.unreachable_reported
        told = (
            self._telling(rollout, say.unreachable(now - rollout.last_ok_at, exc.message).text)
            if report
            else []
        )
        self._save(
            rollout,
            *told,
            failures=failures,
            next_poll_at=now + backoff,
            unreachable_reported=rollout.unreachable_reported or report,
        )
        log.warning("polling rollout %s failed (%s); retry in %.0fs", rollout.id, exc.message, backoff)

    def _rate_limited(self, rollout: Rollout, exc: BasetenRateLimited) -> None:
        """Baseten refuses every request until its window ends: look again only after it."""
        self._later(rollout, self.clock() + exc.retry_after + 0.01)
        log.info("rollout %s: Baseten is rate limiting; next poll in %.0fs", rollout.id, exc.retry_after)

    def _plan(self, rollout: Rollout) -> ChangePlan | None:
        return verbs.PLANS.load(rollout.plan_json) if rollout.plan_json else None

    def _revertible(self, rollout: Rollout) -> bool:
        plan = self._plan(rollout)
        return plan is not None and plan.revertible

    def _later(self, rollout: Rollout, at: float) -> None:
        self.store.save_rollout(rollout.id, owner=self.owner, next_poll_at=at)

    # -- Slack -----------------------------------------------------------------------------------------

    def _save(self, rollout: Rollout, *rows: object, **values: object) -> bool:
        """Save this step of the rollout with what tells of it (`_telling`), in one transaction, while we
        hold its lease; False if another replica took it over (then that one tells)."""
        if not self.store.save_rollout(rollout.id, *rows, owner=self.owner, **values):
            return False
        if rows:
            self.outbox.wake()
        return True

    def _telling(
        self,
        rollout: Rollout,
        text: Mrkdwn,
        block_list: blocks.Blocks | None = None,
        *,
        event: str | None = None,
    ) -> list[object]:
        """A reply in the rollout's thread (and its audit event), for `_save` to store with the step."""
        reply = self.outbox.message(
            rollout.channel, text, block_list or [blocks.section(text)], thread=self._parent(rollout)
        )
        if event is None:
            return [reply]
        recorded = self.audit.event(
            event,
            rollout.requester,
            kind=rollout.kind,
            chain=ChainRef(rollout.chain_id, rollout.chain_name),
            env=rollout.env,
            summary=rollout.deployment_id,
            request_id=rollout.request_id or None,
            channel=rollout.channel,
        )
        return [reply, recorded]

    def _update_parent(
        self, rollout: Rollout, deployment: ChainDeployment | None, now: float, state_line: str
    ) -> None:
        self._last_parent_update[rollout.id] = now
        headline, parent_blocks = say.parent(
            rollout, deployment, now=now, state=state_line, types=self.instance_types()
        )
        self.outbox.update(self._parent(rollout), headline, parent_blocks)

    def _reply(
        self,
        rollout: Rollout,
        text: Mrkdwn,
        block_list: blocks.Blocks | None = None,
        *,
        progress: bool = False,
    ) -> None:
        # Progress lines still waiting for Slack merge into one reply instead of queueing stale ones.
        self.outbox.post(
            rollout.channel,
            text,
            block_list or [blocks.section(text)],
            thread=self._parent(rollout),
            merge=f"progress:{rollout.id}" if progress else None,
        )

    def _parent(self, rollout: Rollout) -> str:
        if rollout.parent_key:
            return rollout.parent_key
        # A rollout started before the outbox existed: its parent is known by its Slack ts.
        key = f"slack:{rollout.channel}:{rollout.parent_ts}"
        self.outbox.adopt(key, rollout.channel, rollout.parent_ts)
        return key
