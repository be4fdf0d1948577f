"""Start-up: process start to `/healthz` answering 200."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.report import Row
from bench.world import outside_world
from tests.processes import start_bot


def startup(*, smoke: bool) -> list[Row]:
    repeats = 1 if smoke else 5
    times: list[float] = []
    with outside_world() as outside, tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            began = time.monotonic()
            bot = start_bot(Path(tmp), {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/startup-{i}.db"}, name=f"startup-{i}")
            times.append(time.monotonic() - began)
            bot.terminate()
    median = statistics.median(times)
    return [Row("Start-up", "process start → /healthz 200 (median)", f"{median:.2f} s", f"max {max(times):.2f} s", "≤ 2 s", median <= 2.0)]
