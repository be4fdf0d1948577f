"""The HTTP front door on the public internet, against real bot processes over raw sockets: slow and
many connections cannot stall it, big and malformed bodies are refused cheaply and quietly, and a
replayed signed request is ignored on every replica."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.baseten.sim.server import serve
from bot.baseten.sim.transport import BasetenSimulator
from bot.http.server import MAX_BODY
from tests.fakes.slack_api import FakeSlack, text_of
from tests.fakes.slack_payloads import SlackPayloads
from tests.local_http import LOCAL
from tests.processes import BotProcess, start_bot
from tests.world import API_KEY, SECRET, TOKEN

FORM = "application/x-www-form-urlencoded"


@dataclass
class Outside:
    slack: FakeSlack
    payloads: SlackPayloads
    env: dict[str, str]


REQUEST_DEADLINE = 5.0  # seconds; half the default, since the slowest test here waits it out


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    slack = FakeSlack(token=TOKEN)
    slack.start()
    server = serve(BasetenSimulator(api_key=API_KEY))
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "BASETEN_API_KEY": API_KEY,
        "BASETEN_API_URL": server.url,
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db') / 'chainops.db'}",
        "CHAINOPS_HTTP_REQUEST_DEADLINE": str(REQUEST_DEADLINE),
    }
    yield Outside(slack, SlackPayloads(signing_secret=SECRET, response_url_base=slack), env)
    server.close()
    slack.close()


@pytest.fixture(scope="module")
def bot(outside: Outside, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    process = start_bot(tmp_path_factory.mktemp("bot"), outside.env)
    yield process
    process.kill()


# -- raw HTTP ------------------------------------------------------------------------------------------


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_status(sock: socket.socket) -> int:
    """The status code of the response on `sock` (headers are enough)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a status line: {data!r}")
        data += chunk
    return int(data.split(b" ", 2)[1])


def exchange(port: int, request: bytes) -> int:
    with connect(port) as sock:
        sock.sendall(request)
        return read_status(sock)


def signed(body: bytes, content_type: str = FORM, timestamp: int | None = None) -> bytes:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    return head("/slack/events", headers) + body


def unsigned(body: bytes, content_type: str = FORM) -> bytes:
    return head("/slack/events", {"Content-Type": content_type, "Content-Length": str(len(body))}) + body


def proc_status(bot: BotProcess, field: str) -> int:
    for line in Path(f"/proc/{bot.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc status")


class Tricklers:
    """`count` connections that each send one byte of a request every `every` seconds: half of them
    dribble their headers, half a body they promised; they stop by themselves after `limit` seconds."""

    def __init__(self, port: int, count: int, every: float = 0.3, limit: float = 30.0) -> None:
        self.port = port
        self.sockets: list[socket.socket] = []
        self.closed: set[int] = set()
        self._stop = threading.Event()
        self._every = every
        self._limit = limit
        for n in range(count):
            sock = connect(port)
            if n % 2:
                sock.sendall(head("/slack/events", {"Content-Type": FORM, "Content-Length": "100000"}))
            else:
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        deadline = time.monotonic() + self._limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            for n, sock in enumerate(self.sockets):
                if n in self.closed:
                    continue
                try:
                    sock.send(b"x" if n % 2 else b"X")
                    if sock.recv(1024) == b"":
                        self.closed.add(n)
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed.add(n)
            self._stop.wait(self._every)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


# -- slow and many connections -------------------------------------------------------------------------


def test_slow_connections_cannot_stall_slack_or_healthz(bot: BotProcess, outside: Outside) -> None:
    threads_before = proc_status(bot, "Threads")
    slow = Tricklers(bot.port, 150)
    try:
        time.sleep(1.0)  # every connection has trickled a few bytes since

        began = time.monotonic()
        ack = bot.send(outside.payloads.slash_command("help", response_url_name="slow-help"))
        acked = time.monotonic() - began
        began = time.monotonic()
        health = LOCAL.get(f"http://127.0.0.1:{bot.port}/healthz", timeout=5)
        healthy = time.monotonic() - began

        assert ack.status_code == 200 and acked < 1.0
        assert health.status_code == 200 and healthy < 1.0
        outside.slack.wait_for(lambda: "chainops commands" in text_of(outside.slack.last_response("slow-help")))
        assert len(slow.closed) < 150  # they were still held open while Slack was answered
        assert proc_status(bot, "Threads") <= threads_before + 2  # no thread per slow client

        # A request that is not complete within its deadline loses its connection, trickle or not.
        deadline = time.monotonic() + REQUEST_DEADLINE + 5
        while len(slow.closed) < 150 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(slow.closed) == 150
    finally:
        slow.close()


