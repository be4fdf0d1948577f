"""Real bot processes: channel messages survive a kill -9 while Slack is down, and a burst in one channel
delays neither changes nor answers in another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.baseten.sim.transport import BasetenSimulator
from tests.fakes.slack_api import buttons, text_of
from tests.processes import Outside, outside_world, start_bot

PROMOTE = "promote hello-chain production dep-hello-4"
BURST = 10


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    with outside_world(tmp_path, step_seconds=1.0, CHAINOPS_LEASE_SECONDS="2") as world:
        yield world


def promote_writes(sim: BasetenSimulator) -> list:
    return [w for w in sim.writes if w.path.endswith("/promote")]


def test_messages_queued_while_slack_is_down_survive_kill_9_and_arrive_once(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    slack.fail_next("chat.postMessage", times=100_000, status=500)
    slack.fail_next("chat.update", times=100_000, status=503)
    bot = start_bot(tmp_path, env)
    try:
        bot.send(payloads.slash_command(PROMOTE))
        slack.wait_for(lambda: "Confirm" in text_of(slack.last_response()))
        [confirm] = [b for b in buttons(slack.last_response()) if b["action_id"] == "chainops_confirm"]
        bot.send(payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True))
        # Slack is down, yet the change goes ahead, and the bot keeps trying to tell the channel.
        slack.wait_for(lambda: len(promote_writes(sim)) == 1, timeout=10)
        slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) >= 2, timeout=10)
        bot.kill()
        assert slack.messages("C0DEPLOYS") == []

        slack.heal()
        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: any("is live in" in text_of(r) for m in slack.messages("C0DEPLOYS") for r in m.replies), timeout=40)

        [parent] = slack.messages("C0DEPLOYS")
        assert "<@U0ALICE> is promoting hello-chain" in parent.text
        replies = [text_of(r) for r in parent.replies]
        assert sum("following deployment" in r for r in replies) == 1
        assert sum("is live in" in r for r in replies) == 1
        assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
        assert len(promote_writes(sim)) == 1
    finally:
        bot.kill()


def test_a_burst_in_one_channel_delays_no_change_and_no_answer_in_another(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    for i in range(BURST):
        sim.add_chain(f"burst{i}", f"chain-burst{i}", {"Hello": "1x4"}, {"production": (1, 2)})
        sim.add_deployment(f"chain-burst{i}", f"dep-b{i}-1", environment="production")
        sim.add_deployment(f"chain-burst{i}", f"dep-b{i}-2")
    pace = 0.5  # seconds between posts in one channel: half the default, so the burst takes half as long
    bot = start_bot(tmp_path, {**env, "CHAINOPS_SLACK_PACE": str(pace)})
    try:
        burst = [
            threading.Thread(target=bot.send, args=(payloads.slash_command(f"promote burst{i} production dep-b{i}-2 --keep-previous"),))
            for i in range(BURST)
        ]
        for thread in burst:
            thread.start()
        bot.send(payloads.slash_command("status hello-chain production", channel="C0OTHER", response_url_name="status"))
        bot.send(payloads.slash_command(PROMOTE, channel="C0OTHER", response_url_name="other"))
        slack.wait_for(lambda: "Confirm" in text_of(slack.last_response("other")), timeout=10)
        [confirm] = [b for b in buttons(slack.last_response("other")) if b["action_id"] == "chainops_confirm"]
        bot.send(payloads.block_action(action_id="chainops_confirm", value=confirm["value"], channel="C0OTHER", container_is_ephemeral=True, response_url_name="other"))
        for thread in burst:
            thread.join()

        # Every change reached Baseten, and the other channel was answered and served, while the busy
        # channel's messages were still going out one per pace.
        slack.wait_for(lambda: len(promote_writes(sim)) == BURST + 1, timeout=10)
        slack.wait_for(lambda: len(slack.messages("C0OTHER")) == 1, timeout=10)
        assert "HelloWorld" in text_of(slack.last_response("status"))
        assert len(slack.messages("C0DEPLOYS")) < BURST // 2

        slack.wait_for(lambda: len(slack.messages("C0DEPLOYS")) == BURST, timeout=60)
        posts = [c.at for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "C0DEPLOYS" and c.error is None]
        gaps = [b - a for a, b in zip(posts, posts[1:], strict=False)]
        assert min(gaps) >= 0.9 * pace  # paced for Slack, not flooding it
    finally:
        bot.kill()


def confirm_promote(bot, slack, payloads) -> None:  # type: ignore[no-untyped-def]
    bot.send(payloads.slash_command(PROMOTE))
    slack.wait_for(lambda: "Confirm" in text_of(slack.last_response()))
    [confirm] = [b for b in buttons(slack.last_response()) if b["action_id"] == "chainops_confirm"]
    bot.send(payloads.block_action(action_id="chainops_confirm", value=confirm["value"], container_is_ephemeral=True))


def closing_posts(slack) -> list:  # type: ignore[no-untyped-def]
    return [c for c in slack.calls_to("chat.postMessage") if c.error is None and "is live in" in str(c.params.get("text"))]


def test_a_bot_killed_while_slack_makes_its_post_finds_it_after_the_restart_and_posts_once(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    slack.answer_late("chat.postMessage", 8.0)  # Slack makes the rollout's message but answers late
    bot = start_bot(tmp_path, env)
    try:
        confirm_promote(bot, slack, payloads)
        slack.wait_for(lambda: len(promote_writes(sim)) == 1, timeout=10)
        slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) == 1, timeout=10)
        time.sleep(1.0)  # the bot records Baseten's answer; Slack's is still 6 s away
        bot.kill()  # before Slack's answer came: the bot never learnt the post's ts
        assert len(slack.messages("C0DEPLOYS")) == 1

        bot = start_bot(tmp_path, env, name="restarted")
        slack.wait_for(lambda: len(closing_posts(slack)) == 1, timeout=40)

        [parent] = slack.messages("C0DEPLOYS")  # found again, not posted a second time
        replies = [text_of(r) for r in parent.replies]
        assert sum("is live in" in r for r in replies) == 1
        assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
        assert len(slack.calls_to("conversations.history")) >= 1
    finally:
        bot.kill()


def test_after_a_slack_outage_the_closing_message_and_its_roll_back_arrive_within_five_seconds(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    slack.fail_next("chat.postMessage", times=100_000, status=500)
    slack.fail_next("chat.update", times=100_000, status=503)
    bot = start_bot(tmp_path, {**env, "CHAINOPS_SLACK_PACE": "1"})  # Slack's pace: the thread takes seconds
    try:
        confirm_promote(bot, slack, payloads)
        slack.wait_for(lambda: len(promote_writes(sim)) == 1, timeout=10)
        time.sleep(6)  # the outage lasts: the rollout finishes meanwhile, and the channel backs off (8 s)
        tries = len(slack.calls_to("chat.postMessage"))
        slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) > tries, timeout=30)

        slack.heal()  # right after a try failed, when the channel was told to wait longest
        healed = time.monotonic()
        slack.wait_for(lambda: len(closing_posts(slack)) == 1, timeout=60)

        [closing] = closing_posts(slack)
        assert closing.at - healed <= 5.0  # the thread's four posts, one a second, after a try within 1.5 s
        [parent] = slack.messages("C0DEPLOYS")
        assert [b["action_id"] for b in buttons(parent.replies[-1])] == ["chainops_rollback"]
    finally:
        bot.kill()
