"""What the bot talks to during a benchmark: fake Slack and the Baseten simulator, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.baseten.sim.server import SimulatorServer, serve
from bot.baseten.sim.transport import BasetenSimulator
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import SlackPayloads

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
API_KEY = "bench-api-key"


@dataclass
class Outside:
    slack: FakeSlack
    sim: BasetenSimulator
    server: SimulatorServer
    payloads: SlackPayloads

    @property
    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "BASETEN_API_KEY": API_KEY,
            "BASETEN_API_URL": self.server.url,
        }


@contextmanager
def outside_world(*, latency: float = 0.0) -> Iterator[Outside]:
    slack = FakeSlack(token=TOKEN)
    slack.start()
    sim = BasetenSimulator(api_key=API_KEY, latency=latency)
    server = serve(sim)
    try:
        yield Outside(slack, sim, server, SlackPayloads(signing_secret=SECRET, response_url_base=slack))
    finally:
        server.close()
        slack.close()
