from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.world import World, make_world, postgres_url


SHM = Path("/dev/shm")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Temporary files (each test's SQLite database, bot logs) live in memory when the machine has a
    tmpfs: a commit then costs no disk flush. Nothing a test asserts depends on it (a killed process
    loses nothing either way); the suite runs about a third faster on a busy disk. In a directory of this
    run's own, so runs side by side never clear each other's; `--basetemp` still wins."""
    if config.option.basetemp or hasattr(config, "workerinput") or not os.access(SHM, os.W_OK):
        return
    config.option.basetemp = tempfile.mkdtemp(prefix="chainops-tests-", dir=SHM)
    config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run bot processes take seconds each; the rest, milliseconds. Parallel workers are
    handed runs of consecutive tests, so the slow ones are spread evenly over the first two thirds of
    the order: each worker gets its share, and the quick ones fill in at the end, instead of one worker
    still running slow tests after the others are done."""
    slow = [item for item in items if hasattr(getattr(item, "module", None), "start_bot")]
    quick = [item for item in items if not hasattr(getattr(item, "module", None), "start_bot")]
    if not slow:
        return
    every = max(1, (2 * len(items) // 3) // len(slow))
    ordered: list[pytest.Item] = []
    for i, item in enumerate(quick):
        if slow and i % every == 0:
            ordered.append(slow.pop(0))
        ordered.append(item)
    items[:] = ordered + slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.chainops.close()
    w.slack.close()
    # Whatever the test did, nothing that crossed to Baseten or back broke its published OpenAPI.
    assert w.contract.violations == []


def reset_postgres(url: str) -> str:
    """A clean schema for each test on the shared PostgreSQL database."""
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
    engine = create_engine(sa_url)
    with engine.begin() as conn:
        # Every table, including ones added later, without keeping a list here.
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chainops.db'}"
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return reset_postgres(url)
