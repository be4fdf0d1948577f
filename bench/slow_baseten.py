"""A slow Baseten: every call answers after 20 s while a pile of status reads is queued, then the
requester clicks Confirm. Measures how long the click takes to reach Baseten's write (the preview's re-check
included), how long anyone waits without news, and how many threads the process holds.

Then a slow Slack: the click's response_url answers after 9 s, or answers 429 with `Retry-After: 120`;
the click's write must reach Baseten just as soon."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from bench.report import Row
from bench.world import outside_world
from bot.baseten.sim.transport import BasetenSimulator
from bot.changes.decide import PREVIEW_CHECK_BUDGET
from tests.fakes.slack_api import buttons, text_of
from tests.processes import BotProcess, start_bot

PROMOTE = "promote hello-chain production dep-hello-4"


class Arrivals:
    """When each request reached the simulator (its answer comes `latency` later)."""

    def __init__(self, sim: BasetenSimulator) -> None:
        self.seen: list[tuple[float, str, str]] = []
        answer = sim.handle_request

        def arrive(request: httpx.Request) -> httpx.Response:
            self.seen.append((time.monotonic(), request.method, request.url.path))
            return answer(request)

        sim.handle_request = arrive  # type: ignore[method-assign]


def _threads(bot: BotProcess) -> int:
    for line in Path(f"/proc/{bot.process.pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def slow_baseten(*, smoke: bool) -> list[Row]:
    latency, reads = (1.0, 8) if smoke else (20.0, 40)
    with outside_world() as outside, tempfile.TemporaryDirectory() as tmp:
        arrivals = Arrivals(outside.sim)
        bot = start_bot(Path(tmp), {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/slow.db"}, name="slow")
        slack, payloads = outside.slack, outside.payloads
        try:
            bot.send(payloads.slash_command(PROMOTE, response_url_name="preview"))
            slack.wait_for(lambda: "Confirm" in text_of(slack.last_response("preview")), timeout=30)
            confirm = next(
                b for b in buttons(slack.last_response("preview")) if b["action_id"] == "chainops_confirm"
            )

            outside.sim.latency = latency
            sent: dict[str, float] = {}
            for i in range(reads):
                name = f"s{i}"
                sent[name] = time.monotonic()
                bot.send(
                    payloads.slash_command(
                        "status hello-chain production", user=f"U{i:04d}", response_url_name=name
                    )
                )
            clicked = time.monotonic()
            bot.send(
                payloads.block_action(
                    action_id="chainops_confirm",
                    value=confirm["value"],
                    container_is_ephemeral=True,
                    response_url_name="preview",
                )
            )

            news: dict[str, float] = {}
            written: float | None = None
            peak_threads = 0
            deadline = clicked + 3 * latency + 15
            while time.monotonic() < deadline and (written is None or len(news) < reads):
                peak_threads = max(peak_threads, _threads(bot))
                now = time.monotonic()
                for name in sent:
                    if name not in news and slack.responses_to(name):
                        news[name] = now
                if written is None:
                    written = next(
                        (
                            t
                            for t, method, path in arrivals.seen
                            if method == "POST" and path.endswith("/promote")
                        ),
                        None,
                    )
                time.sleep(0.05)
        finally:
            bot.kill()
    name = f"Baseten answering after {latency:.0f} s, {reads} status reads queued, then Confirm"
    longest_silence = max((news.get(n, deadline) - t for n, t in sent.items()), default=float("nan"))
    took = written - clicked if written is not None else None
    rows = [
        Row(
            name,
            "click → Baseten write sent",
            f"{took:.2f} s" if took is not None else "never",
            f"{reads} reads queued before it; the preview re-check gives up after {PREVIEW_CHECK_BUDGET} s",
            "≤ 1 s",
            took is not None and took <= 1.0,
        ),
    ]
    rows += [
        Row(
            name,
            "longest wait for a first answer or “still trying” note",
            f"{longest_silence:.1f} s",
            "status reads",
            "≤ 5 s",
            longest_silence <= 5.0,
        ),
        Row(
            name,
            "threads (peak)",
            str(peak_threads),
            "HTTP 32 + workers 16 + Slack lane 4 + poll 8 + outbox + a few",
            "bounded (≤ 80)",
            peak_threads <= 80,
        ),
    ]
    return rows


def slow_slack(*, smoke: bool) -> list[Row]:
    """click_to_write while Slack's response_url answers after 9 s, and while it answers 429 for 120 s."""
    rows: list[Row] = []
    for case, what in (("slow", "answering after 9 s"), ("429", "answering 429, Retry-After: 120")):
        with outside_world() as outside, tempfile.TemporaryDirectory() as tmp:
            arrivals = Arrivals(outside.sim)
            bot = start_bot(
                Path(tmp), {**outside.env, "DATABASE_URL": f"sqlite:///{tmp}/slack.db"}, name=case
            )
            slack, payloads = outside.slack, outside.payloads
            try:
                bot.send(payloads.slash_command(PROMOTE, response_url_name="preview"))
                slack.wait_for(lambda: "Confirm" in text_of(slack.last_response("preview")), timeout=30)
                confirm = next(
                    b for b in buttons(slack.last_response("preview")) if b["action_id"] == "chainops_confirm"
                )
                if case == "slow":
                    slack.slow_responses = 9.0
                else:
                    slack.rate_limit_responses(times=10, retry_after=120)
                clicked = time.monotonic()
                bot.send(
                    payloads.block_action(
                        action_id="chainops_confirm",
                        value=confirm["value"],
                        container_is_ephemeral=True,
                        response_url_name="click",
                    )
                )
                written: float | None = None
                while written is None and time.monotonic() < clicked + 15:
                    written = next(
                        (
                            t
                            for t, method, path in arrivals.seen
                            if method == "POST" and path.endswith("/promote")
                        ),
                        None,
                    )
                    time.sleep(0.01)
                held = 0
                until = time.monotonic() + 3  # the private answer goes out after the write
                while case == "429" and not held and time.monotonic() < until:
                    held = sum("rate limiting private answers" in line for line in bot.log().splitlines())
                    time.sleep(0.05)
            finally:
                slack.heal()
                bot.kill()
        took = written - clicked if written is not None else None
        note = "the preview is closed after the write, off the click's thread"
        if case == "429":
            note += f"; {held} log line for the hold"
        rows.append(
            Row(
                f"Slack's response_url {what}, then Confirm",
                "click → Baseten write sent",
                f"{took:.2f} s" if took is not None else "never",
                note,
                "≤ 1 s",
                took is not None and took <= 1.0,
            )
        )
    return rows
