"""Slack's Socket Mode endpoint on loopback: hands the app envelopes and collects their acknowledgements."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self._connections: queue.Queue[ServerConnection] = queue.Queue()
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}, "connection_info": {"app_id": "A0CHAINOPS"}}))
        self._connections.put(connection)
        for message in connection:
            self.acks.put(json.loads(message))

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        """Deliver one envelope (e.g. `slash_commands`) and wait for the app's acknowledgement of it."""
        connection = self._connections.get(timeout=timeout)
        self._connections.put(connection)
        envelope_id = uuid.uuid4().hex
        connection.send(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": kind != "events_api"}))
        while True:
            ack = self.acks.get(timeout=timeout)
            if ack.get("envelope_id") == envelope_id:
                return ack

    def close(self) -> None:
        self._server.shutdown()
