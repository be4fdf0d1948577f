"""One schema for SQLite and PostgreSQL. Times are epoch seconds (floats): same on both, no time zones.

Names and ids that come from Baseten (chains, environments, deployments) are unbounded text: Baseten sets
no length limit on them, and a bounded column would refuse a change whose chain is named at length."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ConfirmationState(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # Baseten was never asked to make the change (the preview went stale, a lock, Baseten could not be
    # read to re-check it): not "failed", which means Baseten said no.
    NOT_RUN = "not_run"


class WriteState(StrEnum):
    """Where a change's one Baseten write stands. INTENT is recorded with the claim, in one transaction,
    so a process that dies before sending leaves a row another replica (or the restart) can finish."""

    INTENT = "intent"  # claimed, not sent: whoever holds the rollout's lease may send it
    SENT = "sent"  # sent, or about to be: never sent again; an answer that never came is resolved
    ANSWERED = "answered"


class RolloutState(StrEnum):
    FOLLOWING = "following"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class Confirmation(Base):
    """A previewed change waiting for its requester (or an approver) to press a button."""

    __tablename__ = "confirmations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=ConfirmationState.PENDING)
    requester: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    chain_name: Mapped[str] = mapped_column(Text)
    env: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[str] = mapped_column(Text)
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approver: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_confirmations_state_expires", "state", "expires_at"),)


class Rollout(Base):
    """A deployment the bot promised to follow in a channel thread until it succeeds or fails."""

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(32), default="")
    state: Mapped[str] = mapped_column(String(16), default=RolloutState.FOLLOWING)
    chain_id: Mapped[str] = mapped_column(Text)
    chain_name: Mapped[str] = mapped_column(Text)
    env: Mapped[str] = mapped_column(Text)
    deployment_id: Mapped[str] = mapped_column(Text)
    previous_deployment_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Written without re-checking the preview (Baseten was too slow): the follower checks what was live.
    preview_unchecked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when what was live differed from the preview: the deployment the preview showed ("" for none).
    preview_live: Mapped[str | None] = mapped_column(Text, nullable=True)
    scale_down_previous: Mapped[bool] = mapped_column(Boolean, default=True)
    channel: Mapped[str] = mapped_column(String(32))
    # The thread's parent message: its outbox key (and, for rows from before the outbox, its Slack ts).
    parent_ts: Mapped[str] = mapped_column(String(32), default="")
    parent_key: Mapped[str] = mapped_column(String(128), default="")
    requester: Mapped[str] = mapped_column(String(32))
    approver: Mapped[str | None] = mapped_column(String(32), nullable=True)
    headline: Mapped[str] = mapped_column(Text)
    # Text: a status Baseten adds later is stored as sent, whatever its length.
    last_status: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_chainlets_json: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[float] = mapped_column(Float)
    next_poll_at: Mapped[float] = mapped_column(Float)
    last_ok_at: Mapped[float] = mapped_column(Float)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    unreachable_reported: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The write itself: its state, the plan it sends (so a restart can send it), and where the person
    # who asked is answered privately (a click's response_url closes its preview).
    write_state: Mapped[str] = mapped_column(String(16), default=WriteState.SENT)
    plan_json: Mapped[str] = mapped_column(Text, default="")
    answer_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    preview: Mapped[str] = mapped_column(String(16), default="")  # "private", "approval" or ""

    __table_args__ = (Index("ix_rollouts_state_next_poll", "state", "next_poll_at"),)


class AuditEvent(Base):
    """Every request, decision, execution and outcome, newest last."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32), default="")
    # Baseten's chain id ("" in events recorded before it was): history of a chain is found by it.
    chain_id: Mapped[str] = mapped_column(Text, default="")
    chain_name: Mapped[str] = mapped_column(Text, default="")
    env: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    confirmation_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    approver: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)


