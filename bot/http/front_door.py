"""HTTP mode's front door: one small routing function, and the checks a request to `/slack/events`
passes before Bolt sees it, cheapest first: method and size, Slack's signature and timestamp, UTF-8,
and a body Bolt can parse; work started by a replay is skipped (bot/http/replays.py). Every refusal is a short answer and one throttled log line;
no request body is ever logged."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App, BoltRequest, BoltResponse

from bot.http.refusals import refused
from bot.http.replays import SIGNATURE_LIFETIME, Replays, checking
from bot.http.server import MAX_BODY, WSGIApp, create
from bot.runtime.metrics import exposition

CONTENT_TYPES = ("application/x-www-form-urlencoded", "application/json")

StartResponse = Callable[..., Any]


class SlackEndpoint:
    def __init__(
        self,
        app: App,
        signing_secret: str,
        replays: Replays | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._secret = signing_secret.encode()
        self.replays = replays
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        remote = str(environ.get("REMOTE_ADDR") or "unknown")

        def refuse(status: int, reason: str) -> Iterable[bytes]:
            refused(reason, remote)
            return respond(start_response, status, reason)

        if environ.get("REQUEST_METHOD") != "POST":
            return refuse(405, "method not allowed")
        length = _content_length(environ)
        if length is None:
            return refuse(400, "invalid Content-Length")
        if length > MAX_BODY:  # the server refuses these before reading; never read one here either
            return refuse(413, "body too large")
        body = environ["wsgi.input"].read(length)
        headers = _headers(environ)
        timestamp = str(headers.get("x-slack-request-timestamp", ""))
        signature = str(headers.get("x-slack-signature", ""))
        problem = self._signature_problem(body, timestamp, signature)
        if problem:
            return refuse(401, problem)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(400, "body is not UTF-8")
        content_type = str(headers.get("content-type", "")).split(";")[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            return refuse(415, "unsupported content type")
        try:
            request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
            if not isinstance(request.body, dict):
                raise ValueError("not an object")
        except Exception:  # Bolt parses JSON and form fields and reads ids; any failure is a bad body
            return refuse(400, "malformed body")
        if self.replays is None:
            return bolt_response(start_response, self.app.dispatch(request))
        # Acknowledged without waiting for the database; the work it starts waits for the check.
        with checking(self.replays.check_soon(int(timestamp), signature, remote)):
            return bolt_response(start_response, self.app.dispatch(request))

    def _signature_problem(self, body: bytes, timestamp: str, signature: str) -> str | None:
        if not signature or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "missing signature"
        if abs(self.clock() - int(timestamp)) > SIGNATURE_LIFETIME:
            return "stale timestamp"
        expected = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        if not hmac.compare_digest(
            b"v0=" + expected.hexdigest().encode(), signature.encode("latin-1", "replace")
        ):
            return "bad signature"
        return None


def front_door(
    app: App,
    *,
    signing_secret: str,
    replays: Replays | None = None,
    metrics: CollectorRegistry | None = None,
    health: Callable[[], list[str]] = list,
) -> WSGIApp:
    """Every path the HTTP port answers."""
    slack = SlackEndpoint(app, signing_secret, replays)
    rest = side_door(metrics=metrics, health=health)

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == "/slack/events":
            return slack(environ, start_response)
        return rest(environ, start_response)

    return route


def side_door(*, metrics: CollectorRegistry | None, health: Callable[[], list[str]]) -> WSGIApp:
    """`/healthz` (and `/metrics`, when given): for the HTTP port, and for a port of their own.

    `/healthz` answers 200 "ok", or 503 with what stops the bot from serving, one reason per line."""

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            problems = health()
            if problems:
                return respond(start_response, 503, "unhealthy\n" + "\n".join(problems))
            return respond(start_response, 200, "ok")
        if path == "/metrics" and metrics is not None:
            body, content_type = exposition(metrics)
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        return respond(start_response, 404, "not found")

    return route


def serve_side_door(port: int, *, metrics: CollectorRegistry, health: Callable[[], list[str]]) -> None:
    """`/metrics` and `/healthz` on a port of their own, in the background (Socket Mode's only port)."""
    server = create(side_door(metrics=metrics, health=health), port=port)
    threading.Thread(target=server.run, name="chainops-side-door", daemon=True).start()


def respond(start_response: StartResponse, status: int, text: str) -> Iterable[bytes]:
    body = text.encode()
    start_response(
        _status_line(status),
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def bolt_response(start_response: StartResponse, response: BoltResponse) -> Iterable[bytes]:
    body = response.body.encode() if isinstance(response.body, str) else bytes(response.body)
    headers = [
        (k, v) for k, values in response.headers.items() if k.lower() != "content-length" for v in values
    ]
    start_response(_status_line(response.status), [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = str(environ.get("CONTENT_LENGTH") or "0")
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _headers(environ: dict[str, Any]) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {
        k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.lower().replace("_", "-")] = str(environ[key])
    return headers
