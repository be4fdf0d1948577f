"""Delivers the outbox to Slack: each channel's pending updates and posts, in order, paced, retried
through outages and rate limits, a post whose answer never came looked for before it is sent again, and
the requester told when a channel stops taking a change's messages. What to say is queued by
`bot/slack/outbox.py`; this is the other half, a leased job on `bot/runtime/loops.py`.

Its log lines are the outbox's (`bot.slack.outbox`), as operators know them, whichever half speaks.
Longer than most modules: one channel's delivery (claim, each message, release) reads in one place."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bot.runtime.loops import LeasedJob, Leases
from bot.runtime.repeated import RepeatedFailure
from bot.slack import markup, posted
from bot.slack.gateway import (
    NOT_IN_CHANNEL,
    Blocks,
    Gateway,
    NotInChannel,
    SlackFailure,
    SlackRateLimited,
    SlackUnavailable,
)
from bot.slack.markup import Mrkdwn, lines, md
from bot.slack.outbox import OutboxSettings
from bot.store import StoreUnavailable
from bot.store.outbox import (
    BLOCKED_BY_OUTAGE,
    BLOCKED_BY_RATE_LIMIT,
    BLOCKED_BY_RETRYING,
    BLOCKED_BY_WOKEN,
    OutboxStore,
)
from bot.store.tables import OutboxChannel, OutboxMessage, OutboxState

log = logging.getLogger("bot.slack.outbox")

LONG_HOLD = 5.0  # a Retry-After longer than this is logged, once per hold of the channel
WHY_REFUSED = {
    "not_in_channel": "I'm no longer a member of it",
    "channel_not_found": "it was deleted, or I can no longer see it",
    "is_archived": "it was archived",
}


class _Sent(Enum):
    POSTED = "posted"  # a new message: the channel's pace starts again
    ANSWERED = "answered"  # Slack answered (an update, or an unanswered post found after all)
    SKIPPED = "skipped"  # nothing sent now (waits for its parent or link), or dropped


@dataclass(frozen=True)
class _Due:
    """A channel with something due, or one probed to learn whether Slack is back."""

    channel: str
    probe: bool = False


@dataclass(frozen=True)
class _Hold:
    """Nothing more goes to the channel before `until`: Slack asked us to wait, or failed."""

    until: float
    rate_limited: bool


class OutboxSender:
    """Delivers the outbox to Slack: a leased job (`bot/runtime/loops.py`) whose items are channels, each
    served by one of a few sender threads at a time under a lease, so several replicas share the work
    and a channel's order holds."""

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
        self.job: LeasedJob[_Due] = LeasedJob(
            "delivering Slack messages",
            interval=settings.tick,
            claim=self._due,
            key=lambda due: due.channel,
            work=lambda due: self._deliver_channel(due.channel, due.probe),
            workers=settings.workers,
            # On SQLite no other replica exists: channels a killed process held are free at once.
            leases=Leases(forget_stale=store.release_channels if single_process else None),
            again_after_item=True,  # the channel may have more to send
            expected=(StoreUnavailable,),
            clock=clock,
            thread_name="chainops-slack",
        )
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._next_probe = 0.0
        self._awaited: set[str] = set()  # messages whose first attempt a caller is waiting for
        self._refusals: dict[str, str] = {}  # ...and the refusal handed to that caller to tell
        self._held: set[str] = set()  # channels under a long rate-limit hold already logged
        self._told_no_history = False
        self._tick_failure = RepeatedFailure(log, "delivering Slack messages")

    # -- lifecycle -------------------------------------------------------------------------------------

    def wake(self) -> None:
        self.job.wake()

    @property
    def running(self) -> bool:
        return self.job.scheduled

    def drain(self, timeout: float = 10.0) -> bool:
        """Deliver until nothing waits (tests and the console); False if something still waits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.running:
                self.wake()
            else:
                self.tick(inline=True)
            if self.store.depth() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            # Until the next message is due (a retry after a failure waits seconds), within 10-100 ms.
            due = self.store.next_due()
            time.sleep(min(0.1, max(0.01, (due or 0.0) - self.clock())))

    def tick(self, *, inline: bool = False) -> None:
        """Deliver the channels that are due (`inline`: in this thread), and probe Slack during an outage."""
        if not inline:
            self.job.run()
            return
        for due in self._due(self.clock()):
            self._deliver_channel(due.channel, due.probe)

    def _due(self, now: float) -> list[_Due]:
        due = self.store.due_channels(now=now, owner=self.owner, limit=256)
        work = [_Due(channel) for channel in due]
        if now >= self._next_probe:
            self._next_probe = now + self.settings.probe_interval
            probe = self.store.outage_channel(now=now, owner=self.owner, quiet=self.settings.probe_interval)
            if probe is not None and probe not in due:
                work.append(_Due(probe, probe=True))
        return work

    def attempt(self, key: str, wait: float) -> str | None:
        """Deliver the channel of this message now if nobody is on it, and wait a little for the answer;
        Slack's refusal of this message if it came while we waited (the caller then tells the person)."""
        message = self.store.message(key)
        if message is None:
            return None
        with self._lock:
            self._awaited.add(key)
        try:
            self._attempt(message.channel, wait)
        finally:
            with self._lock:
                self._awaited.discard(key)
                refusal = self._refusals.pop(key, None)
        return refusal

    def _attempt(self, channel: str, wait: float) -> None:
        if not self.running:
            self._deliver_channel(channel)
            return
        if self.job.working(channel):
            return  # the channel is being served: this message waits its turn, nobody waits for it
        future = self.job.submit(_Due(channel))
        if future is not None:
            try:
                future.result(timeout=wait)
            except Exception:  # still under way (or failed): the outbox keeps it either way
                return

    # -- one channel -----------------------------------------------------------------------------------

    def _deliver_channel(self, channel: str, probe: bool = False) -> None:
        # One delivery per channel at a time in this process; the lease covers other replicas.
        with self._lock:
            if channel in self._busy:
                return
            self._busy.add(channel)
        try:
            self._deliver_claimed(channel, probe=probe)
        finally:
            with self._lock:
                self._busy.discard(channel)

    def _deliver_claimed(self, channel: str, *, probe: bool) -> None:
        """Send the channel's pending updates and at most one post, then hand the channel back."""
        now = self.clock()
        claim = self.store.claim_channel(
            channel, owner=self.owner, now=now, lease_seconds=self.settings.lease_seconds, probe=probe
        )
        if claim is None:
            return
        release: dict[str, Any] = {}
        may_post = claim.next_post_at <= now
        answered = False
        try:
            for message in self.store.pending_in(channel, now=now):
                if message.ts is None and not may_post and not message.respond_url:
                    continue  # posts wait for the channel's pace; updates and private answers need not
                outcome = self._deliver(message, now)
                answered = answered or outcome in (_Sent.POSTED, _Sent.ANSWERED)
                if outcome is _Sent.POSTED:
                    may_post = False
                    # Counted from when Slack answered, so two posts never land closer than the pace.
                    release["next_post_at"] = self.clock() + self.settings.pace
                elif isinstance(outcome, _Hold):
                    release.update(
                        failures=claim.failures + 1,
                        blocked_until=outcome.until,
                        blocked_by=_blocked_by(claim, outcome),
                    )
                    break
            else:
                if answered or not probe:  # a probe that sent nothing learnt nothing about Slack
                    release.update(failures=0, blocked_by="", blocked_until=0.0)
        except Exception as exc:
            self._tick_failure.failed(exc, expected=isinstance(exc, StoreUnavailable))
            release["blocked_until"] = self.clock() + self.settings.tick * 4
        finally:
            self.store.release_channel(channel, owner=self.owner, **release)
        if answered:
            self._slack_answered(channel)

    def _slack_answered(self, channel: str) -> None:
        """Slack works: channels that were waiting out an outage, on any replica, may send now."""
        with self._lock:
            self._held.discard(channel)
        if self.store.wake_outage_channels(now=self.clock()):
            self.wake()

    def _deliver(self, message: OutboxMessage, now: float) -> _Sent | _Hold:
        """One Slack call for one message (two, for a post whose earlier answer never came)."""
        thread_ts = None
        if message.thread_key and message.ts is None:
            parent = self.store.message(message.thread_key)
            if parent is None or parent.state == OutboxState.DEAD:
                refused = parent is not None and parent.error in NOT_IN_CHANNEL
                self._drop(message, "its thread's first message could not be posted", expected=refused)
                return _Sent.SKIPPED
            if parent.ts is None:
                return _Sent.SKIPPED  # the parent goes first
            thread_ts = parent.ts
        text, blocks = message.text, json.loads(message.blocks_json)
        if message.link_key and (message.ts is None or markup.has_pending(text)):
            ready, url = self._link(message.link_key)
            if not ready:
                return _Sent.SKIPPED  # the message it links to is not posted yet
            if url:
                text, blocks = _with_link(text, blocks, url)
            elif message.respond_url and not _posted(self.store.message(message.link_key)):
                # The message it would link to was never posted: the person was told so instead.
                self.store.dead(message.id, error="nothing to link to")
                return _Sent.SKIPPED
            else:
                # Posted, but no link to it (no permalink): the message goes without the link.
                text, blocks = markup.resolve_pending(text, None), _resolved(blocks, None)
        if message.respond_url:
            self._respond(message, text, blocks)
            return _Sent.SKIPPED  # not a Web API call: says nothing about Slack's channels
        try:
            if message.ts is None:
                if (found := self._look_for(message, thread_ts)) is not None:
                    log.info(
                        "found the unanswered post to %s in Slack; not posting it again", message.channel
                    )
                    self.store.delivered(message.id, version=found.version, ts=found.ts)
                    return _Sent.ANSWERED
                ts = self._post(message, Mrkdwn(text), blocks, thread_ts, now)
                self.store.delivered(message.id, version=message.version, ts=ts)
                return _Sent.POSTED
            self.gateway.update(message.channel, message.ts, Mrkdwn(text), blocks or None)
            self.store.delivered(message.id, version=message.version, ts=message.ts)
            return _Sent.ANSWERED
        except SlackRateLimited as exc:
            self.store.failed(message.id, now=now, error="ratelimited", retry_at=now)
            self._rate_limited(message.channel, exc.retry_after)
            # Retry-After counts from Slack's answer, not from when the call left.
            return _Hold(self.clock() + exc.retry_after, rate_limited=True)
        except SlackUnavailable as exc:
            # A post Slack may still be making is looked for only once Slack has had time to finish it.
            settle = exc.sent and exc.unanswered and message.ts is None
            return self._retry_later(message, now, str(exc), settle=settle)
        except NotInChannel as exc:
            self._drop(message, f"the bot is not in the channel ({exc})", error=str(exc), expected=True)
            self._refused(message, str(exc))
            return _Sent.SKIPPED
        except SlackFailure as exc:
            self._drop(message, str(exc), error=str(exc))
            return _Sent.SKIPPED

    def _post(
        self, message: OutboxMessage, text: Mrkdwn, blocks: Blocks, thread_ts: str | None, now: float
    ) -> str:
        """Post, having first recorded that the post may be made: if its answer never comes, or this
        process dies before recording it, the next try looks for it in Slack before posting again.
        Earlier tries were looked for just before, so only this one's time is kept."""
        self.store.sending(message.id, now=now)
        try:
            return self.gateway.post(
                message.channel,
                text,
                blocks or None,
                thread_ts=thread_ts,
                metadata=posted.metadata(message.key, message.version),
            )
        except SlackFailure as exc:
            if not (isinstance(exc, SlackUnavailable) and exc.sent):
                self.store.not_sent(message.id)  # Slack surely made nothing: nothing to look for
            raise

    def _look_for(self, message: OutboxMessage, thread_ts: str | None) -> posted.Found | None:
        """This message as Slack shows it already, if a try whose answer never came did post it."""
        if message.unsure_since is None or not posted.readable(message.channel):
            return None  # a DM by user id has no history the bot may read: it is sent again
        try:
            return posted.find(
                self.gateway,
                channel=message.channel,
                key=message.key,
                text=message.text,
                version=message.version,
                since=message.unsure_since,
                thread_ts=thread_ts,
            )
        except (SlackUnavailable, SlackRateLimited):
            raise
        except SlackFailure as exc:  # e.g. missing_scope: the post goes again, and may show twice
            if not self._told_no_history:
                self._told_no_history = True
                log.warning(
                    "cannot read %s to check whether an unanswered post arrived (%s); posting it again. "
                    "The app needs the channels:history and groups:history scopes.",
                    message.channel,
                    exc,
                )
            return None

    def _respond(self, message: OutboxMessage, text: str, blocks: Blocks) -> None:
        """A private message replaced through its response_url: a courtesy that is tried once, since
        Slack accepts a response_url only a few times and for 30 minutes."""
        assert message.respond_url is not None
        try:
            self.gateway.respond(message.respond_url, Mrkdwn(text), blocks or None, replace_original=True)
        except Exception as exc:
            log.info("could not update a private message (%s); it stays as it was", type(exc).__name__)
            self.store.dead(message.id, error="response_url failed")
            return
        self.store.delivered(message.id, version=message.version, ts="")

    def _retry_later(self, message: OutboxMessage, now: float, error: str, *, settle: bool) -> _Sent | _Hold:
        """`settle`: a post left unanswered is looked for only once Slack has had time to finish it."""
        retry_at = self.clock() + self.settings.unsure_settle if settle else now
        row = self.store.failed(message.id, now=now, error=error, retry_at=retry_at)
        if (
            row is not None
            and row.failing_since is not None
            and now - row.failing_since >= self.settings.give_up
        ):
            failing = _duration(now - row.failing_since)
            self._drop(message, f"Slack failed for {failing}: {error}")
            self._tell_requester(
                message,
                md(
                    ":warning: Slack did not take my messages to {} for {}, so I gave up on them: "
                    "the channel has not heard everything about your change.",
                    markup.channel(message.channel),
                    failing,
                ),
            )
            return _Sent.SKIPPED
        attempts = row.attempts if row is not None else 1
        backoff = self.settings.first_backoff * float(2 ** min(attempts - 1, 10))
        return _Hold(now + min(self.settings.max_backoff, backoff), rate_limited=False)

    def _rate_limited(self, channel: str, retry_after: float) -> None:
        """A long hold is worth one line; short ones are Slack's ordinary pacing."""
        if retry_after <= LONG_HOLD:
            return
        with self._lock:
            if channel in self._held:
                return
            self._held.add(channel)
        log.warning("Slack is rate limiting messages to %s: holding them for %.0f s", channel, retry_after)

    def _link(self, key: str) -> tuple[bool, str | None]:
        """Whether the linked message is settled, and its permalink if it has one."""
        target = self.store.message(key)
        if target is None or target.state == OutboxState.DEAD:
            return True, None
        if target.ts is None:
            return False, None
        return True, self.gateway.permalink(target.channel, target.ts)

    def _drop(
        self, message: OutboxMessage, why: str, *, error: str | None = None, expected: bool = False
    ) -> None:
        """Give up on a message, loudly: one line with where it was going and what it said. A channel
        that has not invited the bot is expected (the requester is told how to invite it): not an error."""
        self.store.dead(message.id, error=error or why)
        summary = " ".join(message.text.split())[:120]
        level = logging.INFO if expected else logging.ERROR
        log.log(level, "gave up on a Slack message to %s (%s): %s", message.channel, why, summary)

    def _refused(self, message: OutboxMessage, code: str) -> None:
        """The channel no longer takes the message: whoever waits for this first attempt tells the
        person; otherwise the person is told here."""
        with self._lock:
            if message.key in self._awaited:
                self._refusals[message.key] = code
                return
        if message.ts is None and message.notify_url and message.notify_text:
            # A first post refused: the person who just acted is answered where they are, not in a DM.
            self._notify(message)
            return
        why = WHY_REFUSED.get(code, code)
        self._tell_requester(
            message,
            md(
                ":warning: I can no longer post in {}: {}, so it stopped hearing about your change.",
                markup.channel(message.channel),
                why,
            ),
        )

    def _notify(self, message: OutboxMessage) -> None:
        if message.notify_url and message.notify_text:
            try:
                self.gateway.respond(message.notify_url, Mrkdwn(message.notify_text))
            except Exception:  # the private answer is a courtesy; the drop is already logged
                log.warning("could not tell the requester that %s refused the bot", message.channel)

    def _tell_requester(self, message: OutboxMessage, what_happened: Mrkdwn) -> None:
        """A DM to the person whose change the message (or its thread) is about, once per thread."""
        owner = message
        if not owner.notify_user and message.thread_key:
            owner = self.store.message(message.thread_key) or message
        if not owner.notify_user:
            return
        now = self.clock()
        text = lines([what_happened, Mrkdwn(owner.notify_about or "")])
        told = self.store.add_once(
            OutboxMessage(
                key=f"dm:{owner.key}",
                channel=owner.notify_user,
                text=text,
                blocks_json="[]",
                state=OutboxState.PENDING,
                version=1,
                sent_version=0,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
        if told:
            log.info(
                "telling %s privately what happened to their change in %s", owner.notify_user, message.channel
            )
            self.wake()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _blocked_by(claim: OutboxChannel, hold: _Hold) -> str:
    """Why the channel now waits. A channel failing again right after an outage was over is in trouble
    of its own, and is not woken by every success elsewhere."""
    if hold.rate_limited:
        return BLOCKED_BY_RATE_LIMIT
    if claim.blocked_by in (BLOCKED_BY_WOKEN, BLOCKED_BY_RETRYING):
        return BLOCKED_BY_RETRYING
    return BLOCKED_BY_OUTAGE


def _with_link(text: str, blocks: Blocks, url: str) -> tuple[str, Blocks]:
    """The message's pending links pointed at `url`; a message without any gets " · thread" appended."""
    if markup.has_pending(text):
        return markup.resolve_pending(text, url), _resolved(blocks, url)
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


def _posted(message: OutboxMessage | None) -> bool:
    return message is not None and message.state != OutboxState.DEAD and message.ts is not None


def _resolved(node: Any, url: str | None) -> Any:
    if isinstance(node, str):
        return markup.resolve_pending(node, url)
    if isinstance(node, list):
        return [_resolved(n, url) for n in node]
    if isinstance(node, dict):
        return {k: _resolved(v, url) for k, v in node.items()}
    return node
