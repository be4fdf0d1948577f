"""Builds one process's worth of chainops from its settings: the single Baseten client, the store,
the operations, and the periodic jobs (following rollouts, delivering the outbox, expiring confirmations)
on the process's one scheduler, shared by every listener."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.changes.follower import Follower, FollowerSettings, new_owner_id
from bot.changes.operations import Operations, Timing
from bot.changes.planner import Planner
from bot.config import Settings
from bot.governance.policy import Policy, load_policy
from bot.home.gather import Gatherer
from bot.home.publisher import HomePublisher
from bot.home.visibility import Visibility
from bot.http.health import Health, slack_token_check
from bot.http.replays import unless_replayed
from bot.runtime import metrics
from bot.runtime.loops import Loops
from bot.runtime.workpool import Priority, WorkPool
from bot.slack.forms import Forms
from bot.slack.gateway import Gateway, WebApiGateway
from bot.slack.invocation import Invocation, tell
from bot.slack.markup import md
from bot.slack.outbox import Outbox, OutboxSettings
from bot.slack.sealed import Seal
from bot.slack.sender import OutboxSender
from bot.store import Store, StoreUnavailable, connect
from bot.watch.poller import Watcher

log = logging.getLogger(__name__)

# Shares of the shutdown's seconds: acknowledged work runs until the last 28%, kept for telling people
# what did not finish; those tellings have until the last 12%, kept for stopping the background loops.
SHUTDOWN_RESERVE = 0.28
SHUTDOWN_LAST_WORDS = 0.12
EXPIRY = "expiring confirmations"
EXPIRY_EVERY = 0.5  # seconds: a preview past its time stops offering its buttons within a second
SLOW = ":hourglass_flowing_sand: Baseten is slow to answer; still trying…"
DROPPED = (
    ":warning: I'm restarting and did not get to this request; nothing was changed. "
    "Please run it again in a minute."
)
INTERRUPTED = md(
    ":warning: I'm restarting and could not finish this request. "
    "Check `/chain status` in a minute before trying again."
)


@dataclass
class Chainops:
    settings: Settings
    store: Store
    baseten: BasetenClient
    catalog: Catalog
    planner: Planner
    gateway: Gateway
    policy: Policy
    operations: Operations
    follower: Follower
    forms: Forms
    work: WorkPool  # runs everything after the ack; Bolt's lazy listeners use it too
    metrics: CollectorRegistry  # what /metrics serves
    outbox: Outbox  # every channel post and update goes through it
    sender: OutboxSender  # delivers the outbox to Slack
    health: Health  # what /healthz reports
    home: HomePublisher  # every person's App Home
    watcher: Watcher  # reads watched chains' audit logs
    loops: Loops  # runs the periodic jobs: following rollouts, the outbox, expiry, App Homes, watching
    _closed: bool = field(default=False, init=False)
    _policy_check: threading.Thread | None = field(default=None, init=False)

    def __deepcopy__(self, memo: dict[int, object]) -> Chainops:
        # Bolt copies the context for lazy listeners; the process's services are shared, never copied.
        return self

    def start(self) -> None:
        """Start the background threads: the health checks, the periodic jobs (the rollout follower,
        Slack delivery, expiry), and a look at whether the policy's environments exist (in the
        background: an unreachable Baseten must not hold up start)."""
        self.health.start()
        self.loops.start()
        self._policy_check = threading.Thread(
            target=check_policy_environments, args=(self.policy, self.baseten), daemon=True
        )
        self._policy_check.start()

    def follow_once(self) -> None:
        """One pass of expiry and of the follower, inline, with the polls it started (tests, benchmarks)."""
        self.loops.job(EXPIRY).run()
        self.follower.run_once()

    def policy_checked(self, timeout: float) -> None:
        """Wait (at most `timeout`) for the start-up look at the policy's environments to be done."""
        if self._policy_check is not None:
            self._policy_check.join(timeout)

    def after_ack(self, priority: Priority, inv: Invocation, fn: Callable[..., Any], /, *args: Any) -> None:
        """Run acknowledged work on the pool. Its person hears once if it takes a while, and is told to
        retry if the process stops before it is done."""
        self.work.run(
            priority,
            unless_replayed(fn),
            *args,
            on_slow=partial(tell, self.gateway, inv, SLOW),
            on_abandon=partial(self._abandoned, inv, priority),
        )

    def answer_at_once(self, inv: Invocation, fn: Callable[..., Any], /, *args: Any) -> None:
        """Run acknowledged work that never calls Baseten (help, usage errors, opening a form) on the lane
        that never waits for Baseten, so it is not queued behind reads waiting for a slow Baseten."""
        self.work.run_on_slack_lane(
            unless_replayed(fn), *args, on_abandon=partial(self._abandoned, inv, Priority.READ)
        )

    def _abandoned(self, inv: Invocation, priority: Priority, started: bool) -> None:
        # A read that never finished changed nothing; a change under way may have reached Baseten.
        tell(self.gateway, inv, INTERRUPTED if started and priority is not Priority.READ else DROPPED)

    def close(self, *, started: float | None = None) -> None:
        """Stop within CHAINOPS_SHUTDOWN_SECONDS of `started` (monotonic; now by default): acknowledged
        work runs while time allows, then whoever is still waiting is told to retry."""
        if self._closed:
            return
        self._closed = True
        budget = self.settings.chainops_shutdown_seconds
        deadline = (time.monotonic() if started is None else started) + budget
        drained = self.work.drain(
            finish_by=deadline - budget * SHUTDOWN_RESERVE,
            give_up_by=deadline - budget * SHUTDOWN_LAST_WORDS,
        )
        if drained.finished or drained.told_to_retry or drained.interrupted:
            log.info(
                "shutdown: %d requests finished, %d told to retry (%d of them under way) in %.1f s",
                drained.finished,
                drained.told_to_retry + drained.interrupted,
                drained.interrupted,
                time.monotonic() - (deadline - budget),
            )
        # Polls under way finish and rollouts are handed back; what is still waiting for Slack stays in
        # the outbox, and the next process delivers it.
        self.loops.stop(timeout=max(0.5, deadline - 1.0 - time.monotonic()))
        self.health.stop()
        if not drained.interrupted:  # interrupted work may still be talking to Baseten until the exit
            self.baseten.close()
        self.store.engine.dispose()


