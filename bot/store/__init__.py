"""Durable state: pending confirmations, followed rollouts, environment locks and the audit trail."""

from bot.store.database import DatabaseUnusable, connect
from bot.store.progress import chainlet_statuses_json
from bot.store.repository import Store, StoreUnavailable
from bot.store.tables import (
    AuditEvent,
    Confirmation,
    ConfirmationState,
    EnvironmentLock,
    Rollout,
    RolloutState,
    WriteState,
)

__all__ = [
    "AuditEvent",
    "Confirmation",
    "ConfirmationState",
    "DatabaseUnusable",
    "EnvironmentLock",
    "Rollout",
    "RolloutState",
    "Store",
    "StoreUnavailable",
    "WriteState",
    "chainlet_statuses_json",
    "connect",
]
