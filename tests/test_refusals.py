"""A flood of refusals writes one line per reason every few seconds, and the next line says how many
were held back."""

from __future__ import annotations

import logging

import pytest

from bot.http.refusals import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_reason_per_interval_then_the_count_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("tests.refusals")
    log.addFilter(Throttle(interval=10.0, clock=clock))
    with caplog.at_level(logging.WARNING, logger="tests.refusals"):
        for _ in range(100):
            log.warning("refused %s: %s", "198.51.100.7", "bad signature", extra={"reason": "bad signature"})
        log.warning("refused %s: %s", "198.51.100.7", "body too large", extra={"reason": "body too large"})
        clock.now = 10.5
        log.warning("refused %s: %s", "203.0.113.9", "bad signature", extra={"reason": "bad signature"})

    assert [r.getMessage() for r in caplog.records] == [
        "refused 198.51.100.7: bad signature",
        "refused 198.51.100.7: body too large",
        "refused 203.0.113.9: bad signature (and 99 more in the last 10 s)",
    ]
