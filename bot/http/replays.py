"""Replay protection: a signed Slack request already seen (same timestamp and signature) is ignored, on
every replica, because sightings are recorded in the database.

The sighting is recorded while the request is acknowledged, not before: the acknowledgement never waits
for the database, and the work it starts waits for the answer before it does anything (`unless_replayed`).
Concurrent requests share one transaction: the first thread to arrive writes every sighting queued so far
while the others wait for its answer. On SQLite, whose writers take turns, that is one write per burst
instead of one per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.http.refusals import refused, throttle
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)
throttle(log)

SIGNATURE_LIFETIME = 300  # seconds either side of now that Slack's timestamp may be, as Slack advises
KEEP_FOR = SIGNATURE_LIFETIME + 60  # a sighting outlives the signature it guards against
PRUNE_EVERY = 60.0
CHECK_WAIT = 10.0  # how long work waits for its request's sighting to be recorded before going ahead

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
        self._recorders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chainops-replays")

    def check_soon(self, request_ts: int, signature: str, remote: str) -> Callable[[], bool]:
        """Start recording the sighting; the returned check says (waiting if need be) whether it is the
        first, and logs a replay once."""
        future: Future[bool] = self._recorders.submit(self.first_time, request_ts, signature)

        def first() -> bool:
            try:
                fresh = future.result(timeout=CHECK_WAIT)
            except FutureTimeout:
                log.warning("replay check took over %.0f s; handling the request", CHECK_WAIT)
                return True
            if not fresh:
                refused("replayed request ignored", remote)
            return fresh

        return first

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


_check: ContextVar[Callable[[], bool] | None] = ContextVar("chainops_replay_check", default=None)


@contextmanager
def checking(check: Callable[[], bool]) -> Iterator[None]:
    """While a request is dispatched: the work it starts runs only if `check` says it is the first."""
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


def unless_replayed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, to run after the acknowledgement only if the request that started it is not a replay.

    Called on the request's thread, where the front door set the check; without one (Socket Mode, tests
    that dispatch directly) `fn` runs as it is."""
    check = _check.get()
    if check is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if check() else None

    return run