class EnvironmentLock(Base):
    """A locked environment of one chain, by the chain's id: two chains of the same name (in two teams)
    are locked apart. A lock taken before chains were told apart by id holds the chain's name as its
    `chain_id` (moved from the older `environment_locks` table at start) and still holds for that name."""

    __tablename__ = "chain_locks"

    chain_id: Mapped[str] = mapped_column(Text, primary_key=True)
    env: Mapped[str] = mapped_column(Text, primary_key=True)
    chain_name: Mapped[str] = mapped_column(Text, default="")
    locked_by: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    locked_at: Mapped[float] = mapped_column(Float)


class SeenRequest(Base):
    """A signed Slack request already handled, kept while its signature would still be accepted, so a
    replay is ignored by every replica."""

    __tablename__ = "seen_requests"

    request_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class OutboxState(StrEnum):
    PENDING = "pending"  # content not yet delivered (a first post, or a newer version of it)
    DELIVERED = "delivered"
    DEAD = "dead"  # given up: Slack refused it for good, or the outage outlasted the give-up time


class OutboxMessage(Base):
    """A channel message as the bot wants it to look; the sender delivers its latest content to Slack.

    Messages are named by a logical key, so a thread reply can name its parent before Slack has given
    the parent a ts, and an update only changes the content a later delivery sends (coalescing)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    thread_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    merge_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    link_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    blocks_json: Mapped[str] = mapped_column(Text, default="[]")
    notify_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    notify_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who is told privately (a DM) if the channel stops taking the message or it is given up, and what
    # about; a thread's replies are covered by their parent's.
    notify_user: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notify_about: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When a post last went out whose answer was never recorded (it never came, or the process died):
    # Slack may show it, so it is looked for before it is posted again.
    unsure_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Set for a private message replaced through this response_url (not posted) once its link is known.
    respond_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    version: Mapped[int] = mapped_column(Integer, default=1)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        Index("ix_outbox_state_channel", "state", "channel", "id"),
        Index("ix_outbox_merge", "merge_key", "state"),
    )


class OutboxChannel(Base):
    """Per channel: when the next post may go out (pacing, Retry-After), and which replica delivers now."""

    __tablename__ = "outbox_channels"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_post_at: Mapped[float] = mapped_column(Float, default=0.0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Why it is blocked: Slack's Retry-After, or an outage backoff that a working Slack cuts short.
    blocked_by: Mapped[str] = mapped_column(String(16), default="")
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)


class HealthProbe(Base):
    """The last write each process made to prove the database takes writes (`/healthz`)."""

    __tablename__ = "health_probes"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    probed_at: Mapped[float] = mapped_column(Float)


class HomeRefresh(Base):
    """A person's App Home: when something on it last changed (`wanted_at`) and when it was last
    published, so replicas publish each home at most once per few seconds, with the latest content."""

    __tablename__ = "home_refreshes"

    user: Mapped[str] = mapped_column(String(32), primary_key=True)
    wanted_at: Mapped[float] = mapped_column(Float, default=0.0)
    published_at: Mapped[float] = mapped_column(Float, default=0.0)
    opened_at: Mapped[float] = mapped_column(Float, default=0.0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)


class WatchSubscription(Base):
    """A channel watching a chain: all its environments (`env` empty) or one of them."""

    __tablename__ = "watch_subscriptions"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    env: Mapped[str] = mapped_column(String(128), primary_key=True, default="")
    chain_name: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)


class WatchedChain(Base):
    """Where chainops stands in a watched chain's audit log, leased to the one replica that reads it.

    `position_json` is the log position (`AuditLogPosition`); `fallback` says why the log cannot be read
    (its environments are then compared, `snapshot_json` holding what they showed last)."""

    __tablename__ = "watched_chains"

    chain_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    chain_name: Mapped[str] = mapped_column(Text, default="")
    position_json: Mapped[str] = mapped_column(Text, default="{}")
    fallback: Mapped[str] = mapped_column(Text, default="")
    snapshot_json: Mapped[str] = mapped_column(Text, default="{}")
    next_poll_at: Mapped[float] = mapped_column(Float, default=0.0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)


class WatchedEntry(Base):
    """An audit-log entry already announced (or left to its own thread): each is handled once."""

    __tablename__ = "watched_entries"

    chain_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[float] = mapped_column(Float)
