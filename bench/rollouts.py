"""Rollouts at scale: one process following hundreds of rollouts whose status changes on every poll."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.report import Row, percentile
from tests.fakes.slack_api import FakeSlack
from tests.processes import ROOT

TOKEN = "xoxb-bench-token"


def rollouts_at_scale(*, smoke: bool) -> list[Row]:
    # Slack takes about one message per second per channel: intervals below that only measure pacing.
    n, interval, changes = (20, 1.5, 2) if smoke else (500, 5.0, 6)
    slack = FakeSlack(token=TOKEN)
    slack.start()
    try:
        child = subprocess.run(
            [sys.executable, "-m", "bench.rollouts_child", str(n), str(interval), str(changes), slack.api_url, TOKEN],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )
    finally:
        slack.close()
    if child.returncode != 0:
        raise RuntimeError(f"rollouts benchmark failed:\n{child.stderr[-3000:]}")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    lags = r["lags"]
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    name = f"Rollouts at scale ({n} at once, poll every {interval:g} s)"
    return [
        Row(name, "rollouts finished", f"{n - r['unfinished']} of {n} in {r['elapsed']:.0f} s", "", "all", r["unfinished"] == 0),
        Row(name, "threads (peak)", str(r["peak_threads"]), "", "≤ 32", r["peak_threads"] <= 32),
        Row(name, "RSS (peak)", f"{r['peak_rss_mb']:.0f} MB", "", "≤ 250 MB", r["peak_rss_mb"] <= 250),
        Row(name, "Baseten requests per rollout per interval", f"{r['baseten_per_rollout_per_interval']:.2f}", "", "1", abs(r["baseten_per_rollout_per_interval"] - 1) < 0.05),
        Row(name, "Slack requests per rollout", f"{r['slack_per_rollout']:.1f}", f"{changes} status changes each", ""),
        Row(name, "lag Baseten change → Slack (p50 / p99)", f"{p50:.2f} s / {p99:.2f} s", f"interval {interval:g} s", f"≤ {interval + 1:g} s", p99 <= interval + 1),
    ]
