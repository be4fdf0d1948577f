"""Chain names are unique only within a team. A name two chains share is refused with both, the id picks
one, and from then on everything (confirm, follow, locks, history, roll back) is about that chain."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.fakes.slack_api import buttons, text_of
from tests.world import World, make_world


def add_beta_hello_chain(world: World) -> None:
    """Team beta's own `hello-chain`, beside team acme's seeded one (`chain-hello`)."""
    world.sim.add_chain(
        "hello-chain", "chain-hello-beta", {"Greeter": "1x2"}, {"production": (1, 2)}, team="beta"
    )
    world.sim.add_deployment("chain-hello-beta", "dep-beta-1", environment="production")
    world.sim.add_deployment("chain-hello-beta", "dep-beta-2")


def finish(world: World) -> None:
    for _ in range(12):
        world.follow(seconds=10)


def writes_to(world: World) -> list[tuple[str, str]]:
    return [(w.path, w.json["deployment_id"]) for w in world.writes]


def test_a_name_two_chains_share_is_refused_with_each_of_them(world: World) -> None:
    add_beta_hello_chain(world)

    for verb in (
        "promote hello-chain production dep-beta-2",
        "status hello-chain",
        "lock hello-chain production",
        "history hello-chain",
    ):
        name = verb.split()[0]
        world.command(verb, response=name)
        shown = world.private_text(name)
        assert "2 chains are named `hello-chain`" in shown, verb
        assert "team acme: `chain-hello`" in shown and "team beta: `chain-hello-beta`" in shown
        assert "Use the id" in shown
    assert world.writes == []
    assert world.channel_messages() == []


def test_the_id_picks_the_chain_and_every_later_step_keeps_to_it(world: World) -> None:
    add_beta_hello_chain(world)

    world.command("promote chain-hello-beta production dep-beta-2")
    assert "hello-chain (team beta, `chain-hello-beta`)" in world.private_text()
    world.click(world.buttons()["chainops_confirm"])
    finish(world)
    [parent] = world.channel_messages()
    assert "is live in hello-chain/*production*" in text_of(parent.replies[-1])
    [rollback] = buttons(parent.replies[-1])

    world.click(rollback, message_ts=parent.replies[-1].ts, response="rollback")
    preview = world.private_text("rollback")
    assert "team beta" in preview and "dep-beta-1" in preview
    world.click(world.buttons("rollback")["chainops_confirm"], response="rollback")

    promote = "/v1/chains/chain-hello-beta/environments/production/promote"
    assert writes_to(world) == [(promote, "dep-beta-2"), (promote, "dep-beta-1")]
    assert not any(r.path.startswith("/v1/chains/chain-hello/") for r in world.sim.requests)
    # Every step is recorded as team beta's chain: requests, decisions, executions and outcomes.
    with world.chainops.store.engine.connect() as conn:
        recorded = set(conn.execute(text("SELECT event, chain_id FROM audit_events")))
    assert {"requested", "confirmed", "executed", "succeeded"} <= {event for event, _ in recorded}
    assert {chain_id for _, chain_id in recorded} == {"chain-hello-beta"}


def test_locks_history_and_preview_checks_belong_to_one_chain_not_to_its_name(world: World) -> None:
    add_beta_hello_chain(world)
    world.command("promote chain-hello-beta production dep-beta-2", response="beta")
    beta_confirm = world.buttons("beta")["chainops_confirm"]

    # Team acme's hello-chain is changed and locked meanwhile; none of it concerns team beta's.
    world.command("promote chain-hello production dep-hello-4 --keep-previous", response="acme")
    world.command("lock chain-hello production acme freeze", response="lock")
    world.command("status chain-hello-beta production", response="status")
    assert "Locked" not in world.private_text("status")

    world.click(beta_confirm, response="beta")
    assert "Confirmed" in world.private_text("beta")
    assert ("/v1/chains/chain-hello-beta/environments/production/promote", "dep-beta-2") in writes_to(world)

    world.command("history chain-hello-beta", response="history")
    history = world.private_text("history")
    assert "dep-beta-2" in history and "dep-hello-4" not in history
    world.command("promote chain-hello production dep-hello-2", response="locked")
    assert "locked by <@U0ALICE>" in world.private_text("locked")


def test_the_chain_picker_tells_same_named_chains_apart_by_team(world: World) -> None:
    add_beta_hello_chain(world)

    options = world.chainops.forms.chain_options("hello")

    assert [o["text"]["text"] for o in options] == [
        "hello-chain · team acme · chain-hello",
        "hello-chain · team beta · chain-hello-beta",
    ]


def test_roll_back_on_a_chain_whose_name_is_no_token(world: World) -> None:
    world.sim.add_chain("Hello Chain ✨ (eu)", "chain-odd", {"Main": "1x2"}, {"production": (1, 2)})
    world.sim.add_deployment("chain-odd", "dep-odd-1", environment="production")
    world.sim.add_deployment("chain-odd", "dep-odd-2")
    world.command("promote chain-odd production dep-odd-2")
    world.click(world.buttons()["chainops_confirm"])
    finish(world)
    [parent] = world.channel_messages()
    [rollback] = buttons(parent.replies[-1])

    world.click(rollback, message_ts=parent.replies[-1].ts, response="rollback")

    assert "Hello Chain ✨ (eu)" in world.private_text("rollback")
    world.click(world.buttons("rollback")["chainops_confirm"], response="rollback")
    promote = "/v1/chains/chain-odd/environments/production/promote"
    assert writes_to(world) == [(promote, "dep-odd-2"), (promote, "dep-odd-1")]


def test_a_lock_kept_by_chain_name_before_the_upgrade_still_holds(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # as an earlier chainops kept locks
        conn.execute(
            text(
                "CREATE TABLE environment_locks (chain_name VARCHAR(200), env VARCHAR(200), locked_by VARCHAR(32), reason TEXT, locked_at FLOAT, PRIMARY KEY (chain_name, env))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO environment_locks VALUES ('hello-chain', 'production', 'U0BOB', 'launch freeze', 1800000000.0)"
            )
        )
    engine.dispose()

    world = make_world(tmp_path, database_url=database_url)
    try:
        world.command("promote hello-chain production dep-hello-4")
        assert "locked by <@U0BOB>" in world.private_text() and "launch freeze" in world.private_text()
        world.command("unlock chain-hello production", response="unlock")
        world.command("promote hello-chain production dep-hello-4", response="again")
        assert "chainops_confirm" in world.buttons("again")
        assert world.writes == []
    finally:
        world.chainops.close()
        world.slack.close()


def test_commands_suggested_for_a_chain_whose_name_is_no_token_name_it_by_id(world: World) -> None:
    environments = {f"env-{i:02d}": (0, 1) for i in range(12)}
    world.sim.add_chain("Hello Chain ✨ (eu)", "chain-odd", {"Main": "1x2"}, environments)

    world.command("status chain-odd")

    assert "…and 2 more environments: see `/chain status chain-odd <env>`." in world.private_text()
