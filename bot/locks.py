"""Environment locks: while one is held, changes to that environment are refused unless forced."""

from __future__ import annotations

from collections.abc import Callable

from bot import blocks
from bot.audit import AuditTrail
from bot.planner import Refusal
from bot.policy import Policy, mention
from bot.store import EnvironmentLock, Store


class Locks:
    def __init__(self, store: Store, policy: Policy, audit: AuditTrail, clock: Callable[[], float]) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock

    @staticmethod
    def describe(lock: EnvironmentLock) -> str:
        """Who, since when and why: `by @alice since 2026-11-22 14:00 UTC: launch freeze`."""
        return (
            f"by <@{lock.locked_by}> since {blocks.when(lock.locked_at)}: {lock.reason or 'no reason given'}"
        )

    def check(self, chain_name: str, env: str, *, user: str, force: bool) -> None:
        """Refuse a change to a locked environment, unless forced by someone allowed to."""
        lock = self.store.lock(chain_name, env)
        if lock is None:
            return
        if not force:
            raise Refusal(
                f":lock: {chain_name}/{env} is locked {self.describe(lock)}. "
                "Add `--force` to override (recorded and announced).",
                field="env",
            )
        if not self.policy.may_force(user, env):
            approvers = ", ".join(mention(a) for a in self.policy.approvers(env))
            raise Refusal(f"Only an approver of *{env}* may override its lock ({approvers}).", field="env")

    def lock(self, chain_name: str, env: str, *, user: str, reason: str) -> str:
        """Lock the environment; returns the announcement for the channel."""
        lock = EnvironmentLock(
            chain_name=chain_name, env=env, locked_by=user, reason=reason, locked_at=self.clock()
        )
        if not self.store.add_lock(lock):
            held = self.store.lock(chain_name, env)
            by = f" by <@{held.locked_by}>" if held else ""
            raise Refusal(f"{chain_name}/{env} is already locked{by}.")
        self.audit.record(
            "locked", user, chain_name=chain_name, env=env, summary=f"lock {chain_name}/{env}: {reason}"
        )
        return f":lock: <@{user}> locked {chain_name}/*{env}*: {reason or 'no reason given'}"

    def unlock(self, chain_name: str, env: str, *, user: str) -> str:
        if not self.store.remove_lock(chain_name, env):
            raise Refusal(f"{chain_name}/{env} is not locked.")
        self.audit.record(
            "unlocked", user, chain_name=chain_name, env=env, summary=f"unlock {chain_name}/{env}"
        )
        return f":unlock: <@{user}> unlocked {chain_name}/*{env}*"

    def status_line(self, chain_name: str, env: str) -> str | None:
        lock = self.store.lock(chain_name, env)
        return f":lock: Locked {self.describe(lock)}" if lock else None
