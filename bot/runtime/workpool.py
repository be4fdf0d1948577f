"""The threads that do everything after an acknowledgement, and nothing else.

Work is taken in priority order (a button press, then a change, then a read), and reads may hold only
half of the workers, so a click never queues behind a pile of slow status reads. A person whose work has
not answered after a few seconds hears once that it is still under way. A second, small lane (the Slack
lane) runs work that never calls Baseten (help, usage errors, opening a form, those notices), so it
never waits behind work that does. On shutdown,
work that cannot finish in time is handed back to whoever submitted it, to tell its owner.

Longer than most modules: priorities, the read budget, the Slack lane and shutdown accounting are one
state under one lock, and split they would have to share it."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from enum import IntEnum
from functools import partial
from typing import Any

log = logging.getLogger(__name__)

SLOW_AFTER = 4.0  # seconds without an answer before the person hears that it is still under way
SLACK_WORKERS = 4


class Priority(IntEnum):
    CLICK = 0  # a button press or a form: someone is watching for the result right now
    WRITE = 1  # a command that leads to a change
    READ = 2  # status, history


@dataclass(eq=False)
class _Job:
    priority: Priority
    fn: Callable[[], Any]
    future: Future[Any]
    submitted_at: float
    on_slow: Callable[[], None] | None = None
    on_abandon: Callable[[bool], None] | None = None  # called with whether it had started
    started: bool = False
    answered: bool = False  # the person got an answer: no "still working" notice any more
    abandoned: bool = False  # the person was told to retry: a late answer would contradict that
    noticed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The submitter's context, copied: the request's log fields and metrics scope follow the work, and
    # nothing a job sets leaks into the next job on that thread.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


_current: contextvars.ContextVar[_Job | None] = contextvars.ContextVar("chainops_job", default=None)


def answered() -> bool:
    """The work running on this thread is about to give its person an answer; a slow notice would only
    confuse. False when its person was already told to retry (shutdown): then it must stay silent.

    Waits for a notice being sent right now, so the notice never arrives after the answer."""
    job = _current.get()
    if job is None:
        return True
    with job.lock:
        if job.abandoned:
            return False
        job.answered = True
        return True


def _call(job: _Job) -> Any:
    _current.set(job)  # in the job's own copy of the context
    return job.fn()


@dataclass(frozen=True)
class Drained:
    finished: int
    told_to_retry: int
    interrupted: int


class Lane:
    """Up to `workers` daemon threads taking jobs by priority, each priority within its own share."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        # A job may start only while fewer jobs of its priority or a lower one run than its limit: reads
        # keep half of the workers free, changes keep two free for clicks.
        self._limits = {
            Priority.CLICK: workers,
            Priority.WRITE: max(1, workers - 2),
            Priority.READ: max(1, workers // 2),
        }
        self._queues: dict[Priority, deque[_Job]] = {p: deque() for p in Priority}
        self._running: set[_Job] = set()
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # a worker may have something to take
        self._quiet = threading.Condition(lock)  # nothing queued or running
        self._open = True
        self.finished = 0
        self._name = name
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run `fn` in turn; once the lane is closed, the future comes back cancelled."""
        future: Future[Any] = Future()
        if not self.put(_Job(Priority.CLICK, partial(fn, *args), future, time.monotonic())):
            future.cancel()
        return future

    def put(self, job: _Job) -> bool:
        with self._cond:
            if not self._open:
                return False
            self._queues[job.priority].append(job)
            queued = sum(len(q) for q in self._queues.values())
            spawn = queued > self._idle and self._threads < self.workers
            if spawn:
                self._threads += 1
                number = self._threads
            # One new job needs one worker: waking them all would only make them fight for the lock.
            self._cond.notify()
        if spawn:
            # Threads start as work arrives, up to the limit (daemons: none may hold up an exit).
            threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True).start()
        return True

    def _take(self) -> _Job | None:
        for priority in Priority:
            queue = self._queues[priority]
            if not queue:
                continue
            busy = sum(1 for j in self._running if j.priority >= priority)
            if busy < self._limits[priority]:
                return queue.popleft()
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._take()
                while job is None:
                    if not self._open and not any(self._queues.values()):
                        return
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                    job = self._take()
                self._running.add(job)
                job.started = True
            try:
                self._run(job)
            finally:
                # This thread takes the next job itself; only those waiting for quiet need telling.
                with self._cond:
                    self._running.discard(job)
                    self.finished += 1
                    if not self._running and not any(self._queues.values()):
                        self._quiet.notify_all()

    @staticmethod
    def _run(job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.context.run(_call, job)
        except BaseException as exc:  # the future carries it, as in concurrent.futures
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    # -- what is there -----------------------------------------------------------------------------------

    def pending(self) -> int:
        with self._cond:
            return len(self._running) + sum(len(q) for q in self._queues.values())

    def waiting(self) -> list[_Job]:
        with self._cond:
            return [*self._running, *(j for q in self._queues.values() for j in q)]

    def wait_idle(self, deadline: float) -> bool:
        with self._cond:
            while self._running or any(self._queues.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._quiet.wait(left)
            return True

    # -- stopping ----------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._cond:
            self._open = False
            self._cond.notify_all()

    def take_back(self) -> tuple[list[_Job], list[_Job], int]:
        """Everything still queued (now cancelled), everything still running, and how many finished."""
        with self._cond:
            finished = self.finished
            queued = [j for q in self._queues.values() for j in q]
            for queue in self._queues.values():
                queue.clear()
            running = list(self._running)
            self._cond.notify_all()
            if not running:
                self._quiet.notify_all()
        for job in queued:
            job.future.cancel()
        return queued, running, finished


class WorkPool(Executor):
    def __init__(
        self,
        max_workers: int,
        name: str = "chainops-work",
        *,
        slow_after: float = SLOW_AFTER,
        slack_workers: int = SLACK_WORKERS,
    ) -> None:
        self._work = Lane(max_workers, name)
        self._slack = Lane(slack_workers, f"{name}-slack")
        self._slow_after = slow_after
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"{name}-watch", daemon=True)
        self._watcher.start()

    # -- submitting --------------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """The Executor interface (Bolt's lazy listeners, bounded waits in forms): first in line."""
        return self.run(Priority.CLICK, fn, *args, **kwargs)

    def run(
        self,
        priority: Priority,
        fn: Callable[..., Any],
        /,
        *args: Any,
        on_slow: Callable[[], None] | None = None,
        on_abandon: Callable[[bool], None] | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run `fn` on a worker. `on_slow` tells its person it is still under way; `on_abandon` tells
        them it will not finish because the process is stopping."""
        return self._put(self._work, priority, fn, args, kwargs, on_slow, on_abandon)

    def run_on_slack_lane(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        on_abandon: Callable[[bool], None] | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """For work that never calls Baseten and must not wait behind work that does (a form's trigger
        expires in 3 s; help is answered while Baseten is slow)."""
        return self._put(self._slack, Priority.CLICK, fn, args, kwargs, None, on_abandon)

    def _put(
        self,
        lane: Lane,
        priority: Priority,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_slow: Callable[[], None] | None,
        on_abandon: Callable[[bool], None] | None,
    ) -> Future[Any]:
        future: Future[Any] = Future()
        job = _Job(priority, lambda: fn(*args, **kwargs), future, time.monotonic(), on_slow, on_abandon)
        if not lane.put(job):
            # Stopping: it will not run; its person is told so at once.
            future.cancel()
            self._abandon([job], started=False)
        return future

    # -- slow notices ------------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._closed.wait(0.25):
            now = time.monotonic()
            for job in self._work.waiting():
                if job.on_slow is None or job.noticed or job.answered or job.future.done():
                    continue
                if now - job.submitted_at >= self._slow_after:
                    job.noticed = True
                    # Behind answers on that lane, and within half of it: a wave of notices (every read
                    # waiting for a slow Baseten) never holds up help or a form.
                    self._put(self._slack, Priority.READ, self._notice, (job,), {}, None, None)

    @staticmethod
    def _notice(job: _Job) -> None:
        with job.lock:
            if job.answered or job.abandoned or job.future.done() or job.on_slow is None:
                return
            try:
                job.on_slow()
            except Exception:
                log.exception("could not send a slow notice")

    # -- waiting and stopping ----------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._work.pending() + self._slack.pending()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        # Slack-lane work may start more work and the other way round: wait until both are quiet.
        while True:
            if not (self._work.wait_idle(deadline) and self._slack.wait_idle(deadline)):
                return False
            if self.pending == 0:
                return True

    def drain(self, *, finish_by: float, give_up_by: float) -> Drained:
        """Stop taking work, let queued work run until `finish_by` (monotonic), then hand back what is
        left: queued work never started, running work is interrupted. Returns at `give_up_by` at the latest."""
        before = self._work.finished
        self._work.close()
        self._work.wait_idle(finish_by)
        queued, running, finished = self._work.take_back()
        dropped = self._abandon(queued, started=False)
        interrupted = self._abandon(running, started=True)
        self._slack.close()
        self._slack.wait_idle(give_up_by)
        # Running work that had already begun answering its person is not told to retry: it counts as
        # finished, and its answer is let reach Slack before the process exits.
        answering = [job for job in running if job.answered and not job.abandoned]
        futures.wait([job.future for job in answering], timeout=max(0.0, give_up_by - time.monotonic()))
        self._closed.set()
        return Drained(
            finished=finished - before + len(answering),
            told_to_retry=dropped,
            interrupted=interrupted,
        )

    def _abandon(self, jobs: list[_Job], *, started: bool) -> int:
        """Tell the people behind these jobs that they will not finish; returns how many were told."""
        told = 0
        for job in jobs:
            with job.lock:
                # One answer per person: one already answered is not told to retry, and one told to
                # retry gives no answer afterwards (`answered` says so to the work still running).
                if job.on_abandon is None or job.answered:
                    continue
                job.abandoned = True
            told += 1
            # Told on the Slack lane, all at once; if that lane is closed too, told right here.
            tell = partial(_safely, job.on_abandon, started)
            if not self._slack.put(_Job(Priority.CLICK, tell, Future(), time.monotonic())):
                tell()
        return told

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        now = time.monotonic()
        limit = now + (30.0 if wait else 0.0)
        self.drain(finish_by=now if cancel_futures else limit, give_up_by=limit)


def _safely(callback: Callable[[bool], None], started: bool) -> None:
    try:
        callback(started)
    except Exception:
        log.exception("could not tell a person their request was dropped")
