"""Real bot processes: outside changes announced across a kill -9, each exactly once, in order."""

from __future__ import annotations

from pathlib import Path

from tests.processes import outside_world, start_bot
from tests.test_watch import ENV_UPDATED


def test_a_bot_killed_mid_stream_announces_every_outside_change_once_after_its_restart(tmp_path: Path) -> None:
    with outside_world(tmp_path, step_seconds=1.0, CHAINOPS_WATCH_INTERVAL="0.5", CHAINOPS_SLACK_PACE="1") as (slack, sim, env, payloads):
        bot = start_bot(tmp_path, env)
        try:
            bot.send(payloads.slash_command("watch hello-chain"))
            slack.wait_for(lambda: any("is watching hello-chain" in m.text for m in slack.messages("C0DEPLOYS")), timeout=10)

            def told() -> list[str]:
                return [m.text for m in slack.messages("C0DEPLOYS") if " via " in m.text]

            for n in range(4):
                sim.outside_event("hello-chain", "CHAIN_ENVIRONMENT_UPDATED", ENV_UPDATED, by=f"p{n}@example.com", environment="staging")
            # One posted, the others waiting for the channel's pace, when the bot dies.
            slack.wait_for(lambda: len(told()) >= 1, timeout=10)
            bot.kill()
            sim.outside_event("hello-chain", "CHAIN_ENVIRONMENT_UPDATED", ENV_UPDATED, by="p4@example.com", environment="staging")

            bot = start_bot(tmp_path, env, name="restarted")
            slack.wait_for(lambda: any("p4@" in t for t in told()), timeout=20)

            shown = told()
            assert [next(f"p{n}" for n in range(5) if f"p{n}@" in t) for t in shown] == ["p0", "p1", "p2", "p3", "p4"]
        finally:
            bot.kill()
