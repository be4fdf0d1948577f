"""Periodic work on one mechanism: named jobs, run by one scheduler, stopped cleanly at shutdown.

Every background duty of a process (following rollouts, delivering the outbox to Slack, expiring
confirmations, watching chains) is a job registered on the process's one `Loops`. The scheduler knows
nothing of what a job does: the composition root (`bot/bootstrap.py`) registers what the layers above
want done, so no lower layer ever calls back up into a higher one.

A plain job is a function run every `interval` seconds:

    loops = Loops()
    loops.every("expiring confirmations", 0.5, operations.expire_due)

A job whose items are leased in the database (so that of several replicas exactly one works each item,
and another takes over when one dies) is a `LeasedJob`: each pass renews this process's leases, claims
what is due and works each item on the job's own small pool, at most once at a time per item:

    job = loops.add(LeasedJob(
        "following rollouts",
        interval=0.5,
        claim=lambda now: store.claim_due_rollouts(owner=owner, now=now, ...),
        key=lambda rollout: rollout.id,
        work=poll_one,
        workers=8,
        leases=Leases(renew=..., release=..., forget_stale=...),
        next_due=store.next_poll_due,
    ))

Then `loops.start()` at start-up and `loops.stop(timeout)` at shutdown: passes under way finish, each
job's items still running get until the deadline, and leases are handed back so another replica (or the
next start) resumes at once. `loops.wake(name)` runs a job's next pass now (new work arrived).

Passes of different jobs run on separate threads, so a slow pass (Slack taking seconds to answer an
expiry notice) never delays another job; a job's next pass never starts before its previous one ends. A
pass that raises is logged by `RepeatedFailure` (once when it starts failing, a reminder every few
minutes, once when it works again) and the job keeps its schedule. Tests and the console run a job's
pass inline with `job.run()` instead of starting the scheduler, with an injectable clock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bot.runtime.repeated import RepeatedFailure
from bot.runtime.workpool import Lane

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]


class Job(Protocol):
    name: str
    interval: float  # seconds between passes, at most
    expected: tuple[type[BaseException], ...]  # failures logged without a traceback (a database gone)
    expected_level: int  # ...and at this level (lower when another job already says it)

    def run(self) -> float | None:
        """One pass; the seconds until the next one is due, if sooner than `interval`."""

    def start(self) -> None:
        """Before the first pass."""

    def stop(self, deadline: float) -> None:
        """After the last pass: let work under way finish by `deadline` (monotonic), hand leases back."""


@dataclass(frozen=True)
class Leases:
    """How a job's items are leased to this process in the database."""

    renew: Callable[[float], object] | None = None  # extend what this process holds, at `now`
    release: Callable[[], object] | None = None  # hand back what this process holds (at stop)
    # Only one process exists (SQLite): leases a killed earlier life left need not be waited out.
    forget_stale: Callable[[], object] | None = None

    def start(self) -> None:
        if self.forget_stale is not None:
            self.forget_stale()

    def stop(self, job: str, expected: tuple[type[BaseException], ...]) -> None:
        if self.release is None:
            return
        try:
            self.release()
        except expected as exc:
            log.warning("%s: could not hand leases back (%s); they lapse on their own", job, exc)


@dataclass
class PeriodicJob:
    """A function run every `interval` seconds; with `leases`, the items it claims itself (under those
    leases, in the database) are freed at start when no other replica exists, and handed back at stop."""

    name: str
    interval: float
    fn: Callable[[], object]
    expected: tuple[type[BaseException], ...] = ()
    expected_level: int = logging.ERROR
    leases: Leases = field(default_factory=Leases)

    def run(self) -> float | None:
        self.fn()
        return None

    def start(self) -> None:
        self.leases.start()

    def stop(self, deadline: float) -> None:
        self.leases.stop(self.name, self.expected)


