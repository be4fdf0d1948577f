"""`/chain watch`: a channel told about every change to a chain, as Slack and Baseten see it."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.slack_api import buttons, text_of
from tests.world import World, make_world

WATCH_INTERVAL = 30.0
ENV_UPDATED = {"event_type": "CHAIN_ENVIRONMENT_UPDATED", "environment_name": "staging", "redeploy_on_promotion": False, "ramp_up_while_promoting": True, "ramp_up_duration_seconds": 600}


def audit_reads(world: World) -> int:
    return sum(1 for e in world.contract.exchanges if e.template.endswith("/audit_logs"))


def watch_pass(world: World, seconds: float = WATCH_INTERVAL) -> None:
    world.clock.advance(seconds)
    world.chainops.watcher.run_once()
    world.deliver()


def test_watch_is_announced_recorded_and_listed(world: World) -> None:
    world.command("watch hello-chain production", response="watch")

    [announcement] = world.channel_messages()
    assert "<@U0ALICE> is watching hello-chain (production) here" in announcement.text
    world.command("watch", response="list")
    assert "hello-chain (production)" in world.private_text("list")
    world.command("history hello-chain", response="history")
    assert "<@U0ALICE> · :eyes: *watching* hello-chain/production" in world.private_text("history")

    world.command("watch hello-chain", channel="C0OTHER", response="all")
    world.command("history hello-chain", response="history2")
    assert "<@U0ALICE> · :eyes: *watching* hello-chain\n" in world.private_text("history2") + "\n"
    world.command("unwatch hello-chain", response="unwatch")
    assert "stopped watching hello-chain (production)" in world.channel_messages()[-1].text
    world.command("unwatch hello-chain", response="again")
    assert "does not watch hello-chain" in world.private_text("again")


def test_bad_watch_requests_are_refused_without_reaching_baseten(world: World) -> None:
    world.command("watch hello-chain prod", response="typo")
    assert "No environment `prod`" in world.private_text("typo")
    world.command("watch <!channel>", response="bad")
    assert "is not a valid chain name" in world.private_text("bad")
    assert world.channel_messages() == []
    assert world.writes == []


def test_outside_promote_is_announced_with_who_and_followed_to_the_end(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="ana@example.com", client_name="truss", client_version="0.11.2", source="API")

    watch_pass(world)

    announcement = world.channel_messages()[-1]
    assert "*ana@example.com* via truss 0.11.2 promoted `dep-hello-4` to hello-chain/*production* outside chainops" in announcement.text
    for _ in range(15):
        world.follow(seconds=10)
    announcement = world.channel_messages()[-1]
    closing = announcement.replies[-1]
    assert "`dep-hello-4` is live in hello-chain/*production*" in text_of(closing)
    [rollback] = buttons(closing)
    assert rollback["action_id"] == "chainops_rollback"
    world.command("history hello-chain production", response="history")
    assert "ana@example.com · :eyes: promoted `dep-hello-4`" in world.private_text("history")


def test_chainops_own_promote_is_announced_once(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.command("promote hello-chain production dep-hello-4")
    world.click(world.buttons()["chainops_confirm"])
    before = len(world.channel_messages())

    watch_pass(world)

    assert len(world.channel_messages()) == before
    assert not any(" via " in m.text for m in world.channel_messages())


def test_an_overtaken_chainops_rollout_says_who_overtook_it(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.command("promote hello-chain production dep-hello-4")
    world.click(world.buttons()["chainops_confirm"])
    world.sim.outside_push("hello-chain", "production", by="ana@example.com")

    watch_pass(world)

    ours = next(m for m in world.channel_messages() if "is promoting" in m.text)
    told = [text_of(r) for r in ours.replies if "Overtaken" in text_of(r)]
    assert told and "*ana@example.com* via truss 0.11.2 promoted" in told[0]
    pushed = [m for m in world.channel_messages() if " via " in m.text]
    assert len(pushed) == 1 and "deployed and promoted new deployment" in pushed[0].text


def test_an_autoscaling_change_is_not_told_it_was_overtaken_by_an_outside_promotion(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.command("autoscaling hello-chain production HelloWorld max=4")  # only raises max: runs at once
    world.sim.outside_push("hello-chain", "production", by="ana@example.com")

    watch_pass(world)

    ours = next(m for m in world.channel_messages() if "is changing autoscaling" in m.text)
    assert ours.replies and not [r for r in ours.replies if "Overtaken" in text_of(r)]
    assert [m for m in world.channel_messages() if "deployed and promoted new deployment" in m.text]


def test_a_restart_mid_stream_loses_and_doubles_nothing(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    row = world.chainops.store.watch.chain("chain-hello")
    assert row is not None
    stale = row.position_json
    for n in range(3):
        world.sim.outside_event("hello-chain", "CHAIN_ENVIRONMENT_UPDATED", ENV_UPDATED, by=f"p{n}@example.com", environment="staging")
    watch_pass(world)
    # As if the process died after posting and before saving where it stood: the log is read again.
    world.chainops.store.watch.release()
    from sqlalchemy import update

    from bot.store.tables import WatchedChain

    with world.chainops.store._session() as s:  # noqa: SLF001
        s.execute(update(WatchedChain).values(position_json=stale))
    world.sim.outside_event("hello-chain", "CHAIN_ENVIRONMENT_UPDATED", ENV_UPDATED, by="p3@example.com", environment="staging")
    watch_pass(world)

    posted = [m.text for m in world.channel_messages() if " via " in m.text]
    assert [next(f"p{n}" for n in range(4) if f"p{n}@" in t) for t in posted] == ["p0", "p1", "p2", "p3"]


def test_two_replicas_read_each_chain_once_per_interval(tmp_path: Path, database_url: str) -> None:
    first = make_world(tmp_path, database_url=database_url)
    second = make_world(tmp_path / "second", database_url=database_url, slack=first.slack, sim=first.sim, clock=first.clock)
    try:
        first.command("watch hello-chain", response="watch")
        first.command("watch hello-chain", channel="C0OTHER", response="other")
        before = audit_reads(first) + audit_reads(second)
        first.sim.outside_promote("hello-chain", "staging", "dep-hello-4", by="ana@example.com")

        for _ in range(3):  # both replicas try, three intervals running
            first.clock.advance(WATCH_INTERVAL)
            first.chainops.watcher.run_once()
            second.chainops.watcher.run_once()
        first.deliver()
        second.deliver()

        assert audit_reads(first) + audit_reads(second) - before == 3
        for channel in ("C0DEPLOYS", "C0OTHER"):
            assert sum("ana@example.com" in m.text for m in first.channel_messages(channel)) == 1
    finally:
        second.chainops.close()
        first.chainops.close()
        first.slack.close()


def test_without_the_audit_log_differences_are_announced_without_who(world: World) -> None:
    world.sim.audit_log_refuses(403)
    world.command("watch hello-chain production", response="watch")
    assert any("Who makes each change can't be shown" in m.text and "(403)" in m.text for m in world.channel_messages())
    watch_pass(world)  # the first comparison
    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="ana@example.com")

    watch_pass(world)

    changed = [m.text for m in world.channel_messages() if "changed:" in m.text]
    assert len(changed) == 1 and "hello-chain/*production*" in changed[0] and "ana@" not in changed[0]
    for _ in range(6):  # the rollout goes live: said once, and nothing is said twice
        watch_pass(world)
    changed = [m.text for m in world.channel_messages() if "changed:" in m.text]
    assert len(changed) == len(set(changed)) and "live deployment `dep-hello-3` → `dep-hello-4`" in changed[-1]

    world.sim.audit_log_refuses(None)  # the key is given access: who made each change is told again
    watch_pass(world)
    assert "audit log can be read again" in world.channel_messages()[-1].text
    world.sim.outside_promote("hello-chain", "production", "dep-hello-2", by="bob@example.com")
    watch_pass(world)
    told = world.channel_messages()[-1].text
    assert "*bob@example.com* via UI" in told and "to hello-chain/*production*" in told


def test_200_changes_after_downtime_are_a_handful_and_a_summary(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    for n in range(200):
        world.sim.outside_event("hello-chain", "CHAIN_ENVIRONMENT_UPDATED", ENV_UPDATED, by=f"p{n}@example.com", environment="staging")

    watch_pass(world, seconds=3600)

    posted = [m.text for m in world.channel_messages()][1:]
    assert len(posted) == 6
    assert posted[-1] == "…and 195 more changes while I was away: `/chain history hello-chain`"
    watch_pass(world)
    assert len(world.channel_messages()) == 7


def test_an_unknown_event_type_is_shown_by_name(world: World) -> None:
    world.contract.newer_baseten = True  # an event type the published spec does not have yet
    world.command("watch hello-chain", response="watch")
    world.sim.outside_event("hello-chain", "CHAIN_TELEPORTED", {"where": "<!channel>"}, by="ana@example.com")

    watch_pass(world)

    assert "made a change `CHAIN_TELEPORTED` to hello-chain" in world.channel_messages()[-1].text


def test_status_links_a_rollout_in_progress_to_the_thread_that_follows_it(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="ana@example.com")
    world.chainops.watcher.run_once(everything=True)
    world.deliver()

    world.command("status hello-chain production", response="status")

    shown = world.private_text("status")
    assert "`dep-hello-4` is rolling out: follow it in" in shown and "its thread" in shown
    assert "(not posted yet)" not in shown


def test_status_says_when_a_rollout_in_progress_is_followed_nowhere(world: World) -> None:
    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="ana@example.com")

    world.command("status hello-chain production", response="status")

    assert "`dep-hello-4` is rolling out, started outside chainops" in world.private_text("status")


def test_an_outside_autoscaling_change_shows_old_and_new_values_in_its_environment(world: World) -> None:
    world.command("watch hello-chain production", response="watch")
    world.sim.outside_autoscaling("hello-chain", "production", "HelloWorld", {"max_replica": 5}, by="ana@example.com")
    world.sim.outside_autoscaling("hello-chain", "staging", "HelloWorld", {"max_replica": 4}, by="bob@example.com")

    watch_pass(world)

    [told] = [m.text for m in world.channel_messages() if " via " in m.text]
    assert "*ana@example.com* via UI changed autoscaling of *HelloWorld* in hello-chain/*production*: max replicas 3 → 5" in told


def test_watching_a_channel_the_bot_is_not_in_is_refused_with_how_to_invite_it(world: World) -> None:
    world.slack.channels_without_bot.add("C0SECRET")

    world.command("watch hello-chain", channel="C0SECRET")

    assert "/invite @chainops" in world.private_text()
    world.command("watch", channel="C0SECRET", response="list")
    assert "watches no chain" in world.private_text("list")


def test_an_outside_instance_type_change_is_told_once_and_followed_in_its_thread(world: World) -> None:
    world.command("watch hello-chain production", response="watch")
    world.sim.outside_instance_type("hello-chain", "production", "RandInt", "2x8", by="ana@example.com")

    watch_pass(world)
    for _ in range(15):
        world.follow(seconds=10)

    [told] = [m for m in world.channel_messages() if " via " in m.text]
    assert "changed the instance type of *RandInt*" in told.text and "hello-chain/*production*" in told.text
    assert any("is live in hello-chain/*production*" in text_of(r) for r in told.replies)


def test_what_baseten_sends_is_shown_as_text(world: World) -> None:
    world.command("watch hello-chain", response="watch")
    world.slack.typed += ["<!channel>*ana*@example.com", "`0.1`"]  # from Baseten: the fake refuses it shown as formatting
    world.sim.outside_promote("hello-chain", "production", "dep-hello-4", by="<!channel>*ana*@example.com", client_name="tru<ss", client_version="`0.1`")

    watch_pass(world)

    [told] = [m.text for m in world.channel_messages() if " via " in m.text]
    assert "&lt;!channel&gt;" in told and "<!channel>" not in told and "tru&lt;ss" in told


def test_status_links_chainops_own_rollout_in_progress_to_its_thread(world: World) -> None:
    world.command("promote hello-chain production dep-hello-4")
    world.click(world.buttons()["chainops_confirm"])

    world.command("status hello-chain production", response="status")

    shown = world.private_text("status")
    assert "`dep-hello-4` is rolling out: follow it in" in shown and "(not posted yet)" not in shown
