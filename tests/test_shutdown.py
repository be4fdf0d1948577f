"""SIGTERM with acknowledged work queued: every command is answered or told to retry, within the budget."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import text_of
from tests.processes import Outside, outside_world, start_bot

RETRY = "I'm restarting and did not get to this request; nothing was changed"
SHUTDOWN_SECONDS = 8  # shorter than the 25 s default; the shares of it stay the same


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    with outside_world(tmp_path, step_seconds=1.5) as world:
        yield world


def test_sigterm_with_sixty_queued_commands_answers_every_one_and_exits_in_time(tmp_path: Path, outside) -> None:  # type: ignore[no-untyped-def]
    slack, sim, env, payloads = outside
    bot = start_bot(tmp_path, {**env, "CHAINOPS_WORKERS": "2", "CHAINOPS_SHUTDOWN_SECONDS": str(SHUTDOWN_SECONDS)})
    sim.latency = 1.0  # far more work queued than two workers finish before the platform's kill
    try:
        for i in range(60):
            request = payloads.slash_command("status hello-chain production", user=f"U{i:04d}", response_url_name=f"c{i}")
            assert bot.send(request).status_code == 200

        bot.process.send_signal(signal.SIGTERM)
        assert bot.process.wait(SHUTDOWN_SECONDS) == 0

        answers = [text_of(slack.last_response(f"c{i}")) for i in range(60)]
        finished = [a for a in answers if "HelloWorld" in a]
        told_to_retry = [a for a in answers if RETRY in a]
        assert len(finished) + len(told_to_retry) == 60, answers
        assert finished and told_to_retry
        log = bot.log()
        assert f"shutdown: {len(finished)} requests finished, {len(told_to_retry)} told to retry" in log
        assert "Traceback" not in log
    finally:
        if bot.process.poll() is None:
            bot.kill()