def test_a_full_server_drops_its_slowest_connections_to_take_new_ones(outside: Outside, tmp_path: Path) -> None:
    bot = start_bot(tmp_path, {**outside.env, "CHAINOPS_HTTP_CONNECTIONS": "40"}, name="small")
    slow = Tricklers(bot.port, 100)
    try:
        time.sleep(0.5)
        began = time.monotonic()
        ack = bot.send(outside.payloads.slash_command("help", response_url_name="full-help"))

        assert ack.status_code == 200 and time.monotonic() - began < 1.0
        assert LOCAL.get(f"http://127.0.0.1:{bot.port}/healthz", timeout=5).status_code == 200
        assert "connection dropped at the connection limit" in bot.log()
    finally:
        slow.close()
        bot.kill()


# -- bodies --------------------------------------------------------------------------------------------


def test_a_body_larger_than_slack_sends_is_refused_before_it_is_read(bot: BotProcess) -> None:
    rss_before = proc_status(bot, "VmRSS")
    size = 8 * 1024 * 1024
    with connect(bot.port) as sock:
        began = time.monotonic()
        sock.sendall(head("/slack/events", {"Content-Type": FORM, "Content-Length": str(size)}))
        status = read_status(sock)
        refused_after = time.monotonic() - began
        sent = 0
        try:
            while sent < size:  # the rest of the body goes nowhere
                sent += sock.send(b"a" * 65536)
        except OSError:
            pass

    assert status == 413 and refused_after < 1.0
    assert proc_status(bot, "VmRSS") - rss_before < 4 * 1024  # kB


def test_a_chunked_body_is_refused_once_it_outgrows_the_limit(bot: BotProcess) -> None:
    rss_before = proc_status(bot, "VmRSS")
    chunk = b"a" * 65536
    with connect(bot.port) as sock:
        sock.sendall(head("/slack/events", {"Content-Type": FORM, "Transfer-Encoding": "chunked"}))
        status = None
        began = time.monotonic()
        try:
            for _ in range(128):  # 8 MB, never sent whole: the answer comes after the first 512 kB
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        status = read_status(sock)

    assert status == 413 and time.monotonic() - began < 2.0
    assert proc_status(bot, "VmRSS") - rss_before < 4 * 1024
    assert MAX_BODY < 8 * 1024 * 1024


def forged(body: bytes, signature: str = "v0=00") -> bytes:
    ts = int(time.time())
    return head(
        "/slack/events",
        {
            "Content-Type": FORM,
            "Content-Length": str(len(body)),
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature,
        },
    ) + body


