"""The database going away is visible: /healthz says so, people are told nothing changed, the log says it
once, and /healthz recovers when the database returns."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.baseten.sim.server import serve
from bot.baseten.sim.transport import BasetenSimulator
from tests.conftest import reset_postgres
from tests.fakes.slack_api import FakeSlack, text_of
from tests.fakes.slack_payloads import SlackPayloads
from tests.fakes.tcp_proxy import TcpProxy
from tests.local_http import LOCAL
from tests.processes import BotProcess, start_bot
from tests.world import API_KEY, SECRET, TOKEN, postgres_url

NOTHING_CHANGED = "I can't reach my database right now, so nothing was changed"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[FakeSlack, dict[str, str], SlackPayloads]]:
    slack = FakeSlack(token=TOKEN)
    slack.start()
    server = serve(BasetenSimulator(api_key=API_KEY, step_seconds=1.5))
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "BASETEN_API_KEY": API_KEY,
        "BASETEN_API_URL": server.url,
        "CHAINOPS_POLL_INTERVAL": "0.3",
    }
    yield slack, env, SlackPayloads(signing_secret=SECRET, response_url_base=slack)
    server.close()
    slack.close()


def health(bot: BotProcess) -> int:
    return LOCAL.get(f"http://127.0.0.1:{bot.port}/healthz", timeout=10).status_code


def wait_health(bot: BotProcess, status: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while health(bot) != status:
        assert time.monotonic() < deadline, f"/healthz never answered {status}:\n{bot.log()}"
        time.sleep(0.1)


def lock_is_refused_with_nothing_changed(bot: BotProcess, slack: FakeSlack, payloads: SlackPayloads, name: str) -> None:
    bot.send(payloads.slash_command("lock hello-chain production freeze", response_url_name=name))
    slack.wait_for(lambda: slack.last_response(name) is not None, timeout=15)
    assert NOTHING_CHANGED in text_of(slack.last_response(name))
    assert slack.messages("C0DEPLOYS") == []  # no lock announced: none was taken


def assert_logged_once(bot: BotProcess) -> None:
    log = bot.log()
    assert "Traceback" not in log
    # The follower ticks twice a second: a few lines for the outage (one per background loop: outbox,
    # follower, watcher, App Home, health, and the request that met it), not one per tick.
    failures = [line for line in log.splitlines() if "ERROR" in line]
    assert 1 <= len(failures) <= 6, "\n".join(failures)


def test_postgresql_unreachable_turns_healthz_503_and_back(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    url = postgres_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    slack, env, payloads = outside
    reset_postgres(url)
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    via_proxy = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{proxy.port}")))
    bot = start_bot(tmp_path, {**env, "DATABASE_URL": via_proxy})
    try:
        proxy.cut()
        wait_health(bot, 503)
        lock_is_refused_with_nothing_changed(bot, slack, payloads, "during")
        time.sleep(3)  # six follower ticks against the missing database
        assert_logged_once(bot)

        proxy.start()
        wait_health(bot, 200)
        bot.send(payloads.slash_command("lock hello-chain production freeze", response_url_name="after"))
        slack.wait_for(lambda: any("locked" in text_of(m) for m in slack.messages("C0DEPLOYS")), timeout=15)
        assert "works again" in bot.log()
    finally:
        proxy.cut()
        bot.kill()


def test_deleted_sqlite_file_is_noticed(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, env, payloads = outside
    database = tmp_path / "chainops.db"
    bot = start_bot(tmp_path, {**env, "DATABASE_URL": f"sqlite:///{database}"})
    try:
        assert health(bot) == 200
        database.unlink()

        wait_health(bot, 503)
        lock_is_refused_with_nothing_changed(bot, slack, payloads, "deleted")
        time.sleep(3)
        assert_logged_once(bot)
        # The log says where the data is still held, so it can be copied back before a restart.
        held = re.search(r"deleted or replaced while running; its data is still open as (\S+):", bot.log())
        assert held is not None, bot.log()
        assert Path(held.group(1)).read_bytes().startswith(b"SQLite format 3")
    finally:
        bot.kill()
