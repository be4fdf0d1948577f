"""Reads each watched chain's audit log once per interval (one replica per chain, by lease) and tells
every watching channel about what was done outside chainops: one message per change, at most a handful
per chain and channel at once and then one summary, a promotion followed in its message's thread like
chainops' own. Without an audit log, `fallback` compares the watched environments instead (no who).

Everything one entry causes (history, each channel's message, the followed rollout, the note in an
overtaken rollout's thread) is built here and stored in one transaction, which keeps this module a
little over 300 lines: split, an entry's effects would be spread over modules that must agree on keys."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from bot.baseten.audit_log import AuditLogEntry, AuditLogEventType, AuditLogPosition
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenAuditLogUnavailable, BasetenError
from bot.changes.plans import ChainRef
from bot.governance.audit import AuditTrail
from bot.runtime.loops import LeasedJob, Leases
from bot.runtime.repeated import RepeatedFailure
from bot.slack import blocks
from bot.slack.markup import md
from bot.slack.outbox import Outbox
from bot.store import Store, StoreUnavailable
from bot.store.tables import Rollout, RolloutState, WatchedChain, WatchSubscription
from bot.watch import messages
from bot.watch.fallback import Fallback
from bot.watch.keys import announcement_key, message_key, watches

log = logging.getLogger(__name__)

HANDFUL = 5  # messages per chain and channel from one read; the rest is one summary
MAX_PAGES = 10  # audit-log pages read per chain per interval (the rest waits for the next read)
OVERTAKEN_WITHIN = 900.0  # a chainops rollout finished this recently can still be told who overtook it
# Changes that roll a deployment out to an environment: followed in their message's thread.
FOLLOWED = (AuditLogEventType.CHAIN_DEPLOYMENT_PROMOTED, AuditLogEventType.CHAINLET_INSTANCE_TYPE_CHANGED)


def reason_unavailable(exc: BasetenAuditLogUnavailable) -> str:
    if exc.missing:
        return "this Baseten has no audit log (404)"
    return "chainops' API key may not read the audit log (403)"


def _serving(live: dict[str, Any], deployment: str | None) -> str | None:
    """The environment whose live deployment this is (instance-type and autoscaling entries name the
    deployment, not the environment)."""
    return next((env for env, serves in live.items() if deployment and serves == deployment), None)


class Watcher:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        outbox: Outbox,
        api_key: str,
        interval: float,
        lease_seconds: float,
        owner: str,
        clock: Callable[[], float] = time.time,
        tick: float = 1.0,
        workers: int = 8,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.outbox = outbox
        self.api_key = api_key
        self.interval = interval
        self.lease_seconds = max(lease_seconds, interval)
        self.owner = owner
        self.clock = clock
        self.tick_seconds = tick
        self.audit = AuditTrail(store, clock)
        self._failure = RepeatedFailure(log, "watching a chain")
        self.fallback = Fallback(store=store, baseten=baseten, outbox=outbox, interval=interval, owner=owner)
        # Chains are read side by side: one slow chain (or a slow Baseten) holds up no other.
        self.job: LeasedJob[WatchedChain] = LeasedJob(
            "watching chains",
            interval=tick,
            claim=self._claim,
            key=lambda chain: chain.chain_id,
            work=self._poll_guarded,
            workers=workers,
            leases=Leases(
                release=lambda: store.watch.release(owner),
                # No other replica: a killed predecessor's leases need no wait.
                forget_stale=store.watch.release if store.single_process else None,
            ),
            next_due=store.watch.next_due,
            expected=(StoreUnavailable,),
            clock=clock,
            thread_name="chainops-watch",
        )

    # -- one pass (a periodic job on `bot/runtime/loops.py`, registered in `bot/bootstrap.py`) ------------

    def run_once(self, *, everything: bool = False) -> None:
        """One pass inline (tests, the console): read every chain that is due (or, `everything`, every
        chain) and not read by another replica, and wait for the reads."""
        for chain in self._claim(self.clock(), everything=everything):
            self.job.submit(chain)
        self.job.wait_idle(60.0)

    def _claim(self, now: float, *, everything: bool = False) -> list[WatchedChain]:
        return self.store.watch.claim_due(
            owner=self.owner,
            now=now,
            lease_seconds=self.lease_seconds,
            limit=500,
            next_poll_at=now + self.interval,
            due_by=float("inf") if everything else None,
        )

    def _poll_guarded(self, chain: WatchedChain) -> None:
        try:
            self.poll(chain)
        except StoreUnavailable as exc:
            self._failure.failed(exc)
        except Exception as exc:
            self._failure.failed(exc, expected=False)
        else:
            self._failure.succeeded()

    # -- one chain -----------------------------------------------------------------------------------

    def poll(self, chain: WatchedChain) -> None:
        subs = self.store.watch.of_chain(chain.chain_id)
        now = self.clock()
        if not subs:
            return
        if chain.fallback:
            # The one audit-log request of this interval: whether the log can be read again.
            if not self.fallback.log_is_back(chain, subs):
                self.fallback.compare(chain, subs, now)
            return
        position = AuditLogPosition.model_validate_json(chain.position_json or "{}")
        try:
            read = self.baseten.audit_log_after(chain.chain_id, position, max_pages=MAX_PAGES)
        except BasetenAuditLogUnavailable as exc:
            self.fallback.lost(chain, subs, reason_unavailable(exc), now)
            return
        except BasetenError as exc:
            log.warning("could not read the audit log of chain %s: %s", chain.chain_id, exc.message)
            return
        after = read.position.model_dump_json()
        if after == chain.position_json and not read.entries:
            return  # nothing new: the claim already scheduled the next read
        done = self.store.watch.handled(chain.chain_id, [e.id for e in read.entries])
        fresh = [e for e in read.entries if e.id not in done]
        live = json.loads(chain.snapshot_json or "{}")
        if fresh:
            self._announce(chain, subs, fresh, live)
        values: dict[str, Any] = {"position_json": after, "snapshot_json": json.dumps(live)}
        if read.has_more:
            values["next_poll_at"] = now  # more pages wait: read on at once
        self.store.watch.save(chain.chain_id, owner=self.owner, **values)
        self.outbox.wake()

    def _announce(
        self,
        chain: WatchedChain,
        subs: list[WatchSubscription],
        entries: list[AuditLogEntry],
        live: dict[str, Any],
    ) -> None:
        ours = self.store.watch.rollouts(chain.chain_id)
        own_deployments = {r.deployment_id for r in ours if r.request_id}
        # A deployment made by a promotion or an instance-type change in the same read is told once, with it.
        rolled_out = {e.chain_deployment_id for e in entries if e.event_type in FOLLOWED}
        followed: set[str | None] = set()
        shown: dict[str, int] = {}
        skipped: dict[str, int] = {}
        last: AuditLogEntry | None = None
        for entry in entries:
            last = entry
            at = entry.created.timestamp()
            if entry.actor.is_key(self.api_key) or entry.chain_deployment_id in own_deployments:
                # chainops' own change: its thread already tells the channel.
                self.store.watch.handle(chain.chain_id, entry.id, at, [])
                continue
            deployed = entry.event_type is AuditLogEventType.CHAIN_DEPLOYED
            if deployed and entry.chain_deployment_id in rolled_out:
                # `truss chains push --environment`: deployed and promoted, told once with the promotion.
                self.store.watch.handle(chain.chain_id, entry.id, at, [])
                continue
            pushed = entry.event_type is AuditLogEventType.CHAIN_DEPLOYMENT_PROMOTED and any(
                e.event_type is AuditLogEventType.CHAIN_DEPLOYED
                and e.chain_deployment_id == entry.chain_deployment_id
                for e in entries
            )
            env = entry.environment_name or self._environment_of(chain, entry.chain_deployment_id, live)
            rows: list[Any] = [self._history(chain, entry, pushed, env)]
            channels = list(dict.fromkeys(s.channel for s in subs if watches(s, env)))
            # Several chainlets' instance types in one change make one deployment: followed once.
            follow = entry.event_type in FOLLOWED and entry.chain_deployment_id not in followed
            followed.add(entry.chain_deployment_id)
            previous = self._previous(chain, entry, env, live) if follow else None
            for channel in channels:
                if shown.get(channel, 0) >= HANDFUL:
                    skipped[channel] = skipped.get(channel, 0) + 1
                    continue
                shown[channel] = shown.get(channel, 0) + 1
                rows += self._messages(chain, entry, channel, pushed, previous, env, follow=follow)
            rows += self._overtaken(chain, entry, ours, set(channels))
            self.store.watch.handle(chain.chain_id, entry.id, at, rows)
        if last is None:
            return
        for channel, count in skipped.items():
            text = messages.more_changes(count, ChainRef(chain.chain_id, chain.chain_name).word)
            self.store.outbox.add_once(
                self.outbox.message(
                    channel,
                    text,
                    [blocks.section(text)],
                    key=message_key("more", chain.chain_id, last.id, channel),
                )
            )

    def _history(self, chain: WatchedChain, entry: AuditLogEntry, pushed: bool, env: str | None) -> Any:
        summary = messages.what(entry, chain.chain_name, pushed=pushed, env=env)
        return self.audit.event(
            "outside",
            entry.actor.who[:32],
            chain=ChainRef(chain.chain_id, chain.chain_name),
            env=env or "",
            summary=summary + md(" ({})", messages.who(entry)),
        )

    def _messages(
        self,
        chain: WatchedChain,
        entry: AuditLogEntry,
        channel: str,
        pushed: bool,
        previous: str | None,
        env: str | None,
        *,
        follow: bool,
    ) -> list[Any]:
        key = announcement_key(chain.chain_id, entry.id, channel)
        headline = messages.headline(entry, chain.chain_name, pushed=pushed, env=env)
        rows: list[Any] = [
            self.outbox.message(
                channel,
                headline,
                messages.announcement(entry, chain.chain_name, pushed=pushed, env=env),
                key=key,
            )
        ]
        deployment = entry.chain_deployment_id
        if follow and env and deployment:
            now = self.clock()
            rows.append(
                Rollout(
                    id=uuid.uuid4().hex,
                    kind="promote",
                    request_id="",  # not chainops' request: nothing to settle, only to follow
                    state=RolloutState.FOLLOWING,
                    chain_id=chain.chain_id,
                    chain_name=chain.chain_name,
                    env=env,
                    deployment_id=deployment,
                    previous_deployment_id=previous if previous != deployment else None,
                    channel=channel,
                    parent_key=key,
                    requester=entry.actor.who[:32],
                    headline=headline,
                    started_at=min(now, entry.created.timestamp()),
                    next_poll_at=now,
                    last_ok_at=now,
                )
            )
        return rows

    def _environment_of(
        self, chain: WatchedChain, deployment: str | None, live: dict[str, Any]
    ) -> str | None:
        """The environment a deployment serves or is rolling out to (instance-type and autoscaling
        entries name the deployment, not the environment): from what was live, else from Baseten."""
        known = _serving(live, deployment)
        if known is not None or not deployment:
            return known
        for env in list(live):
            try:
                seen = self.baseten.get_environment(chain.chain_id, env)
            except BasetenError:
                continue
            if any(
                d is not None and d.id == deployment
                for d in (seen.current_deployment, seen.candidate_deployment)
            ):
                return env
        return None

    def _previous(
        self, chain: WatchedChain, entry: AuditLogEntry, env: str | None, live: dict[str, Any]
    ) -> str | None:
        """What the environment served before this rollout (for Roll back), and remember the new one."""
        deployment = entry.chain_deployment_id
        if not env or not deployment:
            return None
        previous = live.get(env)
        if not isinstance(previous, str) or previous == deployment:
            try:
                seen = self.baseten.get_environment(chain.chain_id, env)
            except BasetenError:
                seen = None
            if seen is not None and seen.candidate_deployment and seen.candidate_deployment.id == deployment:
                previous = seen.current_deployment.id if seen.current_deployment else None
        live[env] = deployment
        return previous if isinstance(previous, str) else None

    def _overtaken(
        self, chain: WatchedChain, entry: AuditLogEntry, ours: list[Rollout], channels: set[str]
    ) -> list[Any]:
        """A chainops rollout in that environment that this promotion took over is told who did it."""
        if entry.event_type is not AuditLogEventType.CHAIN_DEPLOYMENT_PROMOTED:
            return []
        at = entry.created.timestamp()
        rows: list[Any] = []
        for rollout in ours:
            recent = (
                rollout.state == RolloutState.FOLLOWING or (rollout.finished_at or 0) >= at - OVERTAKEN_WITHIN
            )
            if (
                rollout.request_id
                and rollout.env == entry.environment_name
                # A change that rolls out no deployment (autoscaling settings) is not taken over by one.
                and rollout.deployment_id
                and rollout.deployment_id != entry.chain_deployment_id
                and rollout.started_at <= at
                and recent
            ):
                link = announcement_key(chain.chain_id, entry.id, rollout.channel)
                text = messages.overtaken(entry)
                rows.append(
                    self.outbox.message(
                        rollout.channel,
                        text,
                        [blocks.section(text)],
                        key=message_key("overtaken", rollout.id, entry.id),
                        thread=rollout.parent_key,
                        link=link if rollout.channel in channels else None,
                    )
                )
        return rows
