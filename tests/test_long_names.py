"""Baseten sets no length limit on names: a chain named at length is changed, followed and recorded like
any other, on SQLite and PostgreSQL, including a PostgreSQL schema created when names had 200 characters."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from bot.store.tables import Base
from tests.fakes.slack_api import text_of
from tests.world import World, make_world

LONG_NAME = "summarizer-" + "very-long-" * 30  # 311 characters
NAME_COLUMNS = {
    "confirmations": ["chain_name", "env"],
    "rollouts": ["chain_id", "chain_name", "env", "deployment_id", "previous_deployment_id", "preview_live"],
    "audit_events": ["chain_id", "chain_name", "env"],
    "chain_locks": ["chain_id", "chain_name", "env"],
}


def _add_long_chain(world: World) -> None:
    world.sim.add_chain(LONG_NAME, "chain-long", {"Main": "1x2"}, {"production": (1, 2)})
    world.sim.add_deployment("chain-long", "dep-long-1", environment="production")
    world.sim.add_deployment("chain-long", "dep-long-2")


def _promote_and_follow(world: World) -> None:
    world.command("lock chain-long production release check", response="lock")
    world.command("unlock chain-long production", response="unlock")
    world.command("promote chain-long production dep-long-2")
    assert LONG_NAME[:100] in world.private_text()
    world.click(world.buttons()["chainops_confirm"])
    assert [w.json["deployment_id"] for w in world.writes] == ["dep-long-2"]
    for _ in range(12):
        world.follow(seconds=10)
    closing = text_of(world.channel_messages()[-1].replies[-1])
    assert "is live in" in closing and "dep-long-2" in closing
    world.command("history chain-long", response="history")
    assert "promote dep-long-2" in world.private_text("history")


def test_a_chain_named_at_length_is_changed_followed_and_recorded(database_url: str, tmp_path: Path) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        _add_long_chain(world)
        _promote_and_follow(world)
        assert "database" not in " ".join(text_of(r) for r in world.slack.shown_responses())
    finally:
        world.chainops.close()
        world.slack.close()


def test_an_older_postgresql_schema_with_200_character_names_is_upgraded_at_start(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        return  # SQLite never enforced lengths
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    old = create_engine(url)
    Base.metadata.create_all(old)
    with old.begin() as conn:  # as an earlier chainops created them
        for table, columns in NAME_COLUMNS.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR(200)'))
    old.dispose()

    world = make_world(tmp_path, database_url=database_url)
    try:
        upgraded = inspect(world.chainops.store.engine)
        for table, columns in NAME_COLUMNS.items():
            lengths = {c["name"]: getattr(c["type"], "length", None) for c in upgraded.get_columns(table)}
            assert all(lengths[c] is None for c in columns), (table, lengths)
        _add_long_chain(world)
        _promote_and_follow(world)
    finally:
        world.chainops.close()
        world.slack.close()
