"""Sightings of signed requests are kept in the database while their signature is valid, then pruned;
on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.http.replays import KEEP_FOR, PRUNE_EVERY, Replays
from bot.store.tables import SeenRequest
from tests.world import make_world


def test_a_sighting_is_kept_while_its_signature_is_valid_then_pruned(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    replays = Replays(world.chainops.store, clock=world.clock)
    sent_at = int(world.clock())
    try:
        assert replays.first_time(sent_at, "v0=aa") is True
        assert replays.first_time(sent_at, "v0=aa") is False
        assert replays.first_time(sent_at, "v0=bb") is True  # another request of the same second

        world.clock.advance(max(KEEP_FOR, PRUNE_EVERY) + 1)
        assert replays.first_time(int(world.clock()), "v0=cc") is True  # prunes on the way

        with world.chainops.store.engine.connect() as connection:
            kept = connection.execute(select(SeenRequest.signature)).scalars().all()
        assert kept == ["v0=cc"]
    finally:
        world.chainops.close()
        world.slack.close()
