"""HTTP mode: Bolt's WSGI adapter behind waitress, a production server with a thread per in-flight request,
plus `GET /healthz` and `GET /metrics`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.metrics import exposition

HTTP_THREADS = 32  # each in-flight request holds one thread only until its ack


def wsgi_app(app: App, metrics: CollectorRegistry | None = None) -> Callable[..., Iterable[bytes]]:
    slack = SlackRequestHandler(app, path="/slack/events")

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if environ.get("PATH_INFO") == "/metrics" and metrics is not None:
            body, content_type = exposition(metrics)
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        return slack(environ, start_response)

    return serve


def create(
    app: App, *, host: str = "0.0.0.0", port: int = 3000, metrics: CollectorRegistry | None = None
) -> Any:
    """A waitress server; call `.run()` to serve and `.close()` to stop."""
    return create_server(
        wsgi_app(app, metrics),
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="chainops",
        channel_timeout=30,
    )
