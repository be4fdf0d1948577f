"""Publishing homes: at once when a person opens theirs, and again when something on it changes
(an approval asked or decided, a rollout started or finished, a lock), coalesced per person.

Changes are read from the audit trail every replica shares, so no flow has to remember to tell the home;
which homes are due lives in the database (`home_refreshes`), so across replicas each person gets at
most one `views.publish` every `every` seconds, built from the state at that moment (the latest
content only). Publishing is a periodic job of its own (`run_once`, on `bot/runtime/loops.py`): a home
that fails, or a slow Baseten behind it, never holds up a command, a click or a channel message."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.home.gather import Gatherer
from bot.home.view import home_view
from bot.home.visibility import Visibility
from bot.slack.gateway import Gateway, SlackFailure
from bot.store import AuditEvent, StoreUnavailable
from bot.store.homes import HomeStore

log = logging.getLogger(__name__)

SLACK_PERSON = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class HomeSettings:
    every: float = 3.0  # at most one publish per person this often
    tick: float = 0.5  # how often changes are looked for
    viewers_for: float = 86400.0  # a home opened this recently is kept fresh
    lease_seconds: float = 30.0


class HomePublisher:
    def __init__(
        self,
        *,
        homes: HomeStore,
        gatherer: Gatherer,
        gateway: Gateway,
        visibility: Visibility,
        owner: str,
        settings: HomeSettings = HomeSettings(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.homes = homes
        self.gatherer = gatherer
        self.gateway = gateway
        self.visibility = visibility
        self.owner = owner
        self.settings = settings
        self.clock = clock
        self._cursor: int | None = None
        self._following: dict[str, tuple[str, str, str]] | None = None  # rollouts followed at the last look
        self._start_cursor()

    # -- publishing -------------------------------------------------------------------------------------

    def opened(self, person: str) -> None:
        """The person opened their home: published now, and kept fresh from now on."""
        self.homes.opened(person, now=self.clock())
        self.publish(person, fresh=True)

    def publish(self, person: str, *, notice: str | None = None, fresh: bool = False) -> bool:
        """Build and publish this person's home now; False (logged) if it could not be. `fresh`: its
        chains read from Baseten now, not from what another home read moments ago."""
        try:
            view = home_view(self.gatherer.gather(person, notice=notice, fresh=fresh))
            self.gateway.publish_home(person, view)
        except (SlackFailure, StoreUnavailable) as exc:
            log.warning("could not publish the App Home of %s (%s)", person, exc)
            return False
        except Exception:
            log.exception("could not publish the App Home of %s", person)
            return False
        return True

    # -- keeping homes fresh ----------------------------------------------------------------------------

    def run_once(self) -> None:
        """Mark the homes that recent changes concern, then publish those that are due."""
        self._start_cursor()
        if self._cursor is not None:
            events = self.homes.events_after(self._cursor)
            if events:
                self._cursor = events[-1].id
                self._want(self._concerned(events))
        self._want(self._rollouts_started_or_ended())
        now = self.clock()
        for person in self.homes.claim_due(
            owner=self.owner, now=now, every=self.settings.every, lease_seconds=self.settings.lease_seconds
        ):
            try:
                self.publish(person)
            finally:
                self.homes.release(person, owner=self.owner)

    def _want(self, people: set[str]) -> None:
        # Only Slack people have homes: an outside change names an email or an API key instead.
        now = self.clock()
        people = {p for p in people if SLACK_PERSON.match(p)}
        self.homes.want(people, now=now, opened_since=now - self.settings.viewers_for)

    def _start_cursor(self) -> None:
        """Changes are followed from the moment this process starts (earlier ones were published)."""
        if self._cursor is None:
            with contextlib.suppress(StoreUnavailable):
                self._cursor = self.homes.last_event_id()
        if self._following is None:
            with contextlib.suppress(StoreUnavailable):
                self._following = self.homes.following_where()

    def _rollouts_started_or_ended(self) -> set[str]:
        """Rollouts record no event of their own when they start or end outside chainops' requests
        (an outside promotion a watched channel follows): noticed from the rollouts followed."""
        now_following = self.homes.following_where()
        before, self._following = self._following, now_following
        if before is None:
            return set()
        changed = [now_following.get(i) or before[i] for i in set(before) ^ set(now_following)]
        if not changed:
            return set()
        self.gatherer.forget(chain_id for _, _, chain_id in changed)
        viewers = self.homes.viewers(since=self.clock() - self.settings.viewers_for)
        people = {who for _, who, _ in changed}
        for where, _, _ in changed:
            people.update(v for v in viewers if self.visibility.may_see(v, where))
        return people

    def _concerned(self, events: list[AuditEvent]) -> set[str]:
        """Whose homes these changes are on: who acted and who asked, and everyone keeping a home who
        may see the channel it happened in (a lock names no channel: every kept home)."""
        self.gatherer.forget(e.chain_id for e in events if e.chain_id)
        requests = self.homes.requests(e.confirmation_id for e in events if e.confirmation_id)
        viewers = self.homes.viewers(since=self.clock() - self.settings.viewers_for)
        people: set[str] = set()
        for event in events:
            asked = requests.get(event.confirmation_id or "")
            people.add(event.actor)
            if asked is not None:
                people.add(asked.actor)
            where = event.channel or (asked.channel if asked is not None else None)
            if where is None:
                people.update(viewers)
            else:
                people.update(v for v in viewers if self.visibility.may_see(v, where))
        return people
