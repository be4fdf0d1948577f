"""Who may see what a channel said: anyone for a public channel, only its members for a private one.

Answers come from Slack (`users.conversations`, `conversations.info`: the `channels:read` and
`groups:read` scopes) and are cached briefly, so a burst of homes costs a few calls, and someone who
leaves a private channel stops seeing it within a minute. When Slack cannot say, the answer is no:
a home shows too little rather than leak a private channel."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.slack.gateway import Gateway, SlackFailure

log = logging.getLogger(__name__)

MEMBERSHIP_TTL = 60.0  # seconds a person's channel list is trusted
PRIVACY_TTL = 600.0  # seconds a channel's public/private flag is trusted (it rarely changes)


class Visibility:
    def __init__(
        self,
        gateway: Gateway,
        *,
        clock: Callable[[], float] = time.monotonic,
        membership_ttl: float = MEMBERSHIP_TTL,
        privacy_ttl: float = PRIVACY_TTL,
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self.membership_ttl = membership_ttl
        self.privacy_ttl = privacy_ttl
        self._members: dict[str, tuple[float, frozenset[str] | None]] = {}
        self._private: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def may_see(self, user: str, channel: str | None) -> bool:
        if not channel:
            return False
        if channel == user:
            return True  # the person's own DM with the bot
        if not self._is_private(channel):
            return True
        members = self._channels_of(user)
        return members is not None and channel in members

    def _channels_of(self, user: str) -> frozenset[str] | None:
        now = self.clock()
        with self._lock:
            cached = self._members.get(user)
        if cached is not None and now - cached[0] < self.membership_ttl:
            return cached[1]
        try:
            found: frozenset[str] | None = frozenset(self.gateway.member_channels(user))
        except SlackFailure as exc:
            log.info("could not list the channels of %s (%s); showing none of their private ones", user, exc)
            found = None
        with self._lock:
            self._members[user] = (now, found)
        return found

    def _is_private(self, channel: str) -> bool:
        now = self.clock()
        with self._lock:
            cached = self._private.get(channel)
        if cached is not None and now - cached[0] < self.privacy_ttl:
            return cached[1]
        try:
            private = self.gateway.is_private(channel)
        except SlackFailure as exc:
            # Unknown: treated as private for now, and asked again next time.
            log.info("could not tell whether %s is private (%s); treating it as private", channel, exc)
            return True
        with self._lock:
            self._private[channel] = (now, private)
        return private
