"""What stops this process from serving, as `/healthz` reports it: a database that cannot be used or takes
no writes (a full disk, a read-only replica), a bot token Slack refuses, a Socket Mode connection that is
down.

The database and the token are checked in the background (the database every few seconds with a real
write, the token with `auth.test` at start and every few minutes) and `/healthz` reads the last result:
a probe costs nothing, never reaches Baseten, and a flood of probes cannot load the database or Slack."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime.repeated import RepeatedFailure
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

DATABASE_EVERY = 2.0  # seconds between write probes
TOKEN_EVERY = 300.0  # seconds between `auth.test` calls
FIRST_CHECK_WAIT = 3.0  # seconds start-up waits for the first round
# What Slack answers for a token it will never accept again; anything else (Slack down, a 429) says
# nothing about the token and is not a reason to take the bot out of service.
REFUSED_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)

Check = Callable[[], str | None]  # the reason this process cannot serve, or None


def database_problem(exc: StoreUnavailable) -> str:
    """Why the database cannot be used, in words an operator acts on; never a URL or a password."""
    cause = exc.__cause__
    found = str(getattr(cause, "orig", cause) or "").lower() if cause is not None else ""
    if "read-only" in found or "readonly" in found or "read only" in found:
        return "the database is read-only: every change is refused"
    if "disk is full" in found or "no space left" in found or "could not extend" in found:
        return "the database's disk is full: every change is refused"
    if "deleted or replaced" in str(exc):  # the log names the file and where its data is still open
        return "the SQLite file was deleted or replaced while running: every change is refused"
    if "permission denied" in found:
        return "the database refuses writes (permission denied): every change is refused"
    return str(exc)


def slack_token_check(client: WebClient) -> Check:
    def check() -> str | None:
        try:
            client.auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in REFUSED_TOKEN:
                return f"Slack refuses the bot token ({error}): install the app again or set SLACK_BOT_TOKEN"
        except Exception:  # Slack unreachable: the token may be fine; the outbox retries what waits
            return None
        return None

    return check


class Health:
    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        slack_token: Check | None = None,
        database_every: float = DATABASE_EVERY,
        token_every: float = TOKEN_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._owner = owner
        self._slack_token = slack_token
        self._database_every = database_every
        self._token_every = token_every
        self._clock = clock
        self._lock = threading.Lock()
        self._found: dict[str, str] = {}  # what -> why it stops the bot from serving
        self._live: list[Check] = []  # cheap, in-memory checks read at every probe
        self._database_failures = RepeatedFailure(log, "the database health check")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what /healthz answers -----------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything that stops this process from serving now; empty when it serves."""
        with self._lock:
            found = list(self._found.values())
        return found + [reason for check in self._live if (reason := check())]

    def watch(self, check: Check) -> None:
        """Also report `check`, read at every probe: it must answer from memory."""
        self._live.append(check)

    # -- the checks ----------------------------------------------------------------------------------

    def check_database(self) -> None:
        try:
            self._store.probe_write(self._owner, self._clock())
        except StoreUnavailable as exc:
            self._database_failures.failed(exc)
            self._set("database", database_problem(exc))
        else:
            self._database_failures.succeeded()
            self._set("database", None)

    def check_token(self) -> None:
        if self._slack_token is None:
            return
        reason = self._slack_token()
        with self._lock:
            before = self._found.get("slack")
        if reason and reason != before:
            log.error("%s", reason)
        elif before and not reason:
            log.warning("Slack accepts the bot token again")
        self._set("slack", reason)

    def _set(self, what: str, reason: str | None) -> None:
        with self._lock:
            if reason:
                self._found[what] = reason
            else:
                self._found.pop(what, None)

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Check at once (start-up waits a moment for it), then keep checking in the background."""
        first_round = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(first_round,), name="chainops-health", daemon=True
        )
        self._thread.start()
        first_round.wait(FIRST_CHECK_WAIT)

    def _run(self, first_round: threading.Event) -> None:
        next_token = 0.0
        while not self._stopping.is_set():
            self.check_database()
            if time.monotonic() >= next_token:
                self.check_token()
                next_token = time.monotonic() + self._token_every
            first_round.set()
            self._stopping.wait(self._database_every)

    def stop(self) -> None:
        # A probe stuck on an unreachable database must not eat the shutdown budget: the thread is a daemon.
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
