"""The product's front: a command is routed by the registry (a read is answered, a change is checked
and offered), a button press is decided, a rollback is offered as the change that undoes one. The
change itself goes offer (`offer`) → decide (`decide`) → execute once (`execution`) → follow
(`follower`), knowing no particular verb. Handlers and the console call in here; nothing here knows
Bolt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.baseten.models import ChainEnvironment
from bot.changes.decide import Decisions
from bot.changes.execution import Execution, Later
from bot.changes.offer import Offer
from bot.changes.planner import Planner, Refusal
from bot.changes.plans import ChainRef, ChangeKind, ChangePlan, Reverted
from bot.commands import registry as verbs
from bot.commands.parsing import ChangeCommand, Command, UsageError
from bot.governance.audit import AuditTrail
from bot.governance.locks import Locks
from bot.governance.policy import Policy
from bot.runtime import logs, metrics
from bot.runtime.repeated import RepeatedFailure
from bot.slack import blocks
from bot.slack.gateway import Gateway
from bot.slack.invocation import Invocation, tell
from bot.slack.markup import md, readable
from bot.slack.outbox import Outbox
from bot.store import Store, StoreUnavailable
from bot.watch.subscriptions import Subscriptions

log = logging.getLogger(__name__)

STORE_DOWN = (
    ":warning: I can't reach my database right now, so nothing was changed. Please try again in a minute."
)


@dataclass(frozen=True)
class Timing:
    confirmation_ttl: float = 900.0
    rollback_window: float = 3600.0


class Operations:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        planner: Planner,
        gateway: Gateway,
        outbox: Outbox,
        policy: Policy,
        timing: Timing,
        audit_channel: str | None = None,
        clock: Callable[[], float] = time.time,
        owner: str = "",
        lease_seconds: float = 30.0,
        later: Later | None = None,
        watch_interval: float = 30.0,
    ) -> None:
        self.store = store
        self.baseten = baseten
        self.planner = planner
        self.gateway = gateway
        self.outbox = outbox
        self.policy = policy
        self.timing = timing
        self.clock = clock
        self._store_failure = RepeatedFailure(log, "answering a request: the database")
        self.audit = AuditTrail(store, clock)
        self.locks = Locks(store, policy, self.audit, clock)
        self.watching = Subscriptions(
            store=store,
            baseten=baseten,
            planner=planner,
            policy=policy,
            gateway=gateway,
            outbox=outbox,
            audit=self.audit,
            interval=watch_interval,
            clock=clock,
        )
        self.plans = verbs.PLANS
        self.execution = Execution(
            store=store,
            plans=self.plans,
            baseten=baseten,
            gateway=gateway,
            outbox=outbox,
            audit=self.audit,
            clock=clock,
            audit_channel=audit_channel,
            instance_types=planner.catalog.instance_types_by_name,
            owner=owner,
            lease_seconds=lease_seconds,
            later=later,
        )
        self.offer = Offer(
            store=store,
            plans=self.plans,
            gateway=gateway,
            outbox=outbox,
            policy=policy,
            audit=self.audit,
            locks=self.locks,
            execution=self.execution,
            confirmation_ttl=timing.confirmation_ttl,
            clock=clock,
        )
        self.decisions = Decisions(
            store=store,
            plans=self.plans,
            baseten=baseten,
            gateway=gateway,
            outbox=outbox,
            policy=policy,
            audit=self.audit,
            locks=self.locks,
            execution=self.execution,
            store_failure=self._store_failure,
            clock=clock,
        )

    # -- answering --------------------------------------------------------------------------------------

    def tell(self, inv: Invocation, text: str, block_list: blocks.Blocks | None = None) -> None:
        tell(self.gateway, inv, text, block_list)

    def refuse(self, inv: Invocation, text: str) -> None:
        """A request that cannot go ahead: said privately to whoever acted, and counted as refused."""
        metrics.outcome(metrics.REFUSED)
        self.tell(inv, text)

    @contextmanager
    def _answering(self, inv: Invocation) -> Iterator[None]:
        """Every way a request can end early becomes a short private answer to whoever acted."""
        try:
            yield
        except (Refusal, UsageError) as exc:
            self.refuse(inv, exc.text)
        except BasetenError as exc:
            metrics.outcome(metrics.ERROR)
            self.tell(inv, md(":warning: {}", exc.message))
        except StoreUnavailable as exc:
            self._store_failure.failed(exc)
            self.tell(inv, STORE_DOWN)
        except Exception:
            metrics.outcome(metrics.ERROR)
            log.exception("request failed")
            self.tell(
                inv,
                md(":warning: Something went wrong on my side. Check `/chain status` before trying again."),
            )

    # -- commands ---------------------------------------------------------------------------------------

    def run_command(self, parsed: verbs.Parsed, inv: Invocation) -> None:
        """A `/chain` command, read once where it arrived (`verbs.read`)."""
        with metrics.command(parsed.label), self._answering(inv):
            self._dispatch(parsed.checked(), inv)

    def _dispatch(self, command: Command, inv: Invocation) -> None:
        logs.annotate(chain=getattr(command, "chain", None), environment=getattr(command, "env", None))
        verb = verbs.of(command)
        if verb.form is not None and type(command) is verb.form:
            # Forms are opened by the Slack surface (`handlers/commands`), never from here.
            self.tell(inv, md("Forms are not available here; type the full command (see `/chain help`)."))
        elif verb.change is not None:
            assert isinstance(command, ChangeCommand)
            self.request(self.plan(command, verb.change, inv), inv)
        else:
            assert verb.answer is not None
            verb.answer(self, command, inv)

    # -- requests ---------------------------------------------------------------------------------------

    def may_request(self, inv: Invocation, env: str, *, chain: str = "") -> None:
        decision = self.policy.may_request(inv.user, inv.channel, env)
        if not decision.allowed:
            self.audit.record(
                "refused", inv.user, chain_name=chain, env=env, summary=readable(decision.reason)
            )
            raise Refusal(decision.reason, field="env")

    def plan(
        self,
        command: ChangeCommand,
        change: ChangeKind,
        inv: Invocation,
        *,
        environment: ChainEnvironment | None = None,
    ) -> ChangePlan:
        """A change request checked: policy and locks before anything is looked up in detail, then the
        change kind's own checks against Baseten. The chain is resolved and the environment read once
        (`environment`: already read, by a form)."""
        self.may_request(inv, command.env, chain=command.chain)
        chain = self.planner.chain(command.chain)
        self.locks.check(ChainRef.of(chain), command.env, user=inv.user, force=command.force)
        if environment is None:
            environment = self.planner.environment(chain, command.env)
        return change.check(self.planner, chain, environment, command)

    def request(self, plan: ChangePlan, inv: Invocation, *, preview: bool = False) -> None:
        """Offer a checked plan: approval in the channel, confirmation privately, or run it at once.
        `preview`: always confirm first (a form's submit button says Preview, so it never acts itself)."""
        self.offer(plan, inv, preview=preview)

    def decide(self, confirmation_id: str, decision: str, inv: Invocation) -> None:
        """A button press: confirm, approve, reject or cancel."""
        with metrics.command(decision), logs.bound(request_id=confirmation_id), self._answering(inv):
            self.decisions(confirmation_id, decision, inv)

    def expire_due(self) -> None:
        self.decisions.expire_due()

    # -- rollback ---------------------------------------------------------------------------------------

    def rollback(self, rollout_id: str, inv: Invocation) -> None:
        with metrics.command("rollback"), logs.bound(rollout_id=rollout_id), self._answering(inv):
            self._rollback(rollout_id, inv)

    def _rollback(self, rollout_id: str, inv: Invocation) -> None:
        """Undo a finished change (Roll back, Revert): its kind says with which request; that request
        is a change like any other, always previewed first."""
        rollout = self.store.rollout(rollout_id)
        kind = self.plans.kind(rollout.kind) if rollout is not None else None
        revert = kind.revert if kind is not None else None
        if rollout is None or revert is None:
            self.refuse(inv, "There is nothing to roll back to for that change.")
            return
        if rollout.finished_at is None or self.clock() - rollout.finished_at > self.timing.rollback_window:
            assert kind is not None
            self.refuse(inv, kind.too_late)
            return
        plan = self.plans.load(rollout.plan_json) if rollout.plan_json else None
        command = self.plans.revert(
            rollout.kind, Reverted(rollout.chain_id, rollout.env, rollout.previous_deployment_id, plan)
        )
        undo = verbs.of(command).change if command is not None else None
        if command is None or undo is None:
            self.refuse(inv, "There is nothing to roll back to for that change.")
            return
        self.request(self.plan(command, undo, inv), inv, preview=True)
