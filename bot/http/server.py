"""HTTP mode's server: waitress, tuned and extended for a port on the public internet.

Waitress reads requests on one event loop and hands a request to a thread only once it has fully
arrived, so a slow client holds a socket, never a thread. What it lacks is added here: a deadline for
the whole request (its idle timeout restarts at every trickled byte), and when every connection is
taken, the connections that have been sending the longest are dropped to make room, so that new
connections (Slack's) are always accepted. Bodies over `MAX_BODY` are refused with 413 before they
are read, chunked ones included."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

from bot.http.refusals import refused, throttle

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

HTTP_THREADS = 32  # each complete request holds one thread only until its ack
MAX_BODY = 512 * 1024  # Slack's largest bodies (a modal's view) are far smaller
MAX_HEADERS = 32 * 1024
IN_MEMORY_BODY = 64 * 1024  # larger bodies wait for their end in a temporary file, not in memory
REQUEST_DEADLINE = 10.0  # seconds from a request's first byte to its last; Slack sends in milliseconds
IDLE_TIMEOUT = 15  # seconds a kept-alive connection may stay silent
CONNECTION_LIMIT = 1000
SHED_FRACTION = 0.1  # of the limit, dropped at once when it is reached


class TimedParser(HTTPRequestParser):
    """Created at a request's first byte; remembers when, for the deadline."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.time()

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.error is not None:
            # Never invite the body of a request that is already refused.
            self.expect_continue = False
        return consumed


class LoggedErrorTask(ErrorTask):
    """Waitress's own refusals (413, 431, malformed HTTP) logged like ours: one short line."""

    def execute(self) -> None:
        error: Any = getattr(self.request, "error", None) or self.request
        refused(f"{error.code} {error.reason}", _address(self.channel.addr))
        super().execute()


class Channel(HTTPChannel):
    parser_class = TimedParser
    error_task_class = LoggedErrorTask


class FrontServer(TcpWSGIServer):
    channel_class = Channel
    next_sweep = 0.0
    request_deadline = REQUEST_DEADLINE

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_sweep:
            self.next_sweep = now + 1.0
            self.sweep(now)
        if not self.accepting:
            return False
        if len(self.socket_map) >= self.adj.connection_limit:
            self.shed()
            return False
        return True

    @property
    def socket_map(self) -> dict[int, Any]:
        return self._map  # type: ignore[attr-defined, no-any-return]  # the event loop's map

    def channels(self) -> list[Any]:
        return list(self.active_channels.values())  # type: ignore[attr-defined]  # a dict by file number

    def maintenance(self, now: float) -> None:
        """Waitress's idle sweep is replaced by `sweep`, which also enforces the request deadline."""

    def sweep(self, now: float) -> None:
        idle_cutoff = now - self.adj.channel_timeout
        closing = 0
        for channel in self.channels():
            if channel.requests or channel.will_close:
                continue  # a thread is answering it, or it is already closing
            request = channel.request
            if request is not None and now - request.started > self.request_deadline:
                refused("request not received within its deadline", _address(channel.addr))
                channel.will_close = True
                closing += 1
            elif request is None and channel.last_activity < idle_cutoff:
                channel.will_close = True
                closing += 1
        if closing:
            self.pull_trigger()  # close them now rather than at the next event

    def shed(self) -> None:
        """At the limit: drop the connections that have been sending (or silent) the longest."""
        channels = self.channels()
        closing = sum(1 for c in channels if c.will_close)
        room = max(1, int(self.adj.connection_limit * SHED_FRACTION))
        wanted = len(self.socket_map) - self.adj.connection_limit + room - closing
        candidates = [c for c in channels if not c.requests and not c.will_close]
        if wanted <= 0 or not candidates:
            return  # enough are closing, or every connection is being answered

        def waiting_since(channel: Any) -> float:
            request = channel.request
            return float(request.started if request is not None else channel.last_activity)

        for channel in sorted(candidates, key=waiting_since)[:wanted]:
            refused("connection dropped at the connection limit", _address(channel.addr))
            channel.will_close = True
        self.pull_trigger()


def _address(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else "unknown"


def _connection_limit(wanted: int) -> int:
    """Each connection may need two descriptors (its socket and a spilled body); raise the soft limit
    as far as allowed and keep the connection limit within it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * wanted + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    return max(16, (soft - 256) // 2)


def create(
    application: WSGIApp,
    *,
    host: str = "0.0.0.0",
    port: int = 3000,
    connection_limit: int = CONNECTION_LIMIT,
    request_deadline: float = REQUEST_DEADLINE,
) -> FrontServer:
    """A server for `application`; call `.run()` to serve and `.close()` to stop."""
    throttle(logging.getLogger("waitress.queue"))  # "Task queue depth" at every request under load
    adj = Adjustments(
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="chainops",
        connection_limit=_connection_limit(connection_limit),
        channel_timeout=IDLE_TIMEOUT,
        max_request_body_size=MAX_BODY,
        max_request_header_size=MAX_HEADERS,
        inbuf_overflow=IN_MEMORY_BODY,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 descriptors
        log_socket_errors=False,  # a client resetting its connection is not our error
        expose_tracebacks=False,
    )
    server = FrontServer(application, adj=adj)
    server.request_deadline = request_deadline
    return server
