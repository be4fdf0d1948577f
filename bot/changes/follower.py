"""Follows every active rollout from the database: one scheduler thread, a small poll pool, and a lease per
rollout so that of several replicas exactly one follows it, and another takes over when one dies."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenNotFound, BasetenRateLimited
from bot.baseten.models import ChainDeployment, DeploymentStatus, LogLevel, Phase
from bot.changes.plans import ChainRef
from bot.governance.audit import AuditTrail
from bot.runtime import logs, metrics
from bot.runtime.repeated import RepeatedFailure
from bot.runtime.workpool import Lane
from bot.slack import blocks, markup
from bot.slack.durations import duration
from bot.slack.markup import Mrkdwn, as_mrkdwn, md
from bot.slack.outbox import Outbox
from bot.store import (
    Rollout,
    RolloutState,
    Store,
    StoreUnavailable,
    WriteState,
    chainlet_statuses_json,
)

log = logging.getLogger(__name__)

MAX_BUILD_INTERVAL = 60.0  # a long build is still checked every minute
UNREACHABLE_AFTER = 120.0
RESOLVE_WINDOW = 120.0  # an unanswered write that shows no change this long after it was sent was not made  # say so in the thread once Baseten has been unreachable this long
PARENT_REFRESH = 60.0  # refresh the elapsed time on the parent message at least this often
LOG_LINES = 5
FAILED_NAMED = 10  # failed chainlets named in the report; the rest are counted
FAILED_WITH_LOGS = 5  # failed chainlets whose last error lines are shown
LOG_SCAN = 200  # newest lines read to find the last errors among them
LOG_SKEW_MS = 60_000  # start the log window a minute early, in case Baseten's clock is behind ours
# Lines at these levels are not errors; lines without a level (often the exception that ended the
# process) and levels Baseten adds later are shown.
QUIET_LEVELS = frozenset({LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARNING})


@dataclass(frozen=True)
class FollowerSettings:
    poll_interval: float = 5.0
    rollout_timeout: float = 7200.0
    lease_seconds: float = 30.0
    workers: int = 8
    tick: float = 0.5
    rollback_window: float = 3600.0


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
        on_tick: Callable[[], None] | None = None,
        settle: Callable[[Rollout, bool], None] | None = None,
        writing: Callable[[str], bool] | None = None,
        resume: Callable[[Rollout], None] | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        instance_types: Callable[[], blocks.Hardware] = dict,
    ) -> None:
        self.store = store
        self.instance_types = instance_types  # to show chainlets' instance types by id
        self.baseten = baseten
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.owner = owner or new_owner_id()
        self._on_tick = on_tick
        self._settle = settle  # an unanswered write resolved: made (True) or not (False)
        # A change claimed but not sent: whether this process is sending it now, and how to send it
        # when nobody is (its process died, or its database went away, between the claim and the write).
        self._writing = writing or (lambda _rollout_id: False)
        self._resume = resume
        self.audit = AuditTrail(store, clock)
        # Daemon threads: a poll stuck on a slow Baseten must not hold the process past its shutdown.
        self._pool = Lane(settings.workers, "chainops-poll")
        self._tick_failure = RepeatedFailure(log, "following rollouts")
        self._poll_failure = RepeatedFailure(log, "polling a rollout")
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_parent_update: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.store.single_process:
            # On SQLite no other replica exists: leases left by this bot's previous life (killed without
            # a chance to hand them back) need not be waited out.
            self.store.release_leases()
        self._thread = threading.Thread(target=self._run, name="chainops-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish polls under way (within `timeout`) and hand our rollouts back, so another replica or
        the next start resumes them at once. A poll still running then cannot save: its lease is gone."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.close()
        self._pool.take_back()
        self._pool.wait_idle(deadline)
        try:
            self.store.release_leases(self.owner)
        except StoreUnavailable as exc:
            log.warning("could not hand rollouts back (%s); they resume when their lease lapses", exc)

    def wait_polls(self, timeout: float = 30.0) -> None:
        """Wait until no poll is under way (tests, the console and benchmarks use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    return
            time.sleep(0.01)

    def run_once(self) -> None:
        """One scheduling pass and the polls it started."""
        self.tick()
        self.wait_polls()

    def busy(self) -> bool:
        return bool(self.store.rollouts(RolloutState.FOLLOWING))

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.settings.tick
            try:
                self.tick()
                due = self.store.next_poll_due()
                if due is not None:
                    # Sleep until the next poll is due (but wake at least every tick for new rollouts).
                    wait = min(wait, max(0.01, due - self.clock()))
            except StoreUnavailable as exc:
                self._tick_failure.failed(exc)
            except Exception as exc:
                self._tick_failure.failed(exc, expected=False)
            else:
                self._tick_failure.succeeded()
            self._stop.wait(wait)

    def tick(self) -> None:
        now = self.clock()
        if self._on_tick is not None:
            self._on_tick()
        self.store.renew_leases(owner=self.owner, now=now, lease_seconds=self.settings.lease_seconds)
        for rollout in self.store.claim_due_rollouts(
            owner=self.owner,
            now=now,
            lease_seconds=self.settings.lease_seconds,
            limit=self.settings.workers * 64,
        ):
            with self._lock:
                if rollout.id in self._in_flight:
                    continue
                self._in_flight.add(rollout.id)
            self._pool.submit(self._poll_guarded, rollout)

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
                self.poll(rollout)
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
        finally:
            with self._lock:
                self._in_flight.discard(claimed.id)

    # -- one poll --------------------------------------------------------------------------------------

    def poll(self, rollout: Rollout) -> None:
        now = self.clock()
        if now - rollout.started_at > self.settings.rollout_timeout:
            self._give_up(rollout, now)
            return
        if self._writing(rollout.id):
            # Its write is under way in this process: whatever it answers is recorded by the writer.
            self.store.save_rollout(
                rollout.id, owner=self.owner, next_poll_at=now + self.settings.poll_interval
            )
            return
        try:
            if rollout.write_state == WriteState.INTENT:
                if self._resume is not None:
                    self._resume(rollout)
                return
            if not rollout.deployment_id:
                resolved = self._resolve(rollout, now)
                if resolved is None:
                    return
                rollout = resolved
            deployment, serving, superseded_by = self._observe(rollout)
        except BasetenRateLimited as exc:
            self._rate_limited(rollout, exc)
            return
        except BasetenError as exc:
            self._unreachable(rollout, now, exc)
            return
        if rollout.unreachable_reported:
            self._reply(rollout, ":electric_plug: Baseten is answering again; still following.")
        lines = self._changes(rollout, deployment)
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
        # Only the lease holder reports: if another replica took over meanwhile, it reports instead.
        if not self.store.save_rollout(rollout.id, owner=self.owner, **values):
            return
        finished = phase is not Phase.IN_PROGRESS
        if lines or finished or now - self._last_parent_update.get(rollout.id, 0.0) > PARENT_REFRESH:
            self._update_parent(rollout, deployment, now, _state_line(phase))
        if finished:
            self._last_parent_update.pop(rollout.id, None)
        if lines and not finished:
            where = md("changes {}", blocks.see_status(_typed(rollout), rollout.env))
            self._reply(rollout, blocks.listing(lines, more=where), progress=True)
        if phase is Phase.LIVE and superseded_by is not None:
            self._superseded(rollout, deployment, superseded_by)
        elif phase is Phase.LIVE:
            self._succeeded(rollout, deployment, now)
        elif finished:
            self._failed(rollout, deployment)

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

    @staticmethod
    def _preview_note(rollout: Rollout) -> Mrkdwn:
        """What the final message adds when the preview could not be re-checked before the change."""
        if rollout.preview_live is not None:
            return md(
                "\n:warning: {}/*{}* had changed since the preview: {} was live when the change was made, not {}.",
                rollout.chain_name,
                rollout.env,
                _deployment_or_none(rollout.previous_deployment_id),
                _deployment_or_none(rollout.preview_live),
            )
        if rollout.preview_unchecked:
            return md(
                "\n:warning: I could not check whether {}/*{}* had changed since the preview.",
                rollout.chain_name,
                rollout.env,
            )
        return Mrkdwn("")

    def _resolve(self, rollout: Rollout, now: float) -> Rollout | None:
        """The write was sent but its answer never came (a timeout, or the bot stopped): find what the
        environment is rolling out, and follow it. The write is never sent again."""
        env = self.baseten.get_environment(rollout.chain_id, rollout.env)
        candidate = env.candidate_deployment or env.current_deployment
        changed = candidate is not None and candidate.id != rollout.previous_deployment_id
        if changed and candidate is not None:
            if not self.store.save_rollout(
                rollout.id, owner=self.owner, deployment_id=candidate.id, write_state=WriteState.ANSWERED
            ):
                return None
            self._reply(rollout, md("Baseten made the change; following deployment `{}`.", candidate.id))
            if self._settle is not None:
                self._settle(rollout, True)
            return self.store.rollout(rollout.id)
        if now - rollout.started_at < RESOLVE_WINDOW:
            # Baseten may still be working on the write: look again before concluding anything.
            self.store.save_rollout(
                rollout.id, owner=self.owner, next_poll_at=now + self.settings.poll_interval
            )
            return None
        if not self.store.save_rollout(
            rollout.id,
            owner=self.owner,
            state=RolloutState.FAILED,
            finished_at=now,
            lease_owner=None,
            write_state=WriteState.ANSWERED,
        ):
            return None
        text = md(
            ":warning: {} Baseten's answer to this change never arrived, and {}/*{}* shows no new "
            "deployment: the change was not made. Check `/chain status {} {}` and run the command again "
            "if needed.",
            markup.person(rollout.requester),
            rollout.chain_name,
            rollout.env,
            _typed(rollout),
            rollout.env,
        )
        self._finished("not_made")
        self._reply(rollout, text)
        self._update_parent(rollout, None, now, "not made")
        if self._settle is not None:
            self._settle(rollout, False)
        return None

    def _interval(self, rollout: Rollout, deployment: ChainDeployment, now: float) -> float:
        base = self.settings.poll_interval
        if deployment.status is DeploymentStatus.BUILDING:
            # Builds take minutes to an hour: poll less often the longer one has been running.
            return min(max(base, (now - rollout.started_at) / 10), max(base, MAX_BUILD_INTERVAL))
        return base

    @staticmethod
    def _changes(rollout: Rollout, deployment: ChainDeployment) -> list[Mrkdwn]:
        """One line per deployment or chainlet status that changed since the last poll."""
        lines: list[Mrkdwn] = []
        if rollout.last_status != deployment.status.value:
            before = f"{rollout.last_status} → " if rollout.last_status else ""
            lines.append(
                md(
                    "{} Deployment `{}`: {}*{}*",
                    blocks.emoji(deployment.status),
                    deployment.id,
                    before,
                    deployment.status.value,
                )
            )
        seen: dict[str, str] = json.loads(rollout.last_chainlets_json or "{}")
        for chainlet in deployment.chainlets:
            previous = seen.get(chainlet.name)
            if previous != chainlet.status.value:
                before = f"{previous} → " if previous else ""
                lines.append(
                    md(
                        "{} {}: {}*{}*",
                        blocks.emoji(chainlet.status),
                        chainlet.name,
                        before,
                        chainlet.status.value,
                    )
                )
        return lines

    # -- outcomes --------------------------------------------------------------------------------------

    def _succeeded(self, rollout: Rollout, deployment: ChainDeployment, now: float) -> None:
        took = duration(now - rollout.started_at)
        text = md(
            ":large_green_circle: `{}` is live in {}/*{}* after {}.",
            deployment.id,
            rollout.chain_name,
            rollout.env,
            took,
        )
        text += self._preview_note(rollout)
        extra: blocks.Blocks = []
        previous = rollout.previous_deployment_id
        if previous and previous != deployment.id:
            fate, can_roll_back = self._previous_fate(rollout, previous)
            text += md("\nPrevious deployment `{}` {}.", previous, fate)
            if rollout.kind == "promote":
                if can_roll_back:
                    window = duration(self.settings.rollback_window)
                    extra.append(
                        blocks.context(
                            md("Roll back to `{}` with one click for the next {}.", previous, window)
                        )
                    )
                    extra.append(
                        blocks.rollback_button(rollout.id, previous, f"{rollout.chain_name}/{rollout.env}")
                    )
                else:
                    extra.append(
                        blocks.context(
                            md(
                                "No rollback offered: `{}` {}, and chains have no reactivation endpoint.",
                                previous,
                                fate,
                            )
                        )
                    )
        # Before any rollback button, which stays the message's last line.
        extra.insert(
            0, blocks.context(blocks.in_baseten(rollout.chain_id, f"{rollout.chain_name} in Baseten"))
        )
        self._reply(rollout, text, [blocks.section(text), *extra])
        self._audit(rollout, "succeeded")
        self._finished("succeeded")

    def _superseded(self, rollout: Rollout, deployment: ChainDeployment, serving: str) -> None:
        text = md(
            ":warning: {} `{}` is {}, but {}/*{}* now serves `{}`: another change replaced it meanwhile.",
            markup.person(rollout.requester),
            deployment.id,
            deployment.status.value,
            rollout.chain_name,
            rollout.env,
            serving,
        )
        text += self._preview_note(rollout)
        self._reply(rollout, text)
        self._audit(rollout, "rollout_failed")
        self._finished("superseded")

    def _previous_fate(self, rollout: Rollout, previous: str) -> tuple[str, bool]:
        try:
            old = self.baseten.get_deployment(rollout.chain_id, previous)
        except BasetenNotFound:
            return "was deleted", False
        except BasetenError:
            return "could not be checked", False
        if old.status.phase is Phase.OFF:
            return f"is {old.status.value.lower()} (deactivated)", False
        if (
            old.status is DeploymentStatus.SCALED_TO_ZERO
            or old.status is DeploymentStatus.ACTIVE
            and old.chainlets
            and all(c.active_replica_count == 0 for c in old.chainlets)
        ):
            return "was scaled down to zero", True
        return f"is still running ({old.status.value})", True

    def _failed(self, rollout: Rollout, deployment: ChainDeployment) -> None:
        failing = [c for c in deployment.chainlets if c.status.phase in (Phase.FAILED, Phase.OFF)]
        named = [md("*{}* ({})", c.name, c.status.value) for c in failing[:FAILED_NAMED]]
        names = Mrkdwn(", ").join(named) or md("the deployment ({})", deployment.status.value)
        if len(failing) > FAILED_NAMED:
            names += md(" …and {} more", len(failing) - FAILED_NAMED)
        text = md(
            ":red_circle: {} the rollout of `{}` to {}/*{}* failed: {}.",
            markup.person(rollout.requester),
            deployment.id,
            rollout.chain_name,
            rollout.env,
            names,
        )
        text += self._preview_note(rollout)
        section_blocks: blocks.Blocks = [blocks.section(text)]
        for chainlet in failing[:FAILED_WITH_LOGS]:
            errors = self._error_lines(rollout, deployment, chainlet.id)
            section_blocks.append(blocks.section(md("*{}* last errors:\n```{}```", chainlet.name, errors)))
        logs_in_baseten = blocks.in_baseten(rollout.chain_id, "Baseten")
        if len(failing) > FAILED_WITH_LOGS:
            section_blocks.append(
                blocks.context(
                    md(
                        "…and {} more failed chainlets; their logs are in {}.",
                        len(failing) - FAILED_WITH_LOGS,
                        logs_in_baseten,
                    )
                )
            )
        else:
            section_blocks.append(blocks.context(md("Full logs are in {}.", logs_in_baseten)))
        if rollout.previous_deployment_id:
            section_blocks.append(
                blocks.context(
                    md(
                        "`{}` keeps serving {} until a promotion succeeds.",
                        rollout.previous_deployment_id,
                        rollout.env,
                    )
                )
            )
        self._reply(rollout, text, section_blocks)
        self._audit(rollout, "rollout_failed")
        self._finished("failed")

    def _error_lines(self, rollout: Rollout, deployment: ChainDeployment, chainlet_id: str) -> str:
        """The last error lines since the rollout started, unleveled ones included, as plain text (the
        report's template escapes them for Slack).

        No `min_level` is sent: Baseten would then drop every line without a level."""
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
            return f"(logs unavailable: {exc.message})"
        lines = [
            e.message.rstrip()[:200].replace("```", "'''")
            for e in entries
            if e.level not in QUIET_LEVELS and e.message.strip()
        ][-LOG_LINES:]
        while len("\n".join(lines)) > 1500:
            lines.pop(0)
        return "\n".join(lines) or "(no error lines since the rollout started)"

    def _give_up(self, rollout: Rollout, now: float) -> None:
        if not self.store.save_rollout(
            rollout.id, owner=self.owner, state=RolloutState.TIMED_OUT, finished_at=now, lease_owner=None
        ):
            return
        took = duration(now - rollout.started_at)
        text = md(
            ":hourglass: {} I stopped following `{}` after {} without a final status. "
            "Check it with `/chain status {} {}`.",
            markup.person(rollout.requester),
            rollout.deployment_id,
            took,
            _typed(rollout),
            rollout.env,
        )
        self._reply(rollout, text)
        self._update_parent(rollout, None, now, "stopped following (timeout)")
        self._audit(rollout, "timed_out")
        self._finished("timed_out")

    def _unreachable(self, rollout: Rollout, now: float, exc: BasetenError) -> None:
        failures = rollout.failures + 1
        backoff = min(self.settings.poll_interval * 2 ** min(failures, 5), MAX_BUILD_INTERVAL)
        report = now - rollout.last_ok_at > UNREACHABLE_AFTER and not rollout.unreachable_reported
        saved = self.store.save_rollout(
            rollout.id,
            owner=self.owner,
            failures=failures,
            next_poll_at=now + backoff,
            unreachable_reported=rollout.unreachable_reported or report,
        )
        log.warning("polling rollout %s failed (%s); retry in %.0fs", rollout.id, exc.message, backoff)
        if saved and report:
            self._reply(
                rollout,
                md(
                    ":electric_plug: Baseten has not answered for {} ({}). I keep trying.",
                    duration(now - rollout.last_ok_at),
                    exc.message,
                ),
            )

    def _rate_limited(self, rollout: Rollout, exc: BasetenRateLimited) -> None:
        """Baseten refuses every request until its window ends: look again only after it."""
        now = self.clock()
        self.store.save_rollout(rollout.id, owner=self.owner, next_poll_at=now + exc.retry_after + 0.01)
        log.info("rollout %s: Baseten is rate limiting; next poll in %.0fs", rollout.id, exc.retry_after)

    # -- Slack -----------------------------------------------------------------------------------------

    def _update_parent(
        self, rollout: Rollout, deployment: ChainDeployment | None, now: float, state_line: str
    ) -> None:
        self._last_parent_update[rollout.id] = now
        # The headline was built as markup when the rollout started, and stored as it was sent.
        headline = Mrkdwn(rollout.headline)
        self.outbox.update(
            self._parent(rollout),
            headline,
            blocks.rollout_parent(
                headline,
                deployment,
                seconds=now - rollout.started_at,
                state_line=state_line,
                where=(_typed(rollout), rollout.env),
                chain_id=rollout.chain_id,
                types=self.instance_types(),
            ),
        )

    def _reply(
        self, rollout: Rollout, text: str, block_list: blocks.Blocks | None = None, *, progress: bool = False
    ) -> None:
        text = as_mrkdwn(text)
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

    @staticmethod
    def _finished(outcome: str) -> None:
        metrics.rollout_finished(outcome)
        log.info("rollout finished: %s", outcome)

    def _audit(self, rollout: Rollout, event: str) -> None:
        self.audit.record(
            event,
            rollout.requester,
            kind=rollout.kind,
            chain=ChainRef(rollout.chain_id, rollout.chain_name),
            env=rollout.env,
            summary=rollout.deployment_id,
            request_id=rollout.request_id or None,
            channel=rollout.channel,
        )


def _typed(rollout: Rollout) -> str:
    """The rollout's chain as a person types it in a suggested command (a name, or the id)."""
    return ChainRef(rollout.chain_id, rollout.chain_name).word


def _state_line(phase: Phase) -> str:
    return {
        Phase.IN_PROGRESS: "rolling out",
        Phase.LIVE: "live",
        Phase.FAILED: "failed",
        Phase.OFF: "stopped",
    }[phase]


def _deployment_or_none(deployment_id: str | None) -> Mrkdwn:
    return md("`{}`", deployment_id) if deployment_id else Mrkdwn("nothing")
