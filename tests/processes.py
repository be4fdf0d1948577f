"""Real bot processes for restart and replica tests: `python -m bot serve` against fake Slack and the
simulator served over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.baseten.sim.server import serve
from bot.baseten.sim.transport import BasetenSimulator
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import SignedRequest, SlackPayloads
from tests.local_http import LOCAL
from tests.world import API_KEY, SECRET, TOKEN

Outside = tuple[FakeSlack, BasetenSimulator, dict[str, str], SlackPayloads]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def outside_world(db_dir: Path, *, step_seconds: float, **env: str) -> Iterator[Outside]:
    """What a bot process talks to: the fake Slack, the simulator served over HTTP, and the environment
    pointing a bot at both (plus `env`)."""
    slack = FakeSlack(token=TOKEN)
    slack.start()
    sim = BasetenSimulator(api_key=API_KEY, step_seconds=step_seconds)
    server = serve(sim)
    full_env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "BASETEN_API_KEY": API_KEY,
        "BASETEN_API_URL": server.url,
        "DATABASE_URL": f"sqlite:///{db_dir / 'chainops.db'}",
        "CHAINOPS_POLL_INTERVAL": "0.3",
        # A tenth of Slack's pace: a rollout's few posts need not take seconds. Tests about pacing set it.
        "CHAINOPS_SLACK_PACE": "0.1",
        **env,
    }
    try:
        yield slack, sim, full_env, SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    finally:
        server.close()
        slack.close()


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def send(self, request: SignedRequest) -> httpx.Response:
        return LOCAL.post(self.url, content=request.body, headers=request.headers, timeout=10)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        return terminate(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> Samples:
        return scrape(f"http://127.0.0.1:{self.port}/metrics")


def terminate(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, and its exit code; killed if it has not exited in time (then the test fails), so a
    bot that hangs never outlives its test, eating the CPU of the tests after it."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by name and labels."""
    response = LOCAL.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when it has not been recorded yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def start_bot(tmp_path: Path, env: dict[str, str], name: str = "bot") -> BotProcess:
    port = free_port()
    log_path = tmp_path / f"{name}-{port}.log"
    full_env = {**os.environ, **env, "PORT": str(port)}
    full_env.pop("SLACK_APP_TOKEN", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "http"], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    bot = BotProcess(process, port, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bot exited with {process.returncode}:\n{bot.log()}")
        try:
            if LOCAL.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return bot
        except httpx.HTTPError:
            time.sleep(0.05)
    bot.kill()
    raise AssertionError(f"bot never became healthy:\n{bot.log()}")
