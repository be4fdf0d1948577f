"""A failure that repeats every half second (the database gone, Baseten down) is logged once when it
starts, as a reminder with a count every few minutes, and once when it stops: never a traceback a tick."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REMIND_EVERY = 300.0


class RepeatedFailure:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        remind_every: float = REMIND_EVERY,
        clock: Callable[[], float] = time.monotonic,
        expected_level: int = logging.ERROR,
    ) -> None:
        self._log = log
        self._what = what
        self._remind_every = remind_every
        self._clock = clock
        # An expected failure another part of the process already reports (the database gone) may be
        # logged lower, so an outage is a few error lines, not one per job.
        self._expected_level = expected_level
        self._lock = threading.Lock()
        self._count = 0
        self._since = 0.0
        self._reminded = 0.0

    def failed(self, exc: BaseException, *, expected: bool = True) -> None:
        """Record one failure. An unexpected one carries its traceback the first time only."""
        with self._lock:
            now = self._clock()
            self._count += 1
            if self._count == 1:
                self._since = self._reminded = now
                first = True
            elif now - self._reminded >= self._remind_every:
                self._reminded = now
                first = False
            else:
                return
            count, since = self._count, self._since
        level = self._expected_level if expected else logging.ERROR
        if first:
            self._log.log(level, "%s failed: %s", self._what, exc, exc_info=None if expected else exc)
        else:
            self._log.log(
                level,
                "%s still failing: %d times in the last %.0f s (%s)",
                self._what,
                count,
                now - since,
                exc,
            )

    def succeeded(self) -> None:
        with self._lock:
            count, since = self._count, self._since
            self._count = 0
        if count:
            self._log.warning(
                "%s works again after %d failures in %.0f s", self._what, count, self._clock() - since
            )
