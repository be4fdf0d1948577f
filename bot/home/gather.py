"""Fills one person's home from the store and Baseten, showing only what they may see: an approval,
a rollout or a change from a channel only if the channel is public or they are in it.

Runs off Slack's request thread (after the ack, or on the home refresher's own thread); Baseten is
read with a short budget per environment, so a slow Baseten makes a home sparse, never late for long."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import ChainEnvironment
from bot.changes.plans import ChainRef
from bot.commands import registry as verbs
from bot.governance.audit import AuditTrail, Change
from bot.governance.policy import Policy
from bot.home.content import ChainLines, Decision, EnvLine, HomeContent, Moving, Waiting
from bot.home.visibility import Visibility
from bot.slack.gateway import Gateway
from bot.store import AuditEvent, Confirmation, Rollout, Store

log = logging.getLogger(__name__)

CHAINS_SINCE = 7 * 86400.0  # a chain the person changed this recently is one of "your chains"
CHAINS_READ = 4  # chains whose environments are read from Baseten for one home
ENVS_READ = 4  # environments read per chain
BASETEN_BUDGET = 3.0  # seconds one environment may take to read
RECENT = 6  # history entries shown
WAITING_READ = 100  # pending requests looked at
MOVING_READ = 100  # followed rollouts looked at
CHAIN_TTL = 30.0  # seconds a chain's environments, read for one home, serve the others


class Gatherer:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        catalog: Catalog,
        gateway: Gateway,
        policy: Policy,
        visibility: Visibility,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.catalog = catalog
        self.gateway = gateway
        self.policy = policy
        self.visibility = visibility
        self.clock = clock
        self.audit = AuditTrail(store, clock)
        self._links: dict[str, str] = {}  # rollout id -> its thread's permalink (it never changes)
        self._links_lock = threading.Lock()
        self._chains: dict[str, tuple[float, ChainLines]] = {}  # chain id -> (read at, what it showed)

    def gather(self, person: str, *, notice: str | None = None, fresh: bool = False) -> HomeContent:
        """`fresh`: read the person's chains from Baseten now (they opened their home)."""
        now = self.clock()
        content = HomeContent(user=person, now=now, notice=notice)
        content.waiting = self.waiting(person, now)
        content.moving = self.moving(person)
        content.recent, content.more_recent = self.recent(person)
        chains = self.chains_of(person, now)
        content.chains = [
            self.chain_lines(chain_id, name, channel=self._channel_for(person, chain_id), fresh=fresh)
            for chain_id, name in chains[:CHAINS_READ]
        ]
        content.more_chains = max(0, len(chains) - CHAINS_READ)
        return content

    # -- waiting on you ---------------------------------------------------------------------------------

    def waiting(self, person: str, now: float) -> list[Decision]:
        found: list[Decision] = []
        for c in self.store.homes.pending_confirmations(now=now, limit=WAITING_READ):
            waiting = self._waiting(person, c)
            if waiting is None:
                continue
            try:
                summary = verbs.PLANS.load(c.plan_json).describe()
            except ValueError:  # a plan this version cannot read: the channel still shows it
                continue
            found.append(Decision(c.id, waiting, summary, c.requester, c.channel, c.expires_at))
        # Decisions asked of the person first, then their own, each soonest to expire first.
        return sorted(found, key=lambda d: (d.waiting is not Waiting.APPROVE, d.expires_at))

    def _waiting(self, person: str, c: Confirmation) -> Waiting | None:
        if c.requester == person:
            return Waiting.APPROVAL if c.needs_approval else Waiting.CONFIRM
        if not c.needs_approval or not self.policy.may_approve(person, c.env):
            return None  # never the requester's own; a private preview is only the requester's
        return Waiting.APPROVE if self.visibility.may_see(person, c.channel) else None

    # -- moving now -------------------------------------------------------------------------------------

    def moving(self, person: str) -> list[Moving]:
        found = []
        for r in self.store.homes.following(limit=MOVING_READ):
            if r.requester != person and not self.visibility.may_see(person, r.channel):
                continue
            found.append(
                Moving(
                    chain_name=r.chain_name,
                    env=r.env,
                    deployment_id=r.deployment_id,
                    status=r.last_status or "starting",
                    started_at=r.started_at,
                    requester=r.requester,
                    thread=self._thread_of(r) if self.visibility.may_see(person, r.channel) else None,
                )
            )
        return found

    def _thread_of(self, rollout: Rollout) -> str | None:
        with self._links_lock:
            if rollout.id in self._links:
                return self._links[rollout.id]
        ts = rollout.parent_ts or None
        if ts is None and rollout.parent_key:
            parent = self.store.outbox.message(rollout.parent_key)
            ts = parent.ts if parent is not None else None
        if ts is None:
            return None  # not posted yet: linked on a later publish
        url = self.gateway.permalink(rollout.channel, ts)
        if url:
            with self._links_lock:
                self._links[rollout.id] = url
        return url

    # -- recent changes ---------------------------------------------------------------------------------

    def recent(self, person: str) -> tuple[list[Change], bool]:
        def shown(event: AuditEvent) -> bool:
            # Locks taken before their channel was recorded: shown to whoever took them.
            return event.actor == person or self.visibility.may_see(person, event.channel)

        found = self.audit.changes(chain=None, env=None, limit=RECENT + 1, shown=shown)
        return found[:RECENT], len(found) > RECENT

    # -- your chains ------------------------------------------------------------------------------------

    def chains_of(self, person: str, now: float) -> list[tuple[str, str]]:
        """The chains the person changed lately, then those watched in channels they may see."""
        chains = dict(self.store.homes.chains_changed_by(person, since=now - CHAINS_SINCE))
        for chain_id, name, where in self.store.homes.watched():
            if chain_id not in chains and self.visibility.may_see(person, where):
                chains[chain_id] = name
        return list(chains.items())

    def _channel_for(self, person: str, chain_id: str) -> str | None:
        """The latest channel the person changed the chain in and may still see, else one watching it."""
        used = self.store.homes.channels_used(person, chain_id)
        used += [where for c, _, where in self.store.homes.watched() if c == chain_id]
        return next((c for c in used if self.visibility.may_see(person, c)), None)

    def forget(self, chain_ids: Iterable[str]) -> None:
        """These chains changed: the next homes read them from Baseten again."""
        with self._links_lock:
            for chain_id in chain_ids:
                self._chains.pop(chain_id, None)

    def chain_lines(
        self, chain_id: str, chain_name: str, *, channel: str | None = None, fresh: bool = False
    ) -> ChainLines:
        """The chain's environments as Baseten shows them, read once for every home published within
        CHAIN_TTL (many people share a chain; a change to it is forgotten at once), with its locks now."""
        now = self.clock()
        with self._links_lock:
            cached = self._chains.get(chain_id)
        if fresh or cached is None or now - cached[0] >= CHAIN_TTL:
            cached = (now, self._read_chain(chain_id, chain_name))
            with self._links_lock:
                self._chains[chain_id] = cached
        envs = [self._locked(e) for e in cached[1].envs]
        return replace(cached[1], envs=envs, channel=channel)

    def _locked(self, line: EnvLine) -> EnvLine:
        if not line.env:
            return line
        lock = self.store.lock(line.chain_id, line.chain_name, line.env)
        if lock is None:
            return replace(line, locked_by=None, lock_reason="")
        return replace(line, locked_by=lock.locked_by, lock_reason=lock.reason)

    def _read_chain(self, chain_id: str, chain_name: str) -> ChainLines:
        try:
            names = self.baseten.list_environment_names(chain_id)
        except BasetenError as exc:
            unreadable = EnvLine(chain_id, chain_name, "", unreadable=exc.message)
            return ChainLines(chain_id, chain_name, [unreadable])
        envs = [self._env_line(chain_id, chain_name, name) for name in names[:ENVS_READ]]
        return ChainLines(chain_id, chain_name, envs, more_envs=max(0, len(names) - ENVS_READ))

    def _env_line(self, chain_id: str, chain_name: str, name: str) -> EnvLine:
        try:
            env = self.baseten.get_environment(chain_id, name, within=BASETEN_BUDGET)
        except BasetenError as exc:
            return EnvLine(chain_id, chain_name, name, unreadable=exc.message)
        return self._described(env, chain_name)

    def _described(self, env: ChainEnvironment, chain_name: str) -> EnvLine:
        live = env.current_deployment
        if live is None:
            return EnvLine(env.chain_id, chain_name, env.name)
        types = self.catalog.instance_types_by_name()
        try:
            prices = self.catalog.prices_per_minute()
        except BasetenError:
            prices = {}
        hardware: list[str] = []
        hourly: float | None = 0.0
        for chainlet in live.chainlets:
            known = types.get(chainlet.instance_type_name)
            shown = known.id if known is not None else chainlet.instance_type_name
            if shown not in hardware:
                hardware.append(shown)
            price = prices.get(known.id) if known is not None else None
            if price is None or hourly is None:
                hourly = None
            else:
                hourly += price * 60 * chainlet.active_replica_count
        return EnvLine(
            env.chain_id,
            chain_name,
            env.name,
            deployment_id=live.id,
            status=live.status.value,
            hardware=tuple(hardware),
            replicas=sum(c.active_replica_count for c in live.chainlets),
            dollars_per_hour=hourly,
        )


def chain_word(chain_id: str, chain_name: str) -> str:
    """How a command names the chain: by name when it can be typed, else by id."""
    return ChainRef(id=chain_id, name=chain_name).word
