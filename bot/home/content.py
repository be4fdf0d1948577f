"""What one person's App Home shows, as typed data: the view builder (`bot.home.view`) turns it into
Block Kit, the gatherer (`bot.home.gather`) fills it from the store and Baseten."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.governance.audit import Change


class Waiting(StrEnum):
    APPROVE = "approve"  # someone else's request this person may approve or reject
    CONFIRM = "confirm"  # this person's own preview, waiting for their Confirm
    APPROVAL = "approval"  # this person's own request, waiting for an approver


@dataclass(frozen=True)
class Decision:
    """A request waiting for a button press."""

    id: str
    waiting: Waiting
    summary: str
    requester: str
    channel: str
    expires_at: float


@dataclass(frozen=True)
class Moving:
    """A rollout being followed in a channel thread."""

    chain_name: str
    env: str
    deployment_id: str
    status: str
    started_at: float
    requester: str
    thread: str | None  # permalink to the thread, once its first message is posted


@dataclass(frozen=True)
class EnvLine:
    """One environment of one of the person's chains, as Baseten shows it now."""

    chain_id: str
    chain_name: str
    env: str
    deployment_id: str | None = None
    status: str | None = None
    hardware: tuple[str, ...] = ()
    replicas: int = 0
    dollars_per_hour: float | None = None
    locked_by: str | None = None
    lock_reason: str = ""
    unreadable: str | None = None  # why Baseten could not show it


@dataclass(frozen=True)
class ChainLines:
    chain_id: str
    chain_name: str
    envs: list[EnvLine]
    more_envs: int = 0  # environments not read, named as a count
    channel: str | None = None  # where a change from the home is followed: where the person last changed it


@dataclass
class HomeContent:
    user: str
    now: float
    waiting: list[Decision] = field(default_factory=list)
    moving: list[Moving] = field(default_factory=list)
    chains: list[ChainLines] = field(default_factory=list)
    more_chains: int = 0
    recent: list[Change] = field(default_factory=list)
    more_recent: bool = False
    notice: str | None = None  # what the person's last click on the home came to
