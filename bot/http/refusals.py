"""Refused requests are logged as one short line (reason, remote address), and never more than one line
per reason every few seconds: whoever floods the port must not flood the log too."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

INTERVAL = 10.0  # seconds between two lines for the same reason

log = logging.getLogger("chainops.refused")


class Throttle(logging.Filter):
    """Lets one record per message (and reason) through every `interval` seconds; the next one that
    passes says how many were held back. Keys are message templates and fixed reasons, never request
    data, so the table stays small."""

    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(getattr(record, "reason", record.msg)))
        now = self.clock()
        with self._lock:
            due, held = self._next.get(key, (0.0, 0))
            if now < due:
                self._next[key] = (due, held + 1)
                return False
            self._next[key] = (now + self.interval, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more in the last {self.interval:.0f} s)"
        return True


def throttle(logger: logging.Logger) -> None:
    if not any(isinstance(f, Throttle) for f in logger.filters):
        logger.addFilter(Throttle())


throttle(log)


def refused(reason: str, remote: str) -> None:
    """`reason` is one of a few fixed phrases; `remote` is the peer's address as the socket gives it."""
    log.warning("refused %s: %s", remote, reason, extra={"reason": reason})
