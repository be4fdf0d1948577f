"""How long something takes or lasts, said one way wherever a person reads it: "5 seconds", "1 minute",
"1 minute 30 seconds", "2 hours", "1 day 3 hours"."""

from __future__ import annotations

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration(seconds: float) -> str:
    """The two largest units, zero parts left out: precise enough to read, never "1h 00m" or "1 minutes"."""
    left = max(0, int(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(_count(count, name))
        if parts and (len(parts) == 2 or not count):
            break  # two units said, or the one after the largest is zero: "1 hour", not "1 hour 5 seconds"
    return " ".join(parts) or _count(0, "second")


def _count(count: int, name: str) -> str:
    return f"{count} {name}" if count == 1 else f"{count} {name}s"
