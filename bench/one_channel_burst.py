"""A busy release in one channel: 20 promotes typed in #deploys within a second, and a status asked in
another channel meanwhile. Measures when the Baseten writes go out, how long the other channel waits,
and whether every rollout is followed to its end within Slack's one post per second per channel."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.report import Row
from bench.slow_baseten import Arrivals
from bench.world import outside_world
from tests.fakes.slack_api import FakeSlack, text_of
from tests.processes import start_bot

CHANNEL = "C0DEPLOYS"


def _closed(slack: FakeSlack) -> int:
    return sum(1 for m in slack.messages(CHANNEL) if any("is live in" in text_of(r) for r in m.replies))


def one_channel_burst(*, smoke: bool) -> list[Row]:
    n = 5 if smoke else 20
    with outside_world() as outside, tempfile.TemporaryDirectory() as tmp:
        sim, slack, payloads = outside.sim, outside.slack, outside.payloads
        sim.step_seconds = 1.0
        for i in range(n):
            sim.add_chain(f"burst{i}", f"chain-burst{i}", {"Hello": "1x4", "World": "1x2"}, {"production": (1, 2)})
            sim.add_deployment(f"chain-burst{i}", f"dep-b{i}-1", environment="production")
            sim.add_deployment(f"chain-burst{i}", f"dep-b{i}-2")
        arrivals = Arrivals(sim)
        env = {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/burst.db", "CHAINOPS_POLL_INTERVAL": "1"}
        bot = start_bot(Path(tmp), env, name="burst")
        try:
            commands = [payloads.slash_command(f"promote burst{i} production dep-b{i}-2 --keep-previous") for i in range(n)]
            typed = time.monotonic()
            senders = []
            for i, command in enumerate(commands):  # typed within one second
                senders.append(threading.Thread(target=bot.send, args=(command,)))
                senders[-1].start()
                time.sleep(0.9 / n)
                if i == n // 2:
                    asked = time.monotonic()
                    bot.send(payloads.slash_command("status hello-chain production", channel="C0OTHER", response_url_name="status"))
            for sender in senders:
                sender.join()
            slack.wait_for(lambda: bool(slack.responses_to("status")), timeout=30)
            answered = time.monotonic()
            slack.wait_for(lambda: _closed(slack) == n, timeout=60 + 10 * n)
            finished = time.monotonic()
        finally:
            bot.kill()
    writes = sorted(t for t, method, path in arrivals.seen if method == "POST" and path.endswith("/promote"))
    last_write = writes[-1] - typed if len(writes) == n else float("nan")
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == CHANNEL and c.error is None]
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    updates = [c for c in slack.calls_to("chat.update") if c.params.get("channel") == CHANNEL and c.error is None]
    name = f"One-channel burst ({n} promotes in one channel within 1 s)"
    status_wait = answered - asked
    return [
        Row(name, "all Baseten writes sent", f"{len(writes)} of {n}, the last {last_write:.2f} s after the first command", "", "≤ 3 s", last_write <= 3.0),
        Row(name, "status in another channel answered", f"{status_wait:.2f} s", "asked mid-burst", "≤ 1 s", status_wait <= 1.0),
        Row(name, "rollouts followed to the end in the thread", f"{_closed(slack)} of {n}, all in {finished - typed:.0f} s", f"{len(posts)} posts, {len(updates)} updates", "all", _closed(slack) == n),
        Row(name, "posts in the channel per second (peak)", f"{1 / min(gaps):.2f}" if gaps else "n/a", f"{len(posts) / n:.1f} posts per rollout (progress merged)", "≤ 1", bool(gaps) and min(gaps) >= 0.95),
    ]
