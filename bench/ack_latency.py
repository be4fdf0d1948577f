"""Ack latency: signed slash commands, 20 at a time, against the real HTTP server while Baseten answers
after one second; beside a bare Bolt app that only acknowledges, served the same way."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.report import Row, percentile
from bench.world import Outside, outside_world
from tests.processes import ROOT, free_port, start_bot

COMMANDS = [
    "help",
    "status hello-chain production",
    "promote hello-chain production dep-hello-4",
    "instance-type hello-chain production RandInt=2x8",
]


def _fire(outside: Outside, url: str, total: int, concurrency: int) -> list[float]:
    requests = [outside.payloads.slash_command(COMMANDS[i % len(COMMANDS)], user=f"U{i % 50:04d}", response_url_name=f"r{i}") for i in range(total)]

    # One pooled client, as Slack keeps connections open; a client per request would time the client.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=10, limits=limits) as client:

        def send(index: int) -> float:
            request = requests[index]
            began = time.monotonic()
            response = client.post(url, content=request.body, headers=request.headers)
            elapsed = time.monotonic() - began
            return elapsed if response.status_code == 200 else 99.0

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(send, range(total)))


def _start_bare(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app"], cwd=ROOT, env={**os.environ, **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/slack/events"


def ack_latency(*, smoke: bool) -> list[Row]:
    total, concurrency = (40, 20) if smoke else (600, 20)
    with outside_world(latency=1.0) as outside, tempfile.TemporaryDirectory() as tmp:
        bot = start_bot(Path(tmp), {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/ack.db"}, name="ack")
        try:
            _fire(outside, bot.url, 20, concurrency)  # warm-up: first auth.test, imports, connections
            chainops = _fire(outside, bot.url, total, concurrency)
        finally:
            bot.kill()
        bare_process, bare_url = _start_bare(outside.env)
        try:
            _fire(outside, bare_url, 20, concurrency)
            bare = _fire(outside, bare_url, total, concurrency)
        finally:
            bare_process.kill()
            bare_process.wait()
    p50, p99 = percentile(chainops, 50), percentile(chainops, 99)
    b50, b99 = percentile(bare, 50), percentile(bare, 99)
    late = sum(1 for t in chainops if t > 3.0)
    ratio = p99 / b99
    name = f"Ack latency ({total} commands, {concurrency} at a time, Baseten 1 s)"
    return [
        Row(name, "p50", f"{p50 * 1000:.1f} ms", f"bare Bolt {b50 * 1000:.1f} ms"),
        Row(name, "p99", f"{p99 * 1000:.1f} ms ({ratio:.2f}× bare)", f"bare Bolt {b99 * 1000:.1f} ms", "≤ 1.5× bare", ratio <= 1.5),
        Row(name, "acks over 3 s", str(late), f"bare Bolt {sum(1 for t in bare if t > 3.0)}", "0", late == 0),
    ]
