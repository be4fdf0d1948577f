"""Log output: readable text by default, or one JSON object per line (CHAINOPS_LOG_FORMAT=json) for log
pipelines. Either way, the request a line belongs to travels with it: the request id, chain, environment
and rollout id are set through contextvars where the work happens, and every line logged inside carries them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

# The correlation fields, in the order they are shown.
FIELDS = ("request_id", "chain", "environment", "rollout_id")

_NONE: Mapping[str, str] = MappingProxyType({})
_fields: ContextVar[Mapping[str, str]] = ContextVar("chainops_log_fields", default=_NONE)


def _merged(values: Mapping[str, str | None]) -> dict[str, str]:
    merged = dict(_fields.get())
    merged.update({k: v for k, v in values.items() if k in FIELDS and v})
    return merged


def annotate(
    *,
    request_id: str | None = None,
    chain: str | None = None,
    environment: str | None = None,
    rollout_id: str | None = None,
) -> None:
    """Correlation fields for the rest of the current task (the work pool runs each task in its own context)."""
    _fields.set(
        _merged(
            {"request_id": request_id, "chain": chain, "environment": environment, "rollout_id": rollout_id}
        )
    )


@contextmanager
def bound(
    *,
    request_id: str | None = None,
    chain: str | None = None,
    environment: str | None = None,
    rollout_id: str | None = None,
) -> Iterator[None]:
    """Correlation fields for the lines logged inside the block (for threads that run many tasks)."""
    values = {"request_id": request_id, "chain": chain, "environment": environment, "rollout_id": rollout_id}
    token = _fields.set(_merged(values))
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> Mapping[str, str]:
    return _fields.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = current()
        if not fields:
            return text
        tail = " ".join(f"{k}={fields[k]}" for k in FIELDS if k in fields)
        first, newline, rest = text.partition("\n")
        return f"{first} [{tail}]{newline}{rest}"


def configure(level: int, log_format: str) -> None:
    """Logging for the whole process; `log_format` is "json" or anything else for text."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format.strip().lower() == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request at INFO (one per rollout poll); chainops logs one line per change instead.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)  # so warnings, too, come out one line each in the chosen format
