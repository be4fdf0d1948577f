"""Environment locks: while one is held, changes to that environment are refused unless forced."""

from __future__ import annotations

from collections.abc import Callable

from bot.changes.planner import Refusal
from bot.changes.plans import ChainRef
from bot.governance.audit import AuditTrail
from bot.governance.policy import Policy, mentions
from bot.slack import blocks, markup
from bot.slack.markup import Mrkdwn, md
from bot.store import EnvironmentLock, Store


class Locks:
    def __init__(self, store: Store, policy: Policy, audit: AuditTrail, clock: Callable[[], float]) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock

    @staticmethod
    def describe(lock: EnvironmentLock) -> Mrkdwn:
        """Who, since when and why: `by @alice since 2026-11-22 14:00 UTC: launch freeze`. The reason
        is what a person typed: always shown as text."""
        return md(
            "by {} since {}: {}",
            markup.user(lock.locked_by),
            blocks.when(lock.locked_at),
            lock.reason or "no reason given",
        )

    def check(self, chain: ChainRef, env: str, *, user: str, force: bool) -> None:
        """Refuse a change to a locked environment, unless forced by someone allowed to."""
        lock = self.store.lock(chain.id, chain.name, env)
        if lock is None:
            return
        if not force:
            raise Refusal(
                md(
                    ":lock: {}/{} is locked {}. Add `--force` to override (recorded and announced).",
                    chain.name,
                    env,
                    self.describe(lock),
                ),
                field="env",
            )
        if not self.policy.may_force(user, env):
            approvers = mentions(self.policy.approvers(env))
            raise Refusal(
                md("Only an approver of *{}* may override its lock ({}).", env, approvers), field="env"
            )

    def lock(
        self, chain: ChainRef, env: str, *, user: str, reason: str, channel: str | None = None
    ) -> Mrkdwn:
        """Lock the environment; returns the announcement for the channel (`channel`, where it was
        asked: who may see the lock in their App Home)."""
        chain_name = chain.name
        lock = EnvironmentLock(
            chain_id=chain.id,
            chain_name=chain_name,
            env=env,
            locked_by=user,
            reason=reason,
            locked_at=self.clock(),
        )
        if not self.store.add_lock(lock):
            held = self.store.lock(chain.id, chain_name, env)
            by = md(" by {}", markup.user(held.locked_by)) if held else ""
            raise Refusal(md("{}/{} is already locked{}.", chain_name, env, by))
        summary = f"lock {chain_name}/{env}: {reason}"
        self.audit.record("locked", user, chain=chain, env=env, summary=summary, channel=channel)
        return md(
            ":lock: {} locked {}/*{}*: {}", markup.user(user), chain_name, env, reason or "no reason given"
        )

    def unlock(self, chain: ChainRef, env: str, *, user: str, channel: str | None = None) -> Mrkdwn:
        chain_name = chain.name
        if not self.store.remove_lock(chain.id, chain_name, env):
            raise Refusal(f"{chain_name}/{env} is not locked.")
        summary = f"unlock {chain_name}/{env}"
        self.audit.record("unlocked", user, chain=chain, env=env, summary=summary, channel=channel)
        return md(":unlock: {} unlocked {}/*{}*", markup.user(user), chain_name, env)

    def status_line(self, chain: ChainRef, env: str) -> Mrkdwn | None:
        lock = self.store.lock(chain.id, chain.name, env)
        return md(":lock: Locked {}", self.describe(lock)) if lock else None
