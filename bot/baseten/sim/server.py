"""`python -m bot simulator`: the built-in Baseten simulator over real HTTP, for a bot in a test workspace."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import httpx

from bot.baseten.sim import admin as sim_admin
from bot.baseten.sim.transport import BasetenSimulator


class SimulatorServer:
    def __init__(self, simulator: BasetenSimulator, host: str, port: int) -> None:
        sim = simulator

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(sim_admin.PREFIX):
                    self._answer(*sim_admin.handle(sim, self.command, self.path, _json(body)))
                    return
                request = httpx.Request(
                    self.command,
                    f"http://{host}:{port}{self.path}",
                    headers=dict(self.headers.items()),
                    content=body,
                )
                try:
                    response = sim.handle_request(request)
                    payload = response.read()
                    status = response.status_code
                except httpx.ConnectError:
                    self.close_connection = True  # a simulated dropped connection
                    return
                self._send(status, payload)

            def _answer(self, status: int, body: Any) -> None:
                self._send(status, json.dumps(body).encode())

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away (a bot killed mid-request)

            do_GET = do_POST = do_PATCH = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:
                return None  # quiet: the bot logs what matters

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = host, int(self._server.server_address[1])
        port = self.port
        # A short poll interval: close() waits up to one of them (the default is half a second).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="baseten-simulator", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return None


def serve(simulator: BasetenSimulator, host: str = "127.0.0.1", port: int = 0) -> SimulatorServer:
    return SimulatorServer(simulator, host, port)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot simulator",
        description="Serve the built-in Baseten simulator over HTTP, for a bot in a test workspace: set "
        "BASETEN_API_URL to its address (any BASETEN_API_KEY is accepted).",
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)"
    )
    parser.add_argument(
        "--step-seconds", type=float, default=5.0, help="seconds per rollout step (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    server = serve(BasetenSimulator(step_seconds=args.step_seconds), args.host, args.port)
    print(
        f"Baseten simulator on {server.url} (chains: hello-chain, summarizer). Any API key is accepted. "
        f"Changes from outside chainops: POST {server.url}/_sim/outside/promote (see the README).",
        flush=True,
    )
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    server.close()
    return 0
