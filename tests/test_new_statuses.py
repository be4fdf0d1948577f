"""Statuses Baseten adds after this version of chainops never blind it: they are shown as Baseten named
them, count as "in progress" (never success, never failure), and every view keeps working."""

from __future__ import annotations

from pathlib import Path

from bot.baseten.models import DeploymentStatus
from tests.fakes.slack_api import text_of
from tests.world import World, make_world

PROMOTE = "promote hello-chain production dep-hello-4"
QUEUED = "QUEUED_FOR_CAPACITY"


def test_a_rollout_through_a_status_baseten_added_later_is_followed_to_the_end(world: World) -> None:
    world.contract.newer_baseten = True  # answers carry a status the OpenAPI does not list yet
    world.sim.queue_rollouts(QUEUED, steps=2)
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])

    for _ in range(2):
        world.follow(seconds=10)
    [parent] = world.channel_messages()
    assert QUEUED in text_of(parent) and "rolling out" in text_of(parent)
    assert f":hourglass_flowing_sand: `dep-hello-4` *{QUEUED}*" in text_of(parent)

    for _ in range(8):
        world.follow(seconds=10)
    [parent] = world.channel_messages()
    replies = "\n".join(text_of(r) for r in parent.replies)
    assert f"{QUEUED} → *UPDATING*" in replies  # stored as sent, and read back on the next poll
    assert "is live in hello-chain/*production*" in text_of(parent.replies[-1])
    assert "failed" not in replies


def test_a_long_new_status_is_stored_in_postgresql_too(tmp_path: Path, database_url: str) -> None:
    world = make_world(tmp_path, database_url=database_url)
    try:
        status = "WAITING_FOR_GPU_CAPACITY_IN_THE_REQUESTED_REGION"
        world.sim.queue_rollouts(status, steps=2)
        world.command(PROMOTE)
        world.click(world.buttons()["chainops_confirm"])
        for _ in range(10):
            world.follow(seconds=10)
        replies = "\n".join(text_of(r) for r in world.channel_messages()[0].replies)
        assert f"{status} → *UPDATING*" in replies
        assert "is live in" in text_of(world.channel_messages()[0].replies[-1])
    finally:
        world.chainops.close()
        world.slack.close()


def test_a_deployment_that_stays_in_a_new_status_is_never_called_live_or_failed(world: World) -> None:
    world.contract.newer_baseten = True  # answers carry a status the OpenAPI does not list yet
    world.sim.queue_rollouts(QUEUED, steps=1000)
    world.command(PROMOTE)
    world.click(world.buttons()["chainops_confirm"])
    for _ in range(20):
        world.follow(seconds=60)

    [parent] = world.channel_messages()
    assert "rolling out" in text_of(parent)
    assert not any("is live" in text_of(r) or "failed" in text_of(r) for r in parent.replies)


def test_status_shows_a_new_status_as_named(world: World) -> None:
    world.contract.newer_baseten = True  # answers carry a status the OpenAPI does not list yet
    world.sim.add_deployment("chain-hello", "dep-hello-9", environment="production", status=DeploymentStatus("MIGRATING"))

    world.command("status hello-chain")

    shown = world.private_text()
    assert ":hourglass_flowing_sand: Deployment `dep-hello-9` is *MIGRATING*" in shown
    assert "staging" in shown  # the other environment is still there


def test_a_deployment_in_a_new_status_can_be_previewed_and_picked_in_the_form(world: World) -> None:
    world.contract.newer_baseten = True  # answers carry a status the OpenAPI does not list yet
    world.sim.add_deployment("chain-hello", "dep-hello-9", status=DeploymentStatus("MIGRATING"))

    world.command("promote hello-chain production dep-hello-9")
    assert "dep-hello-9" in world.private_text() and "MIGRATING" in world.private_text()

    world.command("promote", response="form")
    view = world.slack.latest_view()
    assert view is not None
    request = world.payloads.block_action(
        action_id="chainops_pick_chain",
        value="chain-hello",
        selected_option={"text": {"type": "plain_text", "text": "hello-chain"}, "value": "chain-hello"},
        view=view,
    )
    world.app.dispatch(request.bolt_request())
    world.settle()
    filled = world.slack.latest_view()
    assert filled is not None
    options = [o["text"]["text"] for b in filled["blocks"] if b.get("block_id") == "deployment" for o in b["element"]["options"]]
    assert any(o.startswith("dep-hello-9") and "MIGRATING" in o for o in options)


def test_an_older_postgresql_schema_is_widened_for_long_statuses(database_url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    from bot.store import connect

    if not database_url.startswith("postgresql"):
        return  # SQLite does not enforce lengths
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(text("CREATE TABLE rollouts (id VARCHAR(32) PRIMARY KEY, last_status VARCHAR(32))"))
    old.dispose()

    engine = connect(url)
    column = next(c for c in inspect(engine).get_columns("rollouts") if c["name"] == "last_status")
    engine.dispose()
    assert getattr(column["type"], "length", None) is None
