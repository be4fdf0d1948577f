"""Builds one process's worth of chainops from its settings: the single Baseten client, the store,
the operations and the follower, shared by every listener."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry

from bot import metrics
from bot.baseten.client import BasetenClient
from bot.catalog import Catalog
from bot.config import Settings
from bot.follower import Follower, FollowerSettings
from bot.forms import Forms
from bot.gateway import Gateway
from bot.operations import Operations, Timing
from bot.planner import Planner
from bot.policy import Policy, load_policy
from bot.sealed import Seal
from bot.store import Store, connect
from bot.workpool import WorkPool


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

    def __deepcopy__(self, memo: dict[int, object]) -> Chainops:
        # Bolt copies the context for lazy listeners; the process's services are shared, never copied.
        return self

    def close(self) -> None:
        self.work.wait_idle(timeout=20)
        self.follower.stop()
        self.work.shutdown(wait=True, cancel_futures=True)
        self.baseten.close()
        self.store.engine.dispose()


def build(
    settings: Settings,
    *,
    gateway: Gateway,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    policy: Policy | None = None,
    work: WorkPool | None = None,
) -> Chainops:
    api_key = settings.baseten_api_key.get_secret_value() if settings.baseten_api_key else "simulator"
    baseten = BasetenClient(api_key, base_url=settings.baseten_api_url, transport=transport, clock=clock)
    store = Store(connect(settings.database_url))
    catalog = Catalog(baseten)
    planner = Planner(baseten, catalog)
    if policy is None:
        policy = load_policy(settings.chainops_policy, members=gateway.usergroup_members)
    operations = Operations(
        store=store,
        baseten=baseten,
        planner=planner,
        gateway=gateway,
        policy=policy,
        timing=Timing(
            confirmation_ttl=settings.chainops_confirmation_ttl,
            rollback_window=settings.chainops_rollback_window,
        ),
        audit_channel=settings.chainops_audit_channel,
        clock=clock,
    )
    follower = Follower(
        store=store,
        baseten=baseten,
        gateway=gateway,
        settings=FollowerSettings(
            poll_interval=settings.chainops_poll_interval,
            rollout_timeout=settings.chainops_rollout_timeout,
            lease_seconds=settings.chainops_lease_seconds,
            rollback_window=settings.chainops_rollback_window,
        ),
        on_tick=operations.expire_due,
        clock=clock,
    )
    work = work or WorkPool(settings.chainops_workers)
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
    operations.open_modal = forms.open
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
        metrics.registry_for(rollouts=store.following_rollouts),
    )
