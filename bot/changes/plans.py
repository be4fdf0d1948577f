"""The change-kind protocol: what the lifecycle (offer, decide, execute once, follow) may ask of any
change, and nothing about a particular one. Each change verb (`bot/commands/<verb>.py`) supplies a
`ChangeKind`: its plan model (a `ChangePlan`: what a confirmed request will do, checked against Baseten,
with its preview, its Baseten write, its headline and how an unanswered write is found in the
environment) and how a finished change is reverted. Plans are stored with their confirmation (as JSON,
their `kind` naming the model) so a click after a restart executes exactly what was previewed."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.baseten.models import Chain, ChainDeployment, ChainEnvironment
from bot.commands.parsing import ChangeCommand, Name
from bot.slack.markup import Mrkdwn, md, user

if TYPE_CHECKING:
    from bot.baseten.client import BasetenClient
    from bot.changes.planner import Planner

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class ChainRef:
    """A chain as chainops records it: by Baseten's id, which no other chain has, and by its name for
    people to read (names are unique only within a team)."""

    id: str
    name: str

    @classmethod
    def of(cls, chain: Chain) -> ChainRef:
        return cls(chain.id, chain.name)

    @property
    def word(self) -> str:
        """How a person names this chain in a command: by name when it can be typed as one, else by id."""
        try:
            _COMMAND_NAME.validate_python(self.name)
        except ValidationError:
            return self.id
        return self.name


_COMMAND_NAME: TypeAdapter[str] = TypeAdapter(Name)


@dataclass(frozen=True)
class Applying:
    """Baseten's answer to a write it applies to the environment itself, with no deployment to follow
    (autoscaling settings): the environment is read back until the plan says it settled."""

    status: str  # as Baseten names it, a status it adds later included
    note: Mrkdwn  # the thread's first reply
    unchanged: bool = False  # Baseten says nothing changed: nothing to follow


class ChangePlan(BaseModel):
    """A change checked against Baseten, as previewed, confirmed, written and followed. The fields are
    what every change has; the methods are what each kind says in its own words."""

    model_config = ConfigDict(frozen=True)

    kind: str
    chain_id: str
    chain_name: str
    chain_team: str = ""  # empty in plans stored before it was recorded
    env: str
    # The environment's live deployment when the preview was shown; a confirmation is bound to it.
    previous_deployment_id: str | None
    force: bool = False

    @property
    def chain(self) -> ChainRef:
        return ChainRef(self.chain_id, self.chain_name)

    @property
    @abstractmethod
    def destructive(self) -> bool:
        """Whether it asks for confirmation even where nobody needs to approve it."""

    @property
    def scales_down_previous(self) -> bool:
        """Whether the deployment live before it may be scaled down once it is live."""
        return True

    @abstractmethod
    def describe(self) -> str:
        """One line for history, the audit trail and the preview's notification text."""

    @abstractmethod
    def summary(self) -> Blocks:
        """What the preview (and the closed preview, and an approval request) shows."""

    @abstractmethod
    def question(self) -> str:
        """What the Confirm button's dialog asks, before "This changes <chain>/<env> for everyone."."""

    @abstractmethod
    def doing(self, requester: str) -> Mrkdwn:
        """The channel message's headline: who is changing what."""

    @abstractmethod
    def write(self, baseten: BasetenClient) -> ChainDeployment | Applying | None:
        """The one Baseten call that makes the change: the deployment Baseten rolls out, if any, or
        (for a change Baseten applies to the environment itself) what it answered."""

    # A change Baseten applies to the environment itself is followed by reading the environment back
    # (`bot.changes.settling`); its plan then says when it is made, settled, and what moved.
    follows_environment: ClassVar[bool] = False
    # Whether its closing message offers Revert: a new change back to the values it replaced.
    revertible: ClassVar[bool] = False

    def accepted(self, deployment: ChainDeployment) -> Mrkdwn:
        """The thread's first reply once Baseten accepted the write."""
        return md("Baseten accepted the change; following deployment `{}`.", deployment.id)

    def made_in(self, environment: ChainEnvironment) -> ChainDeployment | None:
        """A write whose answer never came, resolved from the environment: the deployment it made,
        or None if the environment shows none."""
        return made_in(environment, self.previous_deployment_id)

    def headline(self, requester: str, approver: str | None) -> Mrkdwn:
        text = self.doing(requester)
        if approver:
            text += md(" (approved by {})", user(approver))
        if self.force:
            text += " :warning: forced past a lock"
        return text


