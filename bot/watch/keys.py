"""How watch messages are keyed in the outbox (so each is queued once, whichever replica or life of the
bot gets to it), and which subscriptions hear of a change in an environment."""

from __future__ import annotations

import hashlib

from bot.store.tables import WatchSubscription


def message_key(kind: str, *parts: str) -> str:
    return f"watch-{kind}:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def announcement_key(chain_id: str, entry_id: str, channel: str) -> str:
    return message_key("entry", chain_id, entry_id, channel)


def watches(sub: WatchSubscription, env: str | None) -> bool:
    """A change in no known environment (a deployment, the chain itself) is told to every subscriber."""
    return not sub.env or env is None or sub.env == env
