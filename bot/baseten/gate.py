"""Baseten's rate limit, honoured in one place: once it answers 429, no request leaves this process until
the window it named has passed. Every thread shares the one gate of the process's one client."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RateLimitGate:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open_at = 0.0

    def remaining(self) -> float:
        """Seconds until requests may go out again; 0 when the gate is open."""
        with self._lock:
            return max(0.0, self._open_at - self._clock())

    def close_for(self, seconds: float) -> None:
        """Baseten refused a request: hold every request for `seconds` (never shortening a longer hold)."""
        with self._lock:
            self._open_at = max(self._open_at, self._clock() + seconds)