def made_in(environment: ChainEnvironment, previous_deployment_id: str | None) -> ChainDeployment | None:
    """The deployment the environment shows being rolled out (or live) in place of what was live when
    the change was written, if any: every change today rolls out a deployment."""
    found = environment.candidate_deployment or environment.current_deployment
    return found if found is not None and found.id != previous_deployment_id else None


@dataclass(frozen=True)
class Reverted:
    """A finished change to undo: where, what was live before it, and the change itself as it was
    planned (None when its plan is no longer stored)."""

    chain_id: str
    env: str
    previous_deployment_id: str | None
    plan: ChangePlan | None = None


@dataclass(frozen=True)
class ChangeKind:
    """A change verb's part in the lifecycle."""

    plan: type[ChangePlan]  # the stored model; its `kind` literal(s) name it
    # The request checked against Baseten (the chain and its environment already resolved, once).
    check: Callable[[Planner, Chain, ChainEnvironment, Any], ChangePlan]
    # The request that undoes a finished change of this kind (a rollback), or None if it offers none.
    revert: Callable[[str, Reverted], ChangeCommand | None] | None = None
    undo: str | None = None  # the `kind` its reverts are stored under, which history marks as an undo
    # What a click on its undo button says once the rollback window has closed.
    too_late: str = "The window to revert that change has closed; type the command with the values you want."

    @property
    def names(self) -> tuple[str, ...]:
        """The `kind` values its plans are stored under."""
        return get_args(self.plan.model_fields["kind"].annotation)


class PlanCodec:
    """Stored plans of every change kind: one discriminated union, built from the kinds given."""

    def __init__(self, kinds: Iterable[ChangeKind]) -> None:
        self.kinds = tuple(kinds)
        self._by_name = {name: kind for kind in self.kinds for name in kind.names}
        models = tuple(kind.plan for kind in self.kinds)
        union: Any = (
            models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
        )
        self._adapter: TypeAdapter[ChangePlan] = TypeAdapter(union)

    def dump(self, plan: ChangePlan) -> str:
        return '{"plan":' + plan.model_dump_json() + "}"

    def load(self, raw: str) -> ChangePlan:
        return self._adapter.validate_python(_StoredPlan.model_validate_json(raw).plan)

    def kind(self, name: str) -> ChangeKind | None:
        """The change kind stored under that `kind` value (a rollout's, a confirmation's)."""
        return self._by_name.get(name)

    def is_undo(self, name: str) -> bool:
        """Whether changes stored under `name` undo another change (a rollback)."""
        return any(kind.undo == name for kind in self.kinds)

    def revert(self, name: str, change: Reverted) -> ChangeCommand | None:
        """The request that undoes a finished change stored under `name`, if its kind offers one."""
        kind = self.kind(name)
        return kind.revert(name, change) if kind is not None and kind.revert is not None else None

    def made_in(
        self, rollout_plan: str, environment: ChainEnvironment, previous: str | None
    ) -> ChainDeployment | None:
        """What an unanswered write made, as its change kind finds it in the environment (a rollout
        stored without its plan is resolved the way every change is)."""
        if not rollout_plan:
            return made_in(environment, previous)
        return self.load(rollout_plan).made_in(environment)


class _StoredPlan(BaseModel):
    plan: dict[str, Any]
