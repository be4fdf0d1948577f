"""Starting up: replicas creating the schema together, and what `/healthz` says about a bot that cannot serve."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from bot.http.front_door import front_door
from bot.http.health import database_problem
from bot.http.server import create
from bot.store import StoreUnavailable, connect
from tests.conftest import reset_postgres
from tests.fakes.slack_api import text_of
from tests.local_http import LOCAL
from tests.processes import ROOT, free_port, outside_world, start_bot, terminate
from tests.world import SECRET, TOKEN, World, postgres_url

REFUSED = "Slack refuses the bot token ({}): install the app again or set SLACK_BOT_TOKEN"
REPLICAS = 4
ROUNDS = 6


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1
    )


def test_replicas_starting_together_on_an_empty_postgresql_all_come_up() -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL")
    failures: list[BaseException] = []

    def replica(start: threading.Barrier) -> None:
        start.wait()
        try:
            connect(_sqlalchemy_url(url)).dispose()  # each replica has its own engine, as in its own process
        except BaseException as exc:  # noqa: BLE001 - any failure to start is what this test looks for
            failures.append(exc)

    for _ in range(ROUNDS):
        reset_postgres(url)
        start = threading.Barrier(REPLICAS)
        threads = [threading.Thread(target=replica, args=(start,)) for _ in range(REPLICAS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []


# -- /healthz -----------------------------------------------------------------------------------------


def _healthz(world: World) -> httpx.Response:
    """`/healthz` as the HTTP port answers it, from this world's health checks."""
    door = front_door(world.app, signing_secret=SECRET, health=world.chainops.health.problems)
    server = create(door, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        return LOCAL.get(f"http://127.0.0.1:{server.effective_port}/healthz", timeout=5)
    finally:
        server.close()


@contextmanager
def read_only(engine: Engine) -> Iterator[None]:
    """Every connection refuses writes, as on a read-only file or replica (or a full disk: the same
    `OperationalError` at the first write)."""

    def refuse_writes(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(engine, "connect", refuse_writes)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "connect", refuse_writes)
        engine.dispose()


def test_a_database_that_takes_no_writes_makes_healthz_503_with_the_reason(world: World) -> None:
    health = world.chainops.health
    health.check_database()
    assert _healthz(world).status_code == 200

    with read_only(world.chainops.store.engine):
        health.check_database()
        answer = _healthz(world)
        world.command("lock hello-chain production freeze", response="refused")

        assert answer.status_code == 503
        assert answer.text == "unhealthy\nthe database is read-only: every change is refused"
        assert "nothing was changed" in world.private_text("refused")

    health.check_database()
    assert _healthz(world).status_code == 200


def test_a_bot_token_slack_refuses_makes_healthz_503_and_healthz_never_calls_slack(world: World) -> None:
    health = world.chainops.health
    world.slack.fail_next("auth.test", times=2, error="token_revoked")
    health.check_token()
    calls = len(world.slack.calls_to("auth.test"))

    answers = [_healthz(world) for _ in range(5)]

    assert {a.status_code for a in answers} == {503}
    assert answers[0].text == "unhealthy\n" + REFUSED.format("token_revoked")
    assert len(world.slack.calls_to("auth.test")) == calls  # read from the last check, not asked per probe
    assert world.sim.requests == []  # nor is Baseten

    world.slack.heal()
    health.check_token()
    assert _healthz(world).status_code == 200


def test_slack_being_unreachable_says_nothing_about_the_token(world: World) -> None:
    world.slack.fail_next("auth.test", status=503)
    world.chainops.health.check_token()
    assert _healthz(world).status_code == 200


def test_a_sqlite_file_that_cannot_be_opened_is_named_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "chainops.db"
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "BASETEN_API_KEY": "k"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "http"],
        env={**env, "DATABASE_URL": f"sqlite:///{missing}", "SLACK_API_URL": "http://127.0.0.1:9/"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"chainops: cannot use the database file {missing}: unable to open database file"


def test_socket_mode_serves_healthz_on_the_metrics_port(tmp_path: Path) -> None:
    from tests.fakes.socket_mode import FakeSocketMode

    with outside_world(tmp_path, step_seconds=1.0) as (slack, _sim, env, _payloads):
        slack.fail_next("auth.test", times=100, error="account_inactive")
        socket_mode = FakeSocketMode()
        slack.socket_mode_url = socket_mode.url
        port = free_port()
        env = {**env, "SLACK_APP_TOKEN": slack.app_token, "CHAINOPS_METRICS_PORT": str(port)}
        del env["SLACK_SIGNING_SECRET"]
        log_path = tmp_path / "socket.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "socket"],
                cwd=ROOT,
                env={**{k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"}, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            _wait(lambda: _body(url) == "unhealthy\n" + REFUSED.format("account_inactive"), log_path)
            assert LOCAL.get(url, timeout=5).status_code == 503
            assert LOCAL.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        finally:
            terminate(process)
            socket_mode.close()
    assert "Traceback" not in log_path.read_text()


def _body(url: str) -> str | None:
    try:
        return LOCAL.get(url, timeout=1).text
    except httpx.HTTPError:
        return None


def _wait(condition: Callable[[], bool], log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)


def test_a_postgresql_turned_read_only_makes_healthz_503_until_it_takes_writes_again(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL")
    reset_postgres(url)
    database = urlsplit(url).path.lstrip("/")
    admin = create_engine(_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")

    def read_only_database(on: bool) -> None:
        """As after a failover to a standby: new sessions are read-only, old ones are gone."""
        with admin.connect() as conn:
            setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
            conn.execute(text(f'ALTER DATABASE "{database}" {setting}'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": database},
            )

    with outside_world(tmp_path, step_seconds=1.0) as (slack, _sim, env, payloads):
        bot = start_bot(tmp_path, {**env, "DATABASE_URL": url})
        healthz = f"http://127.0.0.1:{bot.port}/healthz"
        try:
            read_only_database(True)
            _wait(lambda: _body(healthz) == "unhealthy\nthe database is read-only: every change is refused", bot.log_path)
            bot.send(payloads.slash_command("lock hello-chain production freeze", response_url_name="refused"))
            slack.wait_for(lambda: slack.last_response("refused") is not None, timeout=15)
            assert "nothing was changed" in text_of(slack.last_response("refused"))

            read_only_database(False)
            _wait(lambda: _body(healthz) == "ok", bot.log_path)
        finally:
            read_only_database(False)
            bot.kill()
            admin.dispose()
    assert "Traceback" not in bot.log()


@pytest.mark.parametrize(
    ("driver_says", "healthz_says"),
    [
        ("database or disk is full", "the database's disk is full: every change is refused"),
        ('could not extend file "base/16384/2619": No space left on device', "the database's disk is full: every change is refused"),
        ("attempt to write a readonly database", "the database is read-only: every change is refused"),
        ("cannot execute INSERT in a read-only transaction", "the database is read-only: every change is refused"),
        ("permission denied for table health_probes", "the database refuses writes (permission denied): every change is refused"),
    ],
)
def test_why_the_database_takes_no_writes_is_said_in_words(driver_says: str, healthz_says: str) -> None:
    try:
        try:
            raise OperationalError("INSERT INTO health_probes ...", {}, sqlite3.OperationalError(driver_says))
        except OperationalError as exc:
            raise StoreUnavailable("the database cannot be used (OperationalError)") from exc
    except StoreUnavailable as unavailable:
        assert database_problem(unavailable) == healthz_says
