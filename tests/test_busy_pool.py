"""A slow Baseten never makes a click wait behind reads, and nobody waits long without news."""

from __future__ import annotations

import threading
import time

from bot.runtime.workpool import Priority, WorkPool, answered
from tests.fakes.slack_api import text_of
from tests.world import World

PROMOTE = "promote hello-chain production dep-hello-4"
SLOW = "Baseten is slow to answer; still trying"


def _environment_reads(world: World) -> list[int]:
    return [
        i
        for i, r in enumerate(world.sim.requests)
        if r.method == "GET" and r.path.endswith("/environments/production")
    ]


def test_confirm_click_reaches_baseten_before_queued_status_reads(world: World) -> None:
    world.command(PROMOTE)
    confirm = world.buttons()["chainops_confirm"]
    world.sim.latency = 0.5
    for i in range(24):
        request = world.payloads.slash_command(
            "status hello-chain production", user=f"U{i:04d}", response_url_name=f"s{i}"
        )
        assert world.app.dispatch(request.bolt_request()).status == 200
    click = world.payloads.block_action(
        action_id=confirm["action_id"], value=confirm["value"], container_is_ephemeral=True
    )

    assert world.app.dispatch(click.bolt_request()).status == 200
    world.slack.wait_for(lambda: any(r.path.endswith("/promote") for r in world.sim.requests), timeout=20)
    world.sim.latency = 0.0  # the write has gone; the reads queued behind it need not wait any more
    world.settle()

    [write] = [i for i, r in enumerate(world.sim.requests) if r.path.endswith("/promote")]
    # Most of the status reads, queued before the click, reached Baseten after its write.
    later_reads = [i for i in _environment_reads(world) if i > write]
    assert len(later_reads) >= 12
    assert all("HelloWorld" in world.private_text(f"s{i}") for i in range(24))


def test_person_hears_once_that_baseten_is_slow_then_gets_the_answer(world: World) -> None:
    world.sim.latency = 2.0  # a status takes a few Baseten calls: longer than a person waits without news
    waiting = threading.Thread(
        target=world.command, args=("status hello-chain production",), kwargs={"response": "slow"}
    )
    waiting.start()
    world.app.dispatch(world.payloads.slash_command("help", response_url_name="quick").bolt_request())
    world.slack.wait_for(lambda: any(SLOW in text_of(r) for r in world.slack.shown_responses("slow")), timeout=20)
    world.sim.latency = 0.0  # the notice was the point; the answer need not wait any more
    waiting.join()

    shown = [text_of(r) for r in world.slack.shown_responses("slow")]
    assert [SLOW in t for t in shown] == [True, False]
    assert "HelloWorld" in shown[-1]
    assert not any(SLOW in text_of(r) for r in world.slack.shown_responses("quick"))


def test_help_and_usage_are_answered_at_once_while_status_reads_wait_for_a_slow_baseten(world: World) -> None:
    world.sim.latency = (
        0.5  # each status takes a few Baseten calls; 16 of them fill the reads' share for seconds
    )
    for i in range(16):
        request = world.payloads.slash_command(
            "status hello-chain production", user=f"U{i:04d}", response_url_name=f"s{i}"
        )
        assert world.app.dispatch(request.bolt_request()).status == 200
    asked = time.monotonic()
    for text, name in (
        ("help", "help"),
        ("promote hello-chain", "usage"),
        ("history", "history"),
        ("frobnicate", "unknown"),
    ):
        assert (
            world.app.dispatch(
                world.payloads.slash_command(text, response_url_name=name).bolt_request()
            ).status
            == 200
        )

    world.slack.wait_for(
        lambda: all(world.slack.shown_responses(n) for n in ("help", "usage", "history", "unknown")),
        timeout=10,
    )
    answered = time.monotonic() - asked
    waiting_reads = sum(1 for i in range(16) if not world.slack.shown_responses(f"s{i}"))
    world.sim.latency = 0.0
    world.settle()

    assert answered < 1.0 and waiting_reads > 8  # answered while most status reads were still waiting
    assert "*/chain promote*" in world.private_text("help")
    assert world.private_text("usage").startswith("promote: missing <env> <deployment_id>.")
    assert all("HelloWorld" in world.private_text(f"s{i}") for i in range(16))


def test_still_trying_notices_never_hold_up_answers_that_need_no_baseten() -> None:
    """Hundreds of reads waiting for a slow Baseten each earn a "still trying" notice, all due at once;
    help (on the lane that never waits for Baseten) is answered before they are all sent."""
    pool = WorkPool(2, slow_after=0.1, slack_workers=4)
    release = threading.Event()
    noticed: list[float] = []

    def notice() -> None:
        time.sleep(0.05)  # a response_url post
        noticed.append(time.monotonic())

    try:
        for _ in range(60):
            pool.run(Priority.READ, release.wait, on_slow=notice)
        time.sleep(0.5)  # every read is now due a notice
        asked = time.monotonic()
        help_answered = pool.run_on_slack_lane(time.monotonic).result(timeout=10)
        assert help_answered - asked < 0.2 and len(noticed) < 50
    finally:
        release.set()
        pool.shutdown()


def test_work_answering_when_a_shutdown_runs_out_of_time_gets_its_answer_out_first() -> None:
    """Counted as finished (not told to retry), so its answer must reach its person before the exit."""
    pool = WorkPool(2)
    started = threading.Event()
    told: list[str] = []

    def status() -> None:
        started.set()
        time.sleep(0.2)  # the Baseten read
        assert answered()
        time.sleep(0.3)  # the answer's response_url post
        told.append("answer")

    pool.run(Priority.READ, status, on_abandon=lambda _started: told.append("retry"))
    assert started.wait(5)
    time.sleep(0.25)  # it is answering now
    now = time.monotonic()
    drained = pool.drain(finish_by=now, give_up_by=now + 5)

    assert told == ["answer"]
    assert (drained.finished, drained.told_to_retry, drained.interrupted) == (1, 0, 0)
