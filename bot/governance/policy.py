"""Who may request and who must approve changes, per environment, from the CHAINOPS_POLICY YAML file.

Without a file everyone may request everything and the requester confirms their own change."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import ConfigError
from bot.slack import markup
from bot.slack.markup import Mrkdwn, md

log = logging.getLogger(__name__)

_ID = re.compile(r"^(\*|[UWSCG][A-Z0-9]{2,})$")


def _check_ids(values: list[str]) -> list[str]:
    for value in values:
        if not _ID.match(value):
            raise ValueError(
                f'{value!r} is not a Slack user (U…/W…), user group (S…), channel (C…/G…) id or "*"'
            )
    return values


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requesters: list[str] | None = None
    approvers: list[str] | None = None
    channels: list[str] | None = None

    _ids = field_validator("requesters", "approvers", "channels")(
        lambda v: None if v is None else _check_ids(v)
    )


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Rule = Field(default_factory=lambda: Rule(requesters=["*"]))
    environments: dict[str, Rule] = Field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def mention(entry: str) -> Mrkdwn:
    if entry == "*":
        return Mrkdwn("anyone")
    if entry[0] in "UW":
        return markup.user(entry)
    if entry[0] == "S":
        return markup.usergroup(entry)
    return markup.channel(entry)


def mentions(entries: list[str]) -> Mrkdwn:
    return Mrkdwn(", ").join(mention(e) for e in entries)


class Policy:
    def __init__(
        self,
        rules: PolicyFile | None = None,
        *,
        members: Callable[[str], list[str]] | None = None,
        group_ttl: float = 300.0,
    ) -> None:
        self.rules = rules
        self._members = members
        self._ttl = group_ttl
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def environments(self) -> list[str]:
        """The environments the policy file has rules for."""
        return sorted(self.rules.environments) if self.rules else []

    def _rule(self, env: str) -> Rule:
        assert self.rules is not None
        env_rule = self.rules.environments.get(env, Rule())
        return Rule(
            requesters=env_rule.requesters
            if env_rule.requesters is not None
            else self.rules.defaults.requesters,
            approvers=env_rule.approvers if env_rule.approvers is not None else self.rules.defaults.approvers,
            channels=env_rule.channels if env_rule.channels is not None else self.rules.defaults.channels,
        )

    def _matches(self, user: str, entries: list[str]) -> bool:
        for entry in entries:
            if entry in ("*", user):
                return True
            if entry.startswith("S") and user in self._group(entry):
                return True
        return False

    def _group(self, group_id: str) -> frozenset[str]:
        # User groups change rarely; cache members for a few minutes so each click costs no Slack call.
        with self._lock:
            cached = self._groups.get(group_id)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
        try:
            members = frozenset(self._members(group_id)) if self._members else frozenset()
        except Exception as exc:  # e.g. the usergroups:read scope is missing: nobody matches, say why in logs
            log.warning("could not read members of user group %s: %s", group_id, exc)
            return frozenset()
        with self._lock:
            self._groups[group_id] = (time.monotonic(), members)
        return members

    def may_request(self, user: str, channel: str, env: str) -> Decision:
        if self.rules is None:
            return Decision(True)
        rule = self._rule(env)
        if rule.channels and "*" not in rule.channels and channel not in rule.channels:
            where = mentions(rule.channels)
            return Decision(False, md("Changes to *{}* may only be requested in {}.", env, where))
        requesters = rule.requesters if rule.requesters is not None else ["*"]
        if not self._matches(user, requesters):
            who = mentions(requesters) or Mrkdwn("nobody")
            return Decision(False, md("You may not request changes to *{}*. Ask {}.", env, who))
        return Decision(True)

    def approvers(self, env: str) -> list[str]:
        """Empty when the requester's own confirmation is enough."""
        if self.rules is None:
            return []
        return self._rule(env).approvers or []

    def may_approve(self, user: str, env: str) -> bool:
        approvers = self.approvers(env)
        return bool(approvers) and self._matches(user, approvers)

    def may_force(self, user: str, env: str) -> bool:
        """Overriding a lock: approvers where the environment has them, otherwise anyone who may request."""
        approvers = self.approvers(env)
        return self._matches(user, approvers) if approvers else True


def load_policy(path: Path | None, *, members: Callable[[str], list[str]] | None = None) -> Policy:
    if path is None:
        return Policy(None, members=members)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"CHAINOPS_POLICY {path}: cannot read the file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"CHAINOPS_POLICY {path}: not valid YAML{where}") from None
    try:
        rules = PolicyFile.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"CHAINOPS_POLICY {path}: {field}: {first['msg']}") from None
    return Policy(rules, members=members)