class LeasedJob(Generic[T]):
    """Claims due items under leases each pass and works each on a pool of its own, once at a time."""

    def __init__(
        self,
        name: str,
        *,
        interval: float,
        claim: Callable[[float], Iterable[T]],
        key: Callable[[T], Hashable],
        work: Callable[[T], object],
        workers: int,
        leases: Leases | None = None,
        next_due: Callable[[], float | None] | None = None,
        again_after_item: bool = False,
        expected: tuple[type[BaseException], ...] = (),
        expected_level: int = logging.ERROR,
        clock: Clock = time.time,
        thread_name: str = "chainops-job",
    ) -> None:
        self.name = name
        self.interval = interval
        self.expected = expected
        self.expected_level = expected_level
        self.clock = clock
        self._claim = claim
        self._key = key
        self._work = work
        self._leases = leases or Leases()
        self._next_due = next_due  # when the earliest item falls due (the job's clock), if known
        self._again = again_after_item  # an item done may leave more to do: run a pass soon
        self._pool = Lane(workers, thread_name)
        self._in_flight: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()
        self.wake: Callable[[], None] = lambda: None  # set by the scheduler that runs it
        self.scheduled = False  # between the scheduler's start and stop (else passes run inline)

    def run(self) -> float | None:
        now = self.clock()
        if self._leases.renew is not None:
            self._leases.renew(now)
        for item in self._claim(now):
            self.submit(item)
        due = self._next_due() if self._next_due is not None else None
        return None if due is None else max(0.01, due - self.clock())

    def submit(self, item: T) -> Future[Any] | None:
        """Work `item` on the pool unless it is under way already (then its running future)."""
        key = self._key(item)
        with self._lock:
            if key in self._in_flight:
                return self._in_flight[key]
            future = self._pool.submit(self._work, item)
            if future.cancelled():  # stopping: it stays due, for whoever takes over
                return None
            self._in_flight[key] = future
        future.add_done_callback(lambda _f: self._done(key))
        return future

    def working(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._in_flight

    def _done(self, key: Hashable) -> None:
        with self._lock:
            self._in_flight.pop(key, None)
        if self._again:
            self.wake()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no item is being worked; False if some still are after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._in_flight:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def start(self) -> None:
        self._leases.start()
        self.scheduled = True

    def stop(self, deadline: float) -> None:
        """Items not started are left due; those running get until `deadline`; leases are handed back.
        An item still running then cannot save its work: its lease is gone."""
        self.scheduled = False
        self._pool.close()
        self._pool.take_back()
        self._pool.wait_idle(deadline)
        self._leases.stop(self.name, self.expected)


@dataclass(eq=False)
class _Entry:
    job: Job
    failure: RepeatedFailure
    next_at: float = 0.0  # monotonic
    running: bool = False


@dataclass
class Loops:
    """The one scheduler of a process's periodic jobs (see the module docstring)."""

    thread_name: str = "chainops-loops"
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stopping: bool = False
    _thread: threading.Thread | None = None
    _passes: Lane | None = None

    def every(
        self,
        name: str,
        interval: float,
        fn: Callable[[], object],
        *,
        expected: tuple[type[BaseException], ...] = (),
        expected_level: int = logging.ERROR,
        leases: Leases | None = None,
    ) -> PeriodicJob:
        job = PeriodicJob(name, interval, fn, expected, expected_level, leases or Leases())
        self.add(job)
        return job

    def add(self, job: Job) -> Any:
        """Register `job` (before `start`); returns it."""
        if job.name in self._entries:
            raise ValueError(f"a job named {job.name!r} is registered already")
        if hasattr(job, "wake"):
            job.wake = lambda: self.wake(job.name)
        self._entries[job.name] = _Entry(
            job, RepeatedFailure(log, job.name, expected_level=job.expected_level)
        )
        return job

    def job(self, name: str) -> Job:
        return self._entries[name].job

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        for entry in self._entries.values():
            entry.job.start()
        self._passes = Lane(max(1, len(self._entries)), f"{self.thread_name}-pass")
        self._thread = threading.Thread(target=self._schedule, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self, name: str | None = None) -> None:
        """Run that job's next pass (every job's, without a name) as soon as it is not running."""
        with self._cond:
            for entry in self._entries.values():
                if name is None or entry.job.name == name:
                    entry.next_at = 0.0
            self._cond.notify()

    def stop(self, timeout: float = 10.0, *, reserve: float = 0.5) -> None:
        """Stop scheduling, let passes under way end, then stop each job in the order it was added, each
        given until the deadline (and at least `reserve` seconds)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._passes is not None:
            self._passes.close()
            self._passes.wait_idle(deadline)
        for entry in self._entries.values():
            entry.job.stop(max(deadline, time.monotonic() + reserve))

    def _schedule(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                wait = 60.0
                for entry in self._entries.values():
                    if entry.running:
                        continue
                    if entry.next_at <= now:
                        entry.running = True
                        entry.next_at = float("inf")  # a wake during the pass sets it to 0 again
                        assert self._passes is not None
                        self._passes.submit(self._pass, entry)
                    else:
                        wait = min(wait, entry.next_at - now)
                self._cond.wait(wait)

    def _pass(self, entry: _Entry) -> None:
        job = entry.job
        soon: float | None = None
        try:
            soon = job.run()
        except job.expected as exc:
            entry.failure.failed(exc)
        except Exception as exc:
            entry.failure.failed(exc, expected=False)
        else:
            entry.failure.succeeded()
        finally:
            wait = job.interval if soon is None else min(job.interval, soon)
            with self._cond:
                entry.running = False
                # A wake during the pass stands (next_at 0): new work arrived after the pass looked.
                if entry.next_at != 0.0:
                    entry.next_at = time.monotonic() + wait
                self._cond.notify()
