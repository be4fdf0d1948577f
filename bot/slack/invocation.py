"""Who acted, from where, and how to answer them privately."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.runtime import workpool
from bot.slack.gateway import Blocks, Gateway
from bot.slack.markup import Mrkdwn, as_mrkdwn, channel, md

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invocation:
    user: str
    channel: str
    response_url: str | None = None
    trigger_id: str | None = None
    # A click on the App Home has no response_url: what it would be told is collected here, and
    # shown at the top of the home it publishes again.
    notes: list[str] | None = field(default=None, compare=False)


def tell(gateway: Gateway, inv: Invocation, text: str, blocks: Blocks | None = None) -> None:
    """A private answer to whoever acted; never posted in the channel. Plain text is escaped here;
    markup (`Mrkdwn`) goes as built."""
    if inv.notes is not None:
        inv.notes.append(as_mrkdwn(text))
        return
    if inv.response_url and workpool.answered():
        try:
            gateway.respond(inv.response_url, as_mrkdwn(text), blocks)
        except Exception:  # an answer that cannot be delivered must not crash the flow
            log.exception("could not answer %s privately", inv.user)


def invite_hint(channel_id: str) -> Mrkdwn:
    return md(
        "I'm not a member of {}, so I can't post there. "
        "Invite me with `/invite @chainops` and run the command again.",
        channel(channel_id),
    )
