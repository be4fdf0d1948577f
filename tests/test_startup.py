"""Starting up: replicas creating the schema together, and what `/healthz` says about a bot that cannot serve."""

from __future__ import annotations

import threading

import pytest

from bot.store import connect
from tests.conftest import reset_postgres
from tests.world import postgres_url

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
