"""The one mechanism periodic work runs on: named jobs, optional per-item leases, one scheduler, a clean stop."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bot.runtime.loops import LeasedJob, Leases, Loops


class Gone(Exception):
    """Stands for the database being unreachable."""


def eventually(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_a_job_runs_every_interval_until_stopped() -> None:
    loops = Loops()
    runs: list[float] = []
    loops.every("counting", 0.02, lambda: runs.append(time.monotonic()))
    loops.start()
    assert eventually(lambda: len(runs) >= 5)
    loops.stop(timeout=1)
    after = len(runs)
    time.sleep(0.1)
    assert len(runs) == after
    assert not loops.running


def test_a_slow_pass_never_delays_another_job() -> None:
    loops = Loops()
    release = threading.Event()
    quick: list[int] = []
    loops.every("slow", 0.01, lambda: release.wait(5))
    loops.every("quick", 0.01, lambda: quick.append(1))
    loops.start()
    try:
        assert eventually(lambda: len(quick) >= 10)
    finally:
        release.set()
        loops.stop(timeout=2)


def test_a_failing_pass_is_logged_once_and_the_job_keeps_its_schedule(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 20:
            raise Gone("database unreachable")

    loops.every("expiring confirmations", 0.005, flaky, expected=(Gone,))
    with caplog.at_level(logging.WARNING, logger="bot.runtime.loops"):
        loops.start()
        assert eventually(lambda: len(calls) >= 21)
        loops.stop(timeout=1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["expiring confirmations failed: database unreachable"]
    assert errors[0].exc_info is None  # expected: no traceback
    assert any("works again after 19 failures" in r.getMessage() for r in caplog.records)


def test_an_unexpected_failure_carries_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops()
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("bug")

    loops.every("broken", 0.005, broken)
    with caplog.at_level(logging.ERROR, logger="bot.runtime.loops"):
        loops.start()
        assert eventually(lambda: len(calls) >= 5)
        loops.stop(timeout=1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


def test_wake_runs_the_next_pass_now() -> None:
    loops = Loops()
    runs: list[int] = []
    loops.every("delivering", 60.0, lambda: runs.append(1))
    loops.start()
    try:
        assert eventually(lambda: len(runs) == 1)
        time.sleep(0.05)
        assert len(runs) == 1  # the next one is a minute away
        loops.wake("delivering")
        assert eventually(lambda: len(runs) == 2)
    finally:
        loops.stop(timeout=1)


def test_a_job_name_is_registered_once() -> None:
    loops = Loops()
    loops.every("following rollouts", 1, lambda: None)
    with pytest.raises(ValueError):
        loops.every("following rollouts", 1, lambda: None)


class Table:
    """Items with leases, as the store keeps them."""

    def __init__(self, items: list[str]) -> None:
        self.due = set(items)
        self.owner: dict[str, str] = {}
        self.renewed: list[float] = []
        self.released = 0
        self.forgot = 0
        self.lock = threading.Lock()

    def claim(self, now: float) -> list[str]:
        with self.lock:
            free = [i for i in sorted(self.due) if i not in self.owner]
            for item in free:
                self.owner[item] = "me"
            return sorted(i for i in self.due if self.owner.get(i) == "me")

    def release(self) -> None:
        with self.lock:
            self.owner.clear()
            self.released += 1


def leased(table: Table, work, *, clock=time.time, workers: int = 4) -> LeasedJob[str]:
    return LeasedJob(
        "following rollouts",
        interval=0.01,
        claim=table.claim,
        key=lambda item: item,
        work=work,
        workers=workers,
        leases=Leases(renew=table.renewed.append, release=table.release, forget_stale=lambda: setattr(table, "forgot", 1)),
        clock=clock,
    )


def test_each_item_is_worked_once_at_a_time_under_a_renewed_lease() -> None:
    table = Table(["r1", "r2"])
    running: dict[str, int] = {"r1": 0, "r2": 0}
    most = {"r1": 0, "r2": 0}
    done: list[str] = []
    lock = threading.Lock()

    def work(item: str) -> None:
        with lock:
            running[item] += 1
            most[item] = max(most[item], running[item])
        time.sleep(0.03)  # several passes see it due meanwhile
        with lock:
            running[item] -= 1
            done.append(item)

    loops = Loops()
    job = loops.add(leased(table, work))
    loops.start()
    assert table.forgot == 1
    assert eventually(lambda: done.count("r1") >= 2 and done.count("r2") >= 2)
    loops.stop(timeout=2)
    assert most == {"r1": 1, "r2": 1}
    assert len(table.renewed) >= 3
    assert table.released == 1 and table.owner == {}
    assert job.wait_idle(0)


def test_stop_lets_items_under_way_finish_and_leaves_the_rest_due() -> None:
    table = Table(["r1"])
    started = threading.Event()
    finished: list[str] = []

    def work(item: str) -> None:
        started.set()
        time.sleep(0.1)
        finished.append(item)

    loops = Loops()
    job = loops.add(leased(table, work))
    loops.start()
    assert started.wait(2)
    loops.stop(timeout=2)
    assert finished == ["r1"]
    assert job.submit("r2") is None  # stopped: nothing new starts; it stays due for whoever takes over


def test_a_lease_that_cannot_be_handed_back_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    def unreachable() -> None:
        raise Gone("database unreachable")

    job = LeasedJob(
        "following rollouts", interval=1, claim=lambda now: [], key=str, work=print, workers=1,
        leases=Leases(release=unreachable), expected=(Gone,),
    )
    with caplog.at_level(logging.WARNING, logger="bot.runtime.loops"):
        job.stop(time.monotonic() + 1)
    assert "could not hand leases back (database unreachable)" in caplog.text


def test_a_pass_inline_uses_the_jobs_clock_and_says_when_the_next_item_is_due() -> None:
    now = [1000.0]
    seen: list[float] = []
    job = LeasedJob(
        "following rollouts",
        interval=0.5,
        claim=lambda t: seen.append(t) or [],
        key=str,
        work=print,
        workers=1,
        next_due=lambda: 1000.2,
        clock=lambda: now[0],
    )
    assert job.run() == pytest.approx(0.2)
    assert seen == [1000.0]
    now[0] = 2000.0
    assert job.run() == 0.01  # overdue: at once


def test_an_expected_failure_another_job_already_reports_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops()
    calls: list[int] = []

    def gone() -> None:
        calls.append(1)
        raise Gone("database unreachable")

    loops.every("expiring confirmations", 0.005, gone, expected=(Gone,), expected_level=logging.WARNING)
    with caplog.at_level(logging.WARNING, logger="bot.runtime.loops"):
        loops.start()
        assert eventually(lambda: len(calls) >= 3)
        loops.stop(timeout=1)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "expiring confirmations failed: database unreachable")
    ]
