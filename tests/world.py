"""A world for tests: fake Slack on loopback, the Baseten simulator, and the real bot wired to both.

Tests drive it the way Slack does (signed requests through `app.dispatch`) and assert on what a person
in Slack would see and on what reached Baseten."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_bolt import App, BoltRequest, BoltResponse

from bot.baseten.sim.transport import BasetenSimulator
from bot.bootstrap import Chainops, build
from bot.config import Settings
from bot.governance.policy import Policy
from bot.slack.app import build_app
from bot.slack.gateway import WebApiGateway
from bot.slack.outbox import OutboxSettings
from tests.contract import ContractTransport
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import SlackPayloads

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
API_KEY = "bt-secret-api-key-123"


class Clock:
    """A clock tests move by hand; the simulator and the bot share it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    slack: FakeSlack
    payloads: SlackPayloads
    sim: BasetenSimulator
    clock: Clock
    chainops: Chainops
    app: App
    contract: ContractTransport  # every exchange with the simulator, checked against Baseten's OpenAPI
    channel: str = "C0DEPLOYS"
    user: str = "U0ALICE"
    extra: dict[str, Any] = field(default_factory=dict)

    # -- acting as Slack -------------------------------------------------------------------------------

    def command(self, text: str, *, user: str | None = None, channel: str | None = None, response: str = "default") -> BoltResponse:
        request = self.payloads.slash_command(text, user=user or self.user, channel=channel or self.channel, response_url_name=response)
        result = self.app.dispatch(request.bolt_request())
        self.settle()
        return result

    def click(self, button: dict[str, Any], *, user: str | None = None, message_ts: str | None = None, response: str = "default", channel: str | None = None) -> BoltResponse:
        request = self.payloads.block_action(
            action_id=button["action_id"],
            value=button["value"],
            user=user or self.user,
            channel=channel or self.channel,
            message_ts=message_ts,
            container_is_ephemeral=message_ts is None,
            response_url_name=response,
        )
        result = self.app.dispatch(request.bolt_request())
        self.settle()
        return result

    def open_home(self, user: str | None = None) -> dict[str, Any] | None:
        """The person opens the app's Home tab; returns the home Slack then shows them."""
        person = user or self.user
        self.app.dispatch(self.payloads.app_home_opened(user=person).bolt_request())
        self.settle()
        return self.slack.home(person)

    def click_home(self, button: dict[str, Any], *, user: str | None = None) -> BoltResponse:
        """A button pressed on the person's App Home, as Slack sends it: the view, no channel."""
        person = user or self.user
        view = self.slack.home(person) or {"type": "home", "blocks": []}
        request = self.payloads.block_action(action_id=button["action_id"], value=button["value"], user=person, view=view)
        result = self.app.dispatch(request.bolt_request())
        self.settle()
        return result

    def refresh_homes(self, *, seconds: float = 0.0) -> None:
        """Let time pass, then one pass of the App Home refresher."""
        self.clock.advance(seconds)
        self.chainops.home.run_once()

    def settle(self) -> None:
        """Wait for the work every acknowledged request started, and for its channel messages."""
        self.chainops.work.wait_idle(timeout=20)
        self.deliver()

    def deliver(self, timeout: float = 10.0) -> bool:
        """Let the outbox deliver what waits for Slack (retries included, within the timeout)."""
        return self.chainops.sender.drain(timeout)

    def follow(self, *, seconds: float = 0.0) -> None:
        """Let simulated time pass, then run one pass of expiry and of the follower."""
        self.clock.advance(seconds)
        self.chainops.follow_once()
        self.deliver()

    # -- what a person sees ----------------------------------------------------------------------------

    def private(self, name: str = "default") -> dict[str, Any] | None:
        """The ephemeral message the requester currently sees for that response_url."""
        return self.slack.last_response(name)

    def private_text(self, name: str = "default") -> str:
        from tests.fakes.slack_api import text_of

        shown = self.private(name)
        return text_of(shown) if shown else ""

    def channel_messages(self, channel: str | None = None) -> list[Any]:
        return self.slack.messages(channel or self.channel)

    def buttons(self, name: str = "default") -> dict[str, dict[str, Any]]:
        from tests.fakes.slack_api import buttons

        shown = self.private(name)
        return {b["action_id"]: b for b in buttons(shown)} if shown else {}

    @property
    def writes(self) -> list[Any]:
        return list(self.sim.writes)


def make_world(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    policy: Policy | None = None,
    env: dict[str, str] | None = None,
    slack: FakeSlack | None = None,
    sim: BasetenSimulator | None = None,
    clock: Clock | None = None,
    slack_timeout: int = 10,
    outbox: dict[str, float] | None = None,
) -> World:
    """`outbox`: OutboxSettings to change (shorter retries and look-ups), for a test about what Slack's
    failures lead to rather than about how long the bot waits between tries."""
    clock = clock or Clock()
    own_slack = slack is None
    slack = slack or FakeSlack(token=TOKEN)
    if own_slack:
        slack.start()
    sim = sim or BasetenSimulator(api_key=API_KEY, clock=clock, step_seconds=10.0)
    values = {
        "slack_bot_token": SecretStr(TOKEN),
        "slack_signing_secret": SecretStr(SECRET),
        "slack_api_url": slack.api_url,
        "baseten_api_key": SecretStr(API_KEY),
        "database_url": database_url or f"sqlite:///{tmp_path / 'chainops.db'}",
        "chainops_poll_interval": 5.0,
        "chainops_workers": 8,
        "chainops_slack_pace": 0.0,
    }
    settings = Settings.model_validate({**values, **(env or {})})
    gateway = WebApiGateway(TOKEN, base_url=slack.api_url, timeout=slack_timeout)
    contract = ContractTransport(sim)
    delivery = None
    if outbox:
        delivery = OutboxSettings(pace=settings.chainops_slack_pace, give_up=settings.chainops_outbox_give_up, **outbox)  # type: ignore[arg-type]
    chainops = build(settings, gateway=gateway, transport=contract, clock=clock, policy=policy, delivery=delivery)
    chainops.baseten._sleep = lambda _s: None  # retries are immediate in tests  # noqa: SLF001
    app = build_app(chainops)
    _check_acks(app, slack)
    if own_slack:
        slack.clock = clock  # response_url lifetimes follow the bot's clock
    payloads = SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    return World(slack=slack, payloads=payloads, sim=sim, clock=clock, chainops=chainops, app=app, contract=contract)


def _check_acks(app: App, slack: FakeSlack) -> None:
    """Whatever the app answers Slack inline (options, field errors) is held to Slack's rules too."""
    dispatch = app.dispatch

    def checked(request: BoltRequest) -> BoltResponse:
        response = dispatch(request)
        slack.check_ack(str(request.raw_body), response.status, str(response.body or ""))
        return response

    app.dispatch = checked  # type: ignore[method-assign]


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, or under pytest-xdist a database of this worker's own beside it (created on first
    use), so parallel workers never reset each other's tables."""
    url = os.environ.get("TEST_DATABASE_URL") or None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or not worker:
        return url
    return _worker_database(url, worker)


_CREATED: dict[str, str] = {}


def _worker_database(url: str, worker: str) -> str:
    if url in _CREATED:
        return _CREATED[url]
    from sqlalchemy import create_engine, make_url, text

    base = make_url(url.replace("postgres://", "postgresql://", 1))
    name = f"{base.database}_{worker}"
    engine = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    _CREATED[url] = base.set(database=name).render_as_string(hide_password=False)
    return _CREATED[url]
