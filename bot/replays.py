"""Replay protection: a signed Slack request already seen (same timestamp and signature) is ignored, on
every replica, because sightings are recorded in the database.

Recording sits on the acknowledgement's path, so concurrent requests share one transaction: the first
thread to arrive writes every sighting queued so far while the others wait for its answer. On SQLite,
whose writers take turns, that is one write per burst instead of one per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from bot.refusals import throttle
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)
throttle(log)

SIGNATURE_LIFETIME = 300  # seconds either side of now that Slack's timestamp may be, as Slack advises
KEEP_FOR = SIGNATURE_LIFETIME + 60  # a sighting outlives the signature it guards against
PRUNE_EVERY = 60.0

Key = tuple[int, str]


@dataclass
class _Sighting:
    key: Key
    first: bool = True
    done: threading.Event = field(default_factory=threading.Event)


class Replays:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._queue: list[_Sighting] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._next_prune = clock() + PRUNE_EVERY  # not in the way of the first requests

    def first_time(self, request_ts: int, signature: str) -> bool:
        """False when this exact signed request was already seen, here or on another replica."""
        sighting = _Sighting((request_ts, signature))
        with self._queue_lock:
            self._queue.append(sighting)
        with self._writer:
            if not sighting.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._record(batch)
        return sighting.first

    def _record(self, batch: list[_Sighting]) -> None:
        try:
            now = self.clock()
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_EVERY
                self.store.forget_sightings(now=now)
            fresh = self.store.first_sightings(sorted({s.key for s in batch}), keep_for=KEEP_FOR)
        except (SQLAlchemyError, StoreUnavailable) as exc:
            # Every change needs the database as well, so a replay cannot change anything meanwhile.
            log.warning("could not check for replayed requests (%s); handling them", type(exc).__name__)
            fresh = {s.key for s in batch}
        for sighting in batch:
            sighting.first = sighting.key in fresh
            fresh.discard(sighting.key)  # of two identical requests in one batch, the second is a replay
            sighting.done.set()
