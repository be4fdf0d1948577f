"""Watching a chain without its audit log (404 from an older Baseten, 403 for a key without access):
the watched environments are compared each interval and what differs is posted, without who made it;
the log is tried again each interval, and read again once it answers."""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError
from bot.slack import blocks
from bot.slack.markup import Mrkdwn
from bot.slack.outbox import Outbox
from bot.store import Store
from bot.store.tables import WatchedChain, WatchSubscription
from bot.watch import differ, messages
from bot.watch.keys import message_key, watches

log = logging.getLogger(__name__)


class Fallback:
    def __init__(
        self, *, store: Store, baseten: BasetenClient, outbox: Outbox, interval: float, owner: str
    ) -> None:
        self.store, self.baseten, self.outbox = store, baseten, outbox
        self.interval, self.owner = interval, owner

    def lost(self, chain: WatchedChain, subs: list[WatchSubscription], reason: str, now: float) -> None:
        log.info("chain %s: no audit log (%s); comparing its environments instead", chain.chain_id, reason)
        if self.store.watch.save(chain.chain_id, owner=self.owner, fallback=reason, next_poll_at=now):
            text = messages.unavailable(reason, self.interval)
            for channel in dict.fromkeys(s.channel for s in subs):
                key = message_key("unavailable", chain.chain_id, channel)
                self.store.outbox.add_once(
                    self.outbox.message(channel, text, [blocks.section(text)], key=key)
                )
            self.outbox.wake()

    def log_is_back(self, chain: WatchedChain, subs: list[WatchSubscription]) -> bool:
        """Read from the log again once it answers (a newer Baseten, a key given access), from its newest
        entry on: what changed meanwhile was told from the environments."""
        try:
            position = self.baseten.audit_log_newest(chain.chain_id)
        except BasetenError:  # still unavailable (or Baseten down): keep comparing
            return False
        views: dict[str, differ.View] = json.loads(chain.snapshot_json or "{}")
        live = {env: view.get("live") for env, view in views.items() if isinstance(view, dict)}
        saved = self.store.watch.save(
            chain.chain_id,
            owner=self.owner,
            fallback="",
            position_json=position.model_dump_json(),
            snapshot_json=json.dumps(live),
        )
        if saved:
            text = messages.log_back()
            for channel in dict.fromkeys(s.channel for s in subs):
                key = message_key("back", chain.chain_id, position.entry_id or "", channel)
                self.store.outbox.add_once(
                    self.outbox.message(channel, text, [blocks.section(text)], key=key)
                )
            self.outbox.wake()
        return True

    def compare(self, chain: WatchedChain, subs: list[WatchSubscription], now: float) -> None:
        before: dict[str, differ.View] = json.loads(chain.snapshot_json or "{}")
        views = dict(before)
        try:
            names = self._watched_envs(chain, subs)
            for name in names:
                views[name] = differ.view(self.baseten.get_environment(chain.chain_id, name))
        except BasetenError as exc:
            log.warning("could not read the environments of chain %s: %s", chain.chain_id, exc.message)
            return
        for name in names:
            found = differ.differences(before.get(name, {}), views[name])
            if not found:
                continue
            seen = message_key(
                "diff",
                name,
                json.dumps(before.get(name), sort_keys=True),
                json.dumps(views[name], sort_keys=True),
            )
            rows: list[Any] = []
            for channel in dict.fromkeys(s.channel for s in subs if watches(s, name)):
                text = messages.difference(chain.chain_name, name, Mrkdwn("; ").join(found))
                key = message_key("diff-post", chain.chain_id, seen, channel)
                rows.append(self.outbox.message(channel, text, [blocks.section(text)], key=key))
            self.store.watch.handle(chain.chain_id, seen, now, rows)
        self.store.watch.save(
            chain.chain_id,
            owner=self.owner,
            snapshot_json=json.dumps(views),
        )
        self.outbox.wake()

    def _watched_envs(self, chain: WatchedChain, subs: list[WatchSubscription]) -> list[str]:
        if any(not s.env for s in subs):
            return self.baseten.list_environment_names(chain.chain_id)
        return list(dict.fromkeys(s.env for s in subs))
