"""The pool that runs everything after an acknowledgement. It knows when it is idle, which lets the
console print in order and lets shutdown wait for work under way."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WorkPool(ThreadPoolExecutor):
    def __init__(self, max_workers: int, name: str = "chainops-work") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        try:
            # Each task runs in a copy of the submitter's context: the request's log fields and metrics
            # scope follow the work, and nothing a task sets leaks into the next task on that thread.
            future = super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
        except RuntimeError:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any] | None) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