MALFORMED: dict[str, tuple[int, Callable[[], bytes]]] = {
    "payload that is not JSON": (400, lambda: signed(b"payload=%7Bnot-json")),
    "payload that is a list": (400, lambda: signed(b"payload=%5B1%5D")),
    "non-UTF-8 bytes": (400, lambda: signed(b"text=\xff\xfe\xfa&command=%2Fchain")),
    "form body sent as JSON": (400, lambda: signed(b"command=%2Fchain&text=help", content_type="application/json")),
    "JSON that is not an object": (400, lambda: signed(b"[1, 2]", content_type="application/json")),
    "unknown content type": (415, lambda: signed(b"command=%2Fchain&text=help", content_type="text/plain")),
    "unsigned": (401, lambda: unsigned(b"command=%2Fchain&text=help&secret-marker=1")),
    "bad signature": (401, lambda: forged(b"payload=" + b"z" * 200_000)),
    "stale timestamp": (401, lambda: signed(b"command=%2Fchain&text=help", timestamp=int(time.time()) - 600)),
    "GET": (405, lambda: b"GET /slack/events HTTP/1.1\r\nHost: x\r\n\r\n"),
    "bad request line": (400, lambda: b"NONSENSE\r\n\r\n"),
    "bad Content-Length": (400, lambda: b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
    "headers too large": (431, lambda: b"POST /slack/events HTTP/1.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_requests_get_a_4xx_and_one_short_log_line(bot: BotProcess, kind: str) -> None:
    expected, request = MALFORMED[kind]
    log_before = bot.log_path.stat().st_size

    status = exchange(bot.port, request())

    assert status == expected
    time.sleep(0.1)  # the log line is written after the answer
    log = bot.log()
    assert len(log.encode()) - log_before < 1024
    assert "Traceback" not in log and "secret-marker" not in log and "zzzz" not in log


def test_refusals_are_logged_at_most_once_per_reason_every_few_seconds(bot: BotProcess) -> None:
    request = forged(b"command=%2Fchain&text=help", signature="v0=11")
    log_before = bot.log_path.stat().st_size
    for _ in range(50):
        assert exchange(bot.port, request) == 401
    time.sleep(0.1)

    new = bot.log().encode()[log_before:].decode()
    assert new.count("bad signature") <= 2
    assert len(new) < 1024


def test_unknown_paths_are_not_found(bot: BotProcess) -> None:
    assert LOCAL.get(f"http://127.0.0.1:{bot.port}/admin", timeout=5).status_code == 404


# -- replays -------------------------------------------------------------------------------------------


def test_a_replayed_signed_request_is_acknowledged_and_ignored(bot: BotProcess, outside: Outside) -> None:
    lock = outside.payloads.slash_command("lock hello-chain staging freeze", channel="C0REPLAY", response_url_name="replay")
    unlock = outside.payloads.slash_command("unlock hello-chain staging", channel="C0REPLAY", response_url_name="replay")

    first, again = bot.send(lock), bot.send(lock)
    outside.slack.wait_for(lambda: len(outside.slack.messages("C0REPLAY")) == 1)
    at_once: list[int] = []
    senders = [threading.Thread(target=lambda: at_once.append(bot.send(unlock).status_code)) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    assert first.status_code == 200 and again.status_code == 200 and again.text == ""
    assert at_once == [200] * 4
    outside.slack.wait_for(lambda: len(outside.slack.messages("C0REPLAY")) == 2)
    time.sleep(0.5)  # what a second execution would have posted has had time to arrive
    assert [m.text.split()[0] for m in outside.slack.messages("C0REPLAY")] == [":lock:", ":unlock:"]
    assert outside.slack.responses_to("replay") == []  # no "already locked" or "not locked" answer either
    assert "replayed request ignored" in bot.log()


def test_a_replay_sent_to_another_replica_is_ignored_too(outside: Outside, database_url: str, tmp_path: Path) -> None:
    env = {**outside.env, "DATABASE_URL": database_url}
    replicas = [start_bot(tmp_path, env, name="a"), start_bot(tmp_path, env, name="b")]
    channel = "C0" + database_url.split(":")[0].upper().replace("+", "")[:8]
    request = outside.payloads.slash_command("lock hello-chain production freeze", channel=channel, response_url_name=channel)
    try:
        assert [bot.send(request).status_code for bot in replicas] == [200, 200]

        outside.slack.wait_for(lambda: len(outside.slack.messages(channel)) == 1)
        time.sleep(0.5)
        assert len(outside.slack.messages(channel)) == 1
        assert outside.slack.responses_to(channel) == []
        assert "replayed request ignored" in replicas[1].log()
    finally:
        for bot in replicas:
            bot.kill()


# -- forms -----------------------------------------------------------------------------------------------


def test_a_form_whose_metadata_was_changed_is_refused_by_a_real_bot(bot: BotProcess, outside: Outside) -> None:
    assert bot.send(outside.payloads.slash_command("promote", channel="C0FORMS")).status_code == 200
    outside.slack.wait_for(lambda: outside.slack.latest_view() is not None)
    view = outside.slack.latest_view()
    assert view is not None
    prefix, mac, text = view["private_metadata"].split(".", 2)
    forged = f"{prefix}.{mac}." + text.replace("C0FORMS", "C0ELSEWHERE")
    values = {"chain": {"chainops_pick_chain": {"type": "external_select", "selected_option": {"value": "chain-hello"}}}}

    answer = bot.send(
        outside.payloads.view_submission(
            callback_id=view["callback_id"], values=values, private_metadata=forged, blocks=view["blocks"], view_id=view["id"]
        )
    )

    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "could not be verified" in answer.json()["errors"]["chain"]
