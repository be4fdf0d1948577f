"""Acknowledgements never wait for Baseten, even when it is slow and many people type at once."""

from __future__ import annotations

import threading

from bot.http.front_door import front_door
from bot.http.replays import Replays
from bot.http.server import create
from tests.local_http import LOCAL
from tests.world import SECRET, World


def serve(world: World):  # type: ignore[no-untyped-def]
    """The bot's HTTP server on a free port, with the same front door as `python -m bot http`."""
    door = front_door(world.app, signing_secret=SECRET, replays=Replays(world.chainops.store))
    server = create(door, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def test_burst_of_commands_is_acknowledged_before_a_slow_baseten_answers(world: World) -> None:
    world.sim.latency = 1.5
    server = serve(world)
    url = f"http://127.0.0.1:{server.effective_port}/slack/events"
    commands = ["status hello-chain production", "promote hello-chain production dep-hello-4", "help"] * 10
    statuses: list[int] = []
    answered_by_baseten_at_ack: list[int] = []

    def send(i: int, text: str) -> None:
        request = world.payloads.slash_command(text, user=f"U{i:04d}", response_url_name=f"r{i}")
        response = LOCAL.post(url, content=request.body, headers=request.headers, timeout=10)
        statuses.append(response.status_code)
        answered_by_baseten_at_ack.append(len(world.sim.requests))

    try:
        senders = [threading.Thread(target=send, args=(i, text)) for i, text in enumerate(commands)]
        for s in senders:
            s.start()
        for s in senders:
            s.join()
        assert statuses == [200] * len(commands)
        # Every ack went out while Baseten had answered nothing yet.
        assert answered_by_baseten_at_ack == [0] * len(commands)
        world.sim.latency = 0.0  # the acks were the point; the answers need not wait any more
        world.settle()
        assert all(world.private(f"r{i}") for i in range(len(commands)))
    finally:
        server.close()


def test_healthz_answers(world: World) -> None:
    server = serve(world)
    try:
        assert LOCAL.get(f"http://127.0.0.1:{server.effective_port}/healthz").status_code == 200
    finally:
        server.close()
