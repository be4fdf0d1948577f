"""Chainlet logs in the simulator, answered the way the logs endpoint describes them: a time window
(`start_epoch_millis`, `end_epoch_millis`, 30 minutes by default), `limit`, `direction`, and `min_level`,
which drops every line without a level. Lines are stamped with the simulator's clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
DEFAULT_WINDOW_MS = 30 * 60 * 1000
MAX_WINDOW_MS = 7 * 24 * 3600 * 1000

# What a chainlet that failed to load prints: the exception's lines carry no level, as in real logs.
# `{module}` stands for the chainlet's name in lower case.
FAILURE_LINES: list[tuple[str | None, str]] = [
    ("ERROR", "Exception while loading the model"),
    (None, "Traceback (most recent call last):"),
    (None, '  File "/app/model/{module}.py", line 42, in <module>'),
    (None, "    check(a < b && c)"),
    (None, "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
]


@dataclass(frozen=True)
class LogLine:
    at: float  # simulator clock, seconds
    level: str | None
    message: str


class LogQueryError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body


def _int(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise LogQueryError(
            422, {"detail": [{"loc": ["query", name], "msg": "Input should be an integer"}]}
        ) from None


def answer(lines: list[LogLine], query: dict[str, str], now: float) -> dict[str, Any]:
    end = _int(query, "end_epoch_millis")
    end = int(now * 1000) if end is None else end
    start = _int(query, "start_epoch_millis")
    start = end - DEFAULT_WINDOW_MS if start is None else start
    if end - start > MAX_WINDOW_MS:
        raise LogQueryError(400, {"error": "The window from start to end must not exceed 7 days"})
    limit = _int(query, "limit")
    limit = 500 if limit is None else limit
    if not 1 <= limit <= 1000:
        raise LogQueryError(
            422, {"detail": [{"loc": ["query", "limit"], "msg": "Must be between 1 and 1000"}]}
        )
    direction = query.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise LogQueryError(422, {"detail": [{"loc": ["query", "direction"], "msg": "Must be asc or desc"}]})
    min_level = query.get("min_level")
    if min_level is not None and min_level not in LEVELS:
        raise LogQueryError(422, {"detail": [{"loc": ["query", "min_level"], "msg": "Unknown level"}]})
    chosen = [
        line
        for line in sorted(lines, key=lambda line: line.at)
        if start <= line.at * 1000 <= end
        and (
            min_level is None
            or (line.level in LEVELS and LEVELS.index(line.level) >= LEVELS.index(min_level))
        )
    ]
    if direction == "desc":
        chosen.reverse()
    return {
        "logs": [
            {
                "timestamp": str(int(line.at * 1e9)),
                "message": line.message,
                "replica": "ab12c",
                "level": line.level,
            }
            for line in chosen[:limit]
        ]
    }