def check_policy_environments(policy: Policy, baseten: BasetenClient) -> None:
    """Warn about each environment the policy names that no chain has: its rules govern nothing, which
    is most likely a typo (`prod` for `production`)."""
    named = set(policy.environments)
    if not named:
        return
    try:
        for chain in baseten.list_chains():
            named -= set(baseten.list_environment_names(chain.id))
            if not named:
                return
    except BasetenError as exc:
        log.warning("could not check the environments CHAINOPS_POLICY names against Baseten: %s", exc.message)
        return
    except RuntimeError:  # the Baseten client was closed: the process stopped before Baseten answered
        return
    for env in sorted(named):
        log.warning("CHAINOPS_POLICY names environment %r, which no chain in Baseten has", env)


def build(
    settings: Settings,
    *,
    gateway: Gateway,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    policy: Policy | None = None,
    work: WorkPool | None = None,
    delivery: OutboxSettings | None = None,
) -> Chainops:
    api_key = settings.baseten_api_key.get_secret_value() if settings.baseten_api_key else "simulator"
    baseten = BasetenClient(api_key, base_url=settings.baseten_api_url, transport=transport, clock=clock)
    store = Store(connect(settings.database_url))
    owner = new_owner_id()
    sender = OutboxSender(
        store.outbox,
        gateway,
        delivery
        or OutboxSettings(pace=settings.chainops_slack_pace, give_up=settings.chainops_outbox_give_up),
        owner=owner,
        single_process=store.single_process,
    )
    outbox = Outbox(store.outbox, sender=sender)
    catalog = Catalog(baseten)
    planner = Planner(baseten, catalog)
    if policy is None:
        policy = load_policy(settings.chainops_policy, members=gateway.usergroup_members)
    work = work or WorkPool(settings.chainops_workers)
    operations = Operations(
        store=store,
        baseten=baseten,
        planner=planner,
        gateway=gateway,
        outbox=outbox,
        policy=policy,
        timing=Timing(
            confirmation_ttl=settings.chainops_confirmation_ttl,
            rollback_window=settings.chainops_rollback_window,
        ),
        audit_channel=settings.chainops_audit_channel,
        clock=clock,
        owner=owner,
        lease_seconds=settings.chainops_lease_seconds,
        # What a confirmed change says privately goes out beside the next change, never in its way.
        later=work.run_on_slack_lane,
        watch_interval=settings.chainops_watch_interval,
    )
    watcher = Watcher(
        store=store,
        baseten=baseten,
        outbox=outbox,
        api_key=api_key,
        interval=settings.chainops_watch_interval,
        lease_seconds=settings.chainops_lease_seconds,
        owner=owner,
        clock=clock,
    )
    follower = Follower(
        store=store,
        baseten=baseten,
        outbox=outbox,
        settings=FollowerSettings(
            poll_interval=settings.chainops_poll_interval,
            rollout_timeout=settings.chainops_rollout_timeout,
            lease_seconds=settings.chainops_lease_seconds,
            rollback_window=settings.chainops_rollback_window,
        ),
        writes=operations.execution,
        clock=clock,
        owner=owner,
        instance_types=catalog.instance_types_by_name,
    )
    # Socket Mode has no signing secret; the bot token is the secret every process of the app has there.
    seal = Seal.from_secrets(
        settings.slack_signing_secret.get_secret_value(), settings.slack_bot_token.get_secret_value()
    )
    forms = Forms(
        baseten=baseten,
        catalog=catalog,
        planner=planner,
        gateway=gateway,
        operations=operations,
        work=work,
        seal=seal,
    )
    visibility = Visibility(gateway, clock=clock)
    home = HomePublisher(
        homes=store.homes,
        gatherer=Gatherer(
            store=store,
            baseten=baseten,
            catalog=catalog,
            gateway=gateway,
            policy=policy,
            visibility=visibility,
            clock=clock,
        ),
        gateway=gateway,
        visibility=visibility,
        owner=owner,
        clock=clock,
    )
    loops = Loops()
    loops.add(follower.job)
    loops.add(sender.job)
    # Expiry and homes read the database the follower reads as often: when it is gone, the follower
    # says so.
    loops.every(
        EXPIRY,
        EXPIRY_EVERY,
        operations.expire_due,
        expected=(StoreUnavailable,),
        expected_level=logging.WARNING,
    )
    loops.add(watcher.job)
    loops.every(
        "keeping App Homes fresh",
        home.settings.tick,
        home.run_once,
        expected=(StoreUnavailable,),
        expected_level=logging.WARNING,
    )
    return Chainops(
        settings,
        store,
        baseten,
        catalog,
        planner,
        gateway,
        policy,
        operations,
        follower,
        forms,
        work,
        metrics.registry_for(rollouts=store.following_rollouts, outbox=store.outbox_backlog),
        outbox,
        sender,
        Health(
            store,
            owner,
            slack_token=slack_token_check(gateway.client) if isinstance(gateway, WebApiGateway) else None,
        ),
        home,
        watcher,
        loops,
    )
