"""Every channel post and update leaves through the outbox: the product writes what a message should say
into the database, and the sender delivers it to Slack when it can.

So a Slack outage never stops a change, nothing said is lost across restarts, and retries, pacing
(about one post per second per channel) and coalescing live here, and nowhere else. Pacing is a time in
the database, never a sleep: a busy channel holds no thread and delays no other channel."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from bot import markup
from bot.gateway import Blocks, Gateway, NotInChannel, SlackFailure, SlackRateLimited, SlackUnavailable
from bot.markup import Mrkdwn, as_mrkdwn
from bot.repeated import RepeatedFailure
from bot.store import StoreUnavailable
from bot.store.outbox import OutboxStore
from bot.store.tables import OutboxMessage, OutboxState
from bot.workpool import Lane

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSettings:
    pace: float = 1.0  # seconds between two posts in one channel (Slack allows about one per second)
    give_up: float = 4 * 3600.0  # keep retrying a message through an outage this long
    lease_seconds: float = 20.0  # a replica delivering a channel holds it this long at most
    workers: int = 4  # Slack calls in flight at once, each for a different channel
    tick: float = 0.25
    max_backoff: float = 60.0


class Outbox:
    """What the product calls to say something in a channel. Nothing here talks to Slack."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        clock: Callable[[], float] = time.time,
        sender: OutboxSender | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sender = sender

    def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        key: str | None = None,
        thread: str | None = None,
        merge: str | None = None,
        link: str | None = None,
        notify_url: str | None = None,
        notify_text: str | None = None,
    ) -> str:
        """Queue a post; returns its key. `thread` is the parent's key, `merge` joins successive replies
        that are still unposted into one, `link` appends a link to that message once it exists, and
        `notify_url`/`notify_text` tell the requester privately if the bot is not in the channel."""
        now = self.clock()
        key = self.store.add(
            OutboxMessage(
                key=key or uuid.uuid4().hex,
                channel=channel,
                thread_key=thread,
                merge_key=merge,
                link_key=link,
                text=as_mrkdwn(text),
                blocks_json=json.dumps(blocks or []),
                notify_url=notify_url,
                notify_text=as_mrkdwn(notify_text) if notify_text else None,
                state=OutboxState.PENDING,
                version=1,
                sent_version=0,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
        self._wake()
        return key

    def update(self, key: str, text: str, blocks: Blocks | None = None) -> None:
        """New content for a message already queued: Slack gets only the latest."""
        if self.store.revise(key, as_mrkdwn(text), json.dumps(blocks or [])):
            self._wake()
        else:
            log.warning("no message %s to update", key)

    def adopt(self, key: str, channel: str, ts: str) -> None:
        self.store.adopt(key, channel, ts, self.clock())

    def first_attempt(self, key: str, wait: float = 1.0) -> str | None:
        """Try to deliver this message now, waiting at most `wait` seconds; the Slack error code if Slack
        refused it for good (e.g. `not_in_channel`), else None (delivered, or still on its way)."""
        if self.sender is not None:
            self.sender.attempt(key, wait)
        message = self.store.message(key)
        return message.error if message is not None and message.state == OutboxState.DEAD else None

    def _wake(self) -> None:
        if self.sender is not None:
            self.sender.wake()


class OutboxSender:
    """Delivers the outbox to Slack: one scheduler thread and a few sender threads, each serving one
    channel at a time under a lease, so several replicas share the work and a channel's order holds."""

    def __init__(
        self,
        store: OutboxStore,
        gateway: Gateway,
        settings: OutboxSettings,
        *,
        owner: str,
        single_process: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.single_process = single_process
        self.gateway = gateway
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self._pool = Lane(settings.workers, "chainops-slack")
        self._in_flight: dict[str, Future[None]] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_failure = RepeatedFailure(log, "delivering Slack messages")

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.single_process:
            # On SQLite no other replica exists: channels a killed process held are free at once.
            self.store.release_channels()
        self._thread = threading.Thread(target=self._run, name="chainops-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the Slack calls under way (within `timeout`); what waits stays in the database."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.close()
        self._pool.take_back()
        self._pool.wait_idle(deadline)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def drain(self, timeout: float = 10.0) -> bool:
        """Deliver until nothing waits (tests and the console); False if something still waits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.running:
                self.wake()
            else:
                for channel in self.store.due_channels(now=self.clock(), owner=self.owner, limit=1000):
                    self._deliver_channel(channel)
            if self.store.depth() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self._tick_failure.succeeded()
            except StoreUnavailable as exc:
                self._tick_failure.failed(exc)
            except Exception as exc:
                self._tick_failure.failed(exc, expected=False)
            self._wake.wait(self.settings.tick)
            self._wake.clear()

    def tick(self) -> None:
        for channel in self.store.due_channels(now=self.clock(), owner=self.owner, limit=256):
            self._submit(channel)

    def attempt(self, key: str, wait: float) -> None:
        """Deliver the channel of this message now if nobody is on it, and wait a little for the answer."""
        message = self.store.message(key)
        if message is None:
            return
        if not self.running:
            self._deliver_channel(message.channel)
            return
        with self._lock:
            busy = message.channel in self._in_flight
        if busy:
            return  # the channel is being served: this message waits its turn, nobody waits for it
        future = self._submit(message.channel)
        if future is not None:
            try:
                future.result(timeout=wait)
            except Exception:  # still under way (or failed): the outbox keeps it either way
                return

    def _submit(self, channel: str) -> Future[None] | None:
        with self._lock:
            if channel in self._in_flight:
                return self._in_flight[channel]
            future = self._pool.submit(self._deliver_channel, channel)
            self._in_flight[channel] = future
        future.add_done_callback(lambda _f: self._forget(channel))
        return future

    def _forget(self, channel: str) -> None:
        with self._lock:
            self._in_flight.pop(channel, None)
        self._wake.set()  # the channel may have more to send

    # -- one channel -----------------------------------------------------------------------------------

    def _deliver_channel(self, channel: str) -> None:
        # One delivery per channel at a time in this process; the lease covers other replicas.
        with self._lock:
            if channel in self._busy:
                return
            self._busy.add(channel)
        try:
            self._deliver_claimed(channel)
        finally:
            with self._lock:
                self._busy.discard(channel)

    def _deliver_claimed(self, channel: str) -> None:
        """Send the channel's pending updates and at most one post, then hand the channel back."""
        now = self.clock()
        claim = self.store.claim_channel(
            channel, owner=self.owner, now=now, lease_seconds=self.settings.lease_seconds
        )
        if claim is None:
            return
        release: dict[str, Any] = {}
        may_post = claim.next_post_at <= now
        try:
            for message in self.store.pending_in(channel, now=now):
                if message.ts is None and not may_post:
                    continue  # posts wait for the channel's pace; updates of earlier posts need not
                outcome = self._deliver(message, now)
                if outcome == "posted":
                    may_post = False
                    # Counted from when Slack answered, so two posts never land closer than the pace.
                    release["next_post_at"] = self.clock() + self.settings.pace
                elif isinstance(outcome, float):
                    failures = claim.failures + 1
                    release.update(failures=failures, blocked_until=outcome)
                    break
            else:
                release["failures"] = 0
        except Exception as exc:
            self._tick_failure.failed(exc, expected=isinstance(exc, StoreUnavailable))
            release["blocked_until"] = self.clock() + self.settings.tick * 4
        finally:
            self.store.release_channel(channel, owner=self.owner, **release)

    def _deliver(self, message: OutboxMessage, now: float) -> str | float | None:
        """One Slack call for one message: "posted", "updated", None (skipped or dropped), or the time
        before which nothing more may go to this channel (Slack asked us to wait or is unavailable)."""
        thread_ts = None
        if message.thread_key and message.ts is None:
            parent = self.store.message(message.thread_key)
            if parent is None or parent.state == OutboxState.DEAD:
                self._drop(message, "its thread's first message could not be posted")
                return None
            if parent.ts is None:
                return None  # the parent goes first
            thread_ts = parent.ts
        text, blocks = message.text, json.loads(message.blocks_json)
        if message.link_key and message.ts is None:
            ready, url = self._link(message.link_key)
            if not ready:
                return None  # the message it links to is not posted yet
            if url:
                text, blocks = _with_link(text, blocks, url)
        try:
            if message.ts is None:
                ts = self.gateway.post(message.channel, Mrkdwn(text), blocks or None, thread_ts=thread_ts)
                self.store.delivered(message.id, version=message.version, ts=ts)
                return "posted"
            self.gateway.update(message.channel, message.ts, Mrkdwn(text), blocks or None)
            self.store.delivered(message.id, version=message.version, ts=message.ts)
            return "updated"
        except SlackRateLimited as exc:
            self.store.failed(message.id, now=now, error="ratelimited", retry_at=now)
            return now + exc.retry_after
        except SlackUnavailable as exc:
            return self._retry_later(message, now, str(exc))
        except NotInChannel as exc:
            self._drop(message, f"the bot is not in the channel ({exc})", error=str(exc))
            self._notify(message)
            return None
        except SlackFailure as exc:
            self._drop(message, str(exc), error=str(exc))
            return None

    def _retry_later(self, message: OutboxMessage, now: float, error: str) -> float | None:
        row = self.store.failed(message.id, now=now, error=error, retry_at=now)
        if (
            row is not None
            and row.failing_since is not None
            and now - row.failing_since >= self.settings.give_up
        ):
            self._drop(message, f"Slack failed for {round((now - row.failing_since) / 60)} min: {error}")
            return None
        attempts = row.attempts if row is not None else 1
        return now + min(self.settings.max_backoff, 0.5 * float(2 ** min(attempts, 10)))

    def _link(self, key: str) -> tuple[bool, str | None]:
        """Whether the linked message is settled, and its permalink if it has one."""
        target = self.store.message(key)
        if target is None or target.state == OutboxState.DEAD:
            return True, None
        if target.ts is None:
            return False, None
        return True, self.gateway.permalink(target.channel, target.ts)

    def _drop(self, message: OutboxMessage, why: str, *, error: str | None = None) -> None:
        """Give up on a message, loudly: one line with where it was going and what it said."""
        self.store.dead(message.id, error=error or why)
        summary = " ".join(message.text.split())[:120]
        log.error("gave up on a Slack message to %s (%s): %s", message.channel, why, summary)

    def _notify(self, message: OutboxMessage) -> None:
        if message.notify_url and message.notify_text:
            try:
                self.gateway.respond(message.notify_url, Mrkdwn(message.notify_text))
            except Exception:  # the private answer is a courtesy; the drop is already logged
                log.warning("could not tell the requester that %s refused the bot", message.channel)


def _with_link(text: str, blocks: Blocks, url: str) -> tuple[str, Blocks]:
    try:
        suffix = " · " + markup.link(url, "thread")
    except ValueError:
        return text, blocks
    blocks = [dict(b) for b in blocks]
    for block in reversed(blocks):
        if block.get("type") == "section" and isinstance(block.get("text"), dict):
            block["text"] = {**block["text"], "text": Mrkdwn(block["text"]["text"]) + suffix}
            break
    return Mrkdwn(text) + suffix, blocks
