"""`/chain watch`, `/chain unwatch` and the list of a channel's subscriptions: checked against the policy
(whoever may request changes to those environments), recorded in history, announced in the channel."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.baseten.audit_log import AuditLogPosition
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenAuditLogUnavailable, BasetenError
from bot.changes.planner import Planner, Refusal
from bot.changes.plans import ChainRef
from bot.commands.watch import UnwatchCommand, WatchCommand
from bot.governance.audit import AuditTrail
from bot.governance.policy import Policy
from bot.slack import blocks
from bot.slack.gateway import NOT_IN_CHANNEL, Gateway
from bot.slack.invocation import Invocation, invite_hint, tell
from bot.slack.markup import Mrkdwn, lines, md, readable, user
from bot.slack.outbox import Outbox
from bot.store import Store
from bot.store.tables import WatchedChain, WatchSubscription
from bot.watch import differ, messages
from bot.watch.poller import reason_unavailable


class Subscriptions:
    def __init__(
        self,
        *,
        store: Store,
        baseten: BasetenClient,
        planner: Planner,
        policy: Policy,
        gateway: Gateway,
        outbox: Outbox,
        audit: AuditTrail,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.baseten, self.planner, self.policy = store, baseten, planner, policy
        self.gateway, self.outbox, self.audit = gateway, outbox, audit
        self.interval, self.clock = interval, clock

    def watch(self, command: WatchCommand, inv: Invocation) -> None:
        if command.chain is None:
            tell(self.gateway, inv, messages.subscriptions(self.store.watch.of_channel(inv.channel)))
            return
        found = self.planner.chain(command.chain)
        chain = ChainRef.of(found)
        for env in command.envs:
            self.planner.environment_name(found, env)
        every = self.baseten.list_environment_names(found.id)
        names = list(command.envs) or every
        self._may_watch(inv, chain, names)
        now = self.clock()
        fallback = ""
        try:
            position = self.baseten.audit_log_newest(found.id)
        except BasetenAuditLogUnavailable as exc:
            fallback, position = reason_unavailable(exc), AuditLogPosition()
        # What is live now: the baseline a promotion's Roll back goes to, and what the fallback compares.
        # Every environment: an instance-type or autoscaling entry names a deployment, and which
        # environment it serves tells whether a channel watching one environment hears of it.
        snapshot: dict[str, object] = {}
        for name in every:
            try:
                seen = self.baseten.get_environment(found.id, name)
            except BasetenError:
                continue
            snapshot[name] = (
                differ.view(seen)
                if fallback
                else (seen.current_deployment.id if seen.current_deployment else None)
            )
        added = [
            env
            for env in (command.envs or ("",))
            if self.store.watch.subscribe(
                WatchSubscription(
                    channel=inv.channel,
                    chain_id=chain.id,
                    env=env,
                    chain_name=chain.name,
                    created_by=inv.user,
                    created_at=now,
                ),
                WatchedChain(
                    chain_id=chain.id,
                    chain_name=chain.name,
                    position_json=position.model_dump_json(),
                    fallback=fallback,
                    snapshot_json=json.dumps(snapshot),
                    next_poll_at=now + self.interval,
                ),
            )
        ]
        if not added:
            tell(
                self.gateway,
                inv,
                md(
                    "This channel already watches {} ({}).",
                    chain.name,
                    ", ".join(command.envs) or "all environments",
                ),
            )
            return
        text = messages.subscribed(user(inv.user), chain.name, command.envs)
        key = self.outbox.post(inv.channel, text, [blocks.section(text)])
        if self.outbox.first_attempt(key) in NOT_IN_CHANNEL:
            # Nothing could be posted there: no subscription is left behind.
            self.store.watch.unsubscribe(inv.channel, chain.id, added)
            tell(self.gateway, inv, invite_hint(inv.channel))
            return
        self.audit.record(
            "watched", inv.user, chain=chain, env=",".join(added), summary=readable(text), channel=inv.channel
        )
        if fallback:
            self._post_or_tell(inv, messages.unavailable(fallback, self.interval))

    def unwatch(self, command: UnwatchCommand, inv: Invocation) -> None:
        found = self.planner.chain(command.chain)
        chain = ChainRef.of(found)
        self._may_watch(inv, chain, list(command.envs) or self.baseten.list_environment_names(found.id))
        ended = self.store.watch.unsubscribe(inv.channel, chain.id, list(command.envs))
        if not ended:
            if command.envs:
                raise Refusal(
                    md(
                        "This channel does not watch {} in {}: `/chain watch` shows what it watches.",
                        chain.name,
                        ", ".join(command.envs),
                    )
                )
            raise Refusal(
                md("This channel does not watch {}: `/chain watch` shows what it watches.", chain.name)
            )
        text = messages.unsubscribed(user(inv.user), chain.name, ended)
        self.audit.record(
            "unwatched",
            inv.user,
            chain=chain,
            env=",".join(e for e in ended if e),
            summary=readable(text),
            channel=inv.channel,
        )
        self._post_or_tell(inv, text)

    def _may_watch(self, inv: Invocation, chain: ChainRef, envs: list[str]) -> None:
        """Watching is for whoever may request changes to every environment watched."""
        for env in envs:
            decision = self.policy.may_request(inv.user, inv.channel, env)
            if not decision.allowed:
                self.audit.record(
                    "refused", inv.user, chain=chain, env=env, summary=readable(decision.reason)
                )
                raise Refusal(decision.reason, field="env")

    def _post_or_tell(self, inv: Invocation, text: Mrkdwn) -> None:
        """In the channel; if the bot is not in it, the outbox tells the person instead."""
        self.outbox.post(
            inv.channel,
            text,
            [blocks.section(text)],
            notify_url=inv.response_url,
            notify_text=lines([text, invite_hint(inv.channel)]),
        )
