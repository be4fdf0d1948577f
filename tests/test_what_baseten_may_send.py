"""Answers that Baseten's schema allows but that look nothing like the seeded chains: dates at the edges of
the calendar, environments whose names cannot be put in a URL. Whatever the schema allows is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tests.world import World

FIVE_WEST = timezone(timedelta(hours=-5))
FIVE_EAST = timezone(timedelta(hours=5))


def test_a_deployment_created_at_the_end_of_the_calendar_is_previewed_and_promoted(world: World) -> None:
    # 23:00 at -05:00 on 9999-12-31 is a valid RFC 3339 time whose UTC equivalent is in year 10000.
    world.sim.add_deployment(
        "chain-hello", "dep-far", created_at=datetime(9999, 12, 31, 23, 0, tzinfo=FIVE_WEST)
    )

    world.command("promote hello-chain production dep-far")

    preview = world.private_text()
    assert "`dep-far` (ACTIVE, created 9999-12-31 23:00 UTC-05:00)" in preview
    world.click(world.buttons()["chainops_confirm"])
    assert [w.json["deployment_id"] for w in world.writes] == ["dep-far"]


def test_status_shows_deployments_created_at_either_edge_of_the_calendar(world: World) -> None:
    world.sim.add_deployment(
        "chain-hello",
        "dep-first",
        environment="staging",
        created_at=datetime(1, 1, 1, 0, 30, tzinfo=FIVE_EAST),
    )
    world.sim.add_deployment(
        "chain-hello",
        "dep-last",
        environment="production",
        created_at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    )

    world.command("status hello-chain")

    shown = world.private_text()
    assert "`dep-first` is *ACTIVE* (created 0001-01-01 00:30 UTC+05:00)" in shown
    assert "`dep-last` is *ACTIVE* (created 9999-12-31 23:59 UTC)" in shown


def test_the_promote_form_lists_deployments_created_at_the_edge_of_the_calendar(world: World) -> None:
    from tests.test_modals import last_view, pick

    world.sim.add_deployment(
        "chain-hello", "dep-far", created_at=datetime(9999, 12, 31, 23, 0, tzinfo=FIVE_WEST)
    )
    world.command("promote")
    pick(world, last_view(world, "views.open"), "chainops_pick_chain", "chain-hello")

    assert "dep-far · 9999-12-31 23:00 UTC-05:00" in str(last_view(world, "views.update"))


def test_status_shows_every_environment_and_names_the_one_that_cannot_be_addressed(world: World) -> None:
    odd = "canary – eu west ✨"
    world.sim.add_chain(
        "odd-envs", "chain-odd-envs", {"Main": "1x2"}, {"production": (1, 1), odd: (0, 1), "staging": (0, 1)}
    )
    world.sim.add_deployment("chain-odd-envs", "dep-odd-1", environment="production")
    world.sim.add_deployment("chain-odd-envs", "dep-odd-2", environment="staging")

    world.command("status odd-envs")

    shown = world.private_text()
    assert "odd-envs · production" in shown and "`dep-odd-1` is *ACTIVE*" in shown
    assert "odd-envs · staging" in shown and "`dep-odd-2` is *ACTIVE*" in shown
    assert f"odd-envs · {odd}\n:grey_question: Not shown: chainops cannot address this environment" in shown
    assert not any("canary" in r.path for r in world.sim.requests)


def test_status_shows_an_environment_whose_name_is_longer_than_any_url_segment(world: World) -> None:
    long_name = "e" * 300
    world.sim.add_chain(
        "long-envs", "chain-long-envs", {"Main": "1x2"}, {"production": (1, 1), long_name: (0, 1)}
    )
    world.sim.add_deployment("chain-long-envs", "dep-long-1", environment="production")

    world.command("status long-envs")

    shown = world.private_text()
    assert "`dep-long-1` is *ACTIVE*" in shown
    assert "long-envs · eeee" in shown and "cannot address this environment" in shown
