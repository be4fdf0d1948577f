"""SIGTERM with acknowledged status commands queued behind a slow Baseten: how long until the process
exits, and how many of the commands were answered (with their result, or told plainly to retry)."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from bench.report import Row
from bench.world import outside_world
from tests.fakes.slack_api import text_of
from tests.processes import start_bot


def shutdown(*, smoke: bool) -> list[Row]:
    commands, latency = (10, 0.5) if smoke else (60, 2.0)
    with outside_world(latency=latency) as outside, tempfile.TemporaryDirectory() as tmp:
        bot = start_bot(Path(tmp), {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/stop.db"}, name="stop")
        try:
            for i in range(commands):
                request = outside.payloads.slash_command("status hello-chain production", user=f"U{i:04d}", response_url_name=f"c{i}")
                assert bot.send(request).status_code == 200
            began = time.monotonic()
            bot.process.send_signal(signal.SIGTERM)
            code = bot.process.wait(60)
            took = time.monotonic() - began
        finally:
            if bot.process.poll() is None:
                bot.kill()
        answers = [text_of(outside.slack.last_response(f"c{i}")) for i in range(commands)]
    finished = sum(1 for a in answers if "HelloWorld" in a)
    retry = sum(1 for a in answers if "I'm restarting" in a)
    name = f"SIGTERM with {commands} status commands queued (Baseten {latency:g} s)"
    return [
        Row(name, "SIGTERM → exit", f"{took:.1f} s (exit code {code})", "platforms kill after 30 s", "≤ 25 s", took <= 25.0 and code == 0),
        Row(name, "commands answered", f"{finished + retry} of {commands}", f"{finished} with their result, {retry} told to retry", "all", finished + retry == commands),
    ]
