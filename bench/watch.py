"""`/chain watch` at scale: 200 watched chains, 5 channels watching each, and a burst of changes made
outside chainops (one on every chain within a second). Measures the Baseten audit-log requests per
interval (one per chain, whatever the channels), posts per channel per second, the lag from the change
to its post in each channel (p50/p99), and the bot's threads and memory.

A change is read within one interval; the burst's 1000 channel messages are then written (on SQLite, one
writer at a time) within about one more, hence the queueing target of two intervals. Delivery to Slack
is the outbox's: 4 Slack calls at a time, each channel at most one post a second."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.report import Row, percentile
from bench.slow_baseten import Arrivals, _threads
from bench.world import outside_world
from bot.baseten.audit_log import AuditLogPosition
from bot.store.database import connect
from bot.store.tables import OutboxMessage, WatchedChain, WatchSubscription
from tests.processes import BotProcess, start_bot

INTERVAL = 5.0
CHANNELS_PER_CHAIN = 5


def _rss_mib(bot: BotProcess) -> float:
    for line in Path(f"/proc/{bot.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _subscribe(database_url: str, chains: list[str], now: float) -> None:
    """The subscriptions, as 1000 `/chain watch` commands would leave them (typed ones are slow to set up)."""
    engine = connect(database_url)
    with Session(engine) as s, s.begin():
        for i, chain_id in enumerate(chains):
            s.add(WatchedChain(chain_id=chain_id, chain_name=f"watched{i}", position_json=AuditLogPosition().model_dump_json(), snapshot_json=json.dumps({"production": f"dep-w{i}-1"}), next_poll_at=now))
            for c in range(CHANNELS_PER_CHAIN):
                s.add(WatchSubscription(channel=f"C{i:03d}X{c}", chain_id=chain_id, env="", chain_name=f"watched{i}", created_by="U0BENCH", created_at=now))
    engine.dispose()


def watch_at_scale(*, smoke: bool) -> list[Row]:
    n = 20 if smoke else 200
    with outside_world() as outside, tempfile.TemporaryDirectory() as tmp:
        sim, slack = outside.sim, outside.slack
        chains = []
        for i in range(n):
            sim.add_chain(f"watched{i}", f"chain-w{i}", {"Hello": "1x4"}, {"production": (1, 2)})
            sim.add_deployment(f"chain-w{i}", f"dep-w{i}-1", environment="production")
            chains.append(f"chain-w{i}")
        database_url = f"sqlite:///{tmp}/watch.db"
        _subscribe(database_url, chains, time.time())
        arrivals = Arrivals(sim)
        env = {**outside.env, "DATABASE_URL": database_url, "CHAINOPS_WATCH_INTERVAL": str(INTERVAL)}
        bot = start_bot(Path(tmp), env, name="watch")
        try:
            time.sleep(INTERVAL + 1)  # every chain read once: the log's start is known
            made: dict[str, float] = {}
            made_wall: dict[str, float] = {}
            burst = time.monotonic()
            for i in range(n):
                made[f"watched{i}"] = time.monotonic()
                made_wall[f"watched{i}"] = time.time()
                sim.outside_autoscaling(f"chain-w{i}", "production", "Hello", {"max_replica": 3}, by=f"ops{i}@example.com")
            expected = n * CHANNELS_PER_CHAIN
            slack.wait_for(lambda: len(_announcements(slack)) >= expected, timeout=60 + n)
            done = time.monotonic()
            intervals = 1 if smoke else 3
            window_start = time.monotonic()  # whole intervals after the burst
            time.sleep(intervals * INTERVAL)
            reads = _audit_reads(arrivals, window_start)
            threads, rss = _threads(bot), _rss_mib(bot)
        finally:
            bot.kill()
        queued = _queued(database_url, made_wall)
    posts = _announcements(slack)
    lags = []
    for call in posts:
        text = str(call.params.get("text", ""))
        chain = next((name for name in made if f" {name}/" in text), None)
        if chain is not None:
            lags.append(call.at - made[chain])
    per_channel: dict[str, list[float]] = {}
    for call in posts:
        per_channel.setdefault(str(call.params.get("channel")), []).append(call.at)
    gaps = [b - a for times in per_channel.values() for a, b in zip(times, times[1:], strict=False)]
    per_interval = reads / intervals
    name = f"Watch ({n} chains × {CHANNELS_PER_CHAIN} channels, a burst of {n} outside changes)"
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    q50, q99 = percentile(queued, 50), percentile(queued, 99)
    return [
        Row(name, "audit-log requests per interval", f"{per_interval:.0f}", f"{n} chains, {n * CHANNELS_PER_CHAIN} subscriptions, interval {INTERVAL:.0f} s", f"≤ {n}", per_interval <= n),
        Row(name, "changes posted", f"{len(posts)} of {n * CHANNELS_PER_CHAIN} in {done - burst:.1f} s", "", "all, none twice", len(posts) == n * CHANNELS_PER_CHAIN),
        Row(name, "posts per channel per second (peak)", f"{1 / min(gaps):.2f}" if gaps else "1 post each", "", "≤ 1", not gaps or min(gaps) >= 0.95),
        Row(name, "lag from the change to its message queued for Slack, p50 / p99", f"{q50:.1f} s / {q99:.1f} s", f"interval {INTERVAL:.0f} s", "p99 ≤ 2 × interval", q99 <= 2 * INTERVAL),
        Row(name, "lag from the change to its post in Slack, p50 / p99", f"{p50:.1f} s / {p99:.1f} s", f"{n * CHANNELS_PER_CHAIN} posts through the outbox's 4 Slack calls at a time", "p99 ≤ 60 s", p99 <= 60),
        Row(name, "bot threads / memory", f"{threads} / {rss:.0f} MiB", "", "", None),
    ]


def _queued(database_url: str, made: dict[str, float]) -> list[float]:
    """Seconds from each change to its channel messages entering the outbox (the bot's own clock)."""
    engine = connect(database_url)
    with Session(engine) as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.key.like("watch-entry:%"))))
    engine.dispose()
    lags = []
    for row in rows:
        chain = next((name for name in made if f" {name}/" in row.text), None)
        if chain is not None:
            lags.append(row.created_at - made[chain])
    return lags


def _audit_reads(arrivals: Arrivals, since: float) -> int:
    return sum(1 for at, method, path in arrivals.seen if at >= since and path.endswith("/audit_logs"))


def _announcements(slack):  # type: ignore[no-untyped-def]
    return [c for c in slack.calls_to("chat.postMessage") if c.error is None and "outside chainops" in str(c.params.get("text", "")) and " via " in str(c.params.get("text", ""))]
