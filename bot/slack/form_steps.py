"""Each verb's form, described once: its view, its title, the command that opens it, what it shows once a
chain (and, for some, an environment) is chosen, and how a complete form reads as that verb's request.
The form flow (`forms.Forms`) knows no particular form; a verb with a form adds one `Form` here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.models import ChainEnvironment
from bot.commands import autoscaling_form
from bot.commands.autoscaling import AutoscalingModalCommand
from bot.commands.instance_type import InstanceTypeChange, InstanceTypeCommand, InstanceTypeModalCommand
from bot.commands.parsing import ChangeCommand, Command, FormCommand
from bot.commands.promote import PromoteCommand, PromoteModalCommand
from bot.slack.ids import View
from bot.slack.modals import (
    INSTANCE_TYPE_TITLE,
    PROMOTE_TITLE,
    FormMetadata,
    chainlet_block_id,
    instance_type_modal,
    promote_modal,
)

View_ = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    """Where a form's choices come from."""

    baseten: BasetenClient
    catalog: Catalog


@dataclass(frozen=True)
class Submission:
    """A submitted form with a chain and an environment chosen: what else was chosen, and which inputs
    the submitted step showed."""

    meta: FormMetadata
    state: dict[str, Any]
    present: set[Any]
    chain_id: str
    env: str

    def selected(self, block_id: str) -> str | None:
        return selected(self.state, block_id)

    def checked(self, block_id: str) -> bool:
        return any(v.get("selected_options") for v in (self.state.get(block_id) or {}).values())


@dataclass(frozen=True)
class NextStep:
    """ "Next": the form's next step, to show instead of closing it."""

    meta: FormMetadata


@dataclass(frozen=True)
class FieldErrors:
    errors: dict[str, str]


@dataclass(frozen=True)
class Request:
    """The complete form as its verb's request (with the environment, when reading the form read it)."""

    command: ChangeCommand
    environment: ChainEnvironment | None = None


Read = NextStep | FieldErrors | Request


@dataclass(frozen=True)
class Form:
    view: View
    title: str
    opened_by: type[FormCommand]
    # The form with what it knows (`note`: why Baseten's choices are missing), before anything is read.
    blank: Callable[..., View_]
    after_chain: Callable[[Sources, FormMetadata], View_]
    read: Callable[[Sources, Submission], Read]
    # The step after an environment is chosen, for a form whose later choices depend on it.
    after_env: Callable[[Sources, FormMetadata], View_] | None = None


def selected(state: dict[str, Any], block_id: str) -> str | None:
    for value in (state.get(block_id) or {}).values():
        chosen = value.get("selected_option")
        if chosen:
            return str(chosen.get("value"))
    return None


# -- promote ---------------------------------------------------------------------------------------------


def _promote_after_chain(sources: Sources, meta: FormMetadata) -> View_:
    assert meta.chain_id is not None
    environments = sources.baseten.list_environment_names(meta.chain_id)
    return promote_modal(meta, environments, sources.baseten.list_deployments(meta.chain_id))


def _promote_read(sources: Sources, form: Submission) -> Read:
    deployment_id = form.selected("deployment")
    if not deployment_id:
        return FieldErrors({"deployment": "Choose a deployment."})
    return Request(
        PromoteCommand(
            chain=form.chain_id,
            env=form.env,
            deployment_id=deployment_id,
            keep_previous=not form.checked("scale_down"),
        )
    )


# -- instance types --------------------------------------------------------------------------------------


def _instance_type_after_chain(sources: Sources, meta: FormMetadata) -> View_:
    assert meta.chain_id is not None
    return instance_type_modal(meta, sources.baseten.list_environment_names(meta.chain_id))


def _instance_type_after_env(sources: Sources, meta: FormMetadata) -> View_:
    assert meta.chain_id is not None and meta.env is not None
    environments = sources.baseten.list_environment_names(meta.chain_id)
    environment = sources.baseten.get_environment(meta.chain_id, meta.env)
    return instance_type_modal(meta, environments, environment, sources.catalog.instance_types())


def _instance_type_read(sources: Sources, form: Submission) -> Read:
    if form.env != form.meta.env or not any(str(b).startswith("chainlet:") for b in form.present):
        # "Next" on the second step: show that environment's chainlets.
        return NextStep(form.meta.model_copy(update={"env": form.env}))
    environment = sources.baseten.get_environment(form.chain_id, form.env)
    by_block = {chainlet_block_id(s.chainlet_name): s for s in environment.chainlet_settings}
    changes = []
    for block_id in form.state:
        setting = by_block.get(block_id)
        chosen = form.selected(block_id) if setting is not None else None
        if setting is not None and chosen and chosen != setting.instance_type.id:
            changes.append(InstanceTypeChange(chainlet=setting.chainlet_name, instance_type=chosen))
    if not changes:
        # About the whole form, so on its first field: the top of the form.
        return FieldErrors({"chain": "Change at least one chainlet's instance type."})
    command = InstanceTypeCommand(chain=form.chain_id, env=form.env, changes=tuple(changes))
    return Request(command, environment)


# -- autoscaling -----------------------------------------------------------------------------------------


def _autoscaling_after_chain(sources: Sources, meta: FormMetadata) -> View_:
    assert meta.chain_id is not None
    return autoscaling_form.modal(meta, sources.baseten.list_environment_names(meta.chain_id))


def _autoscaling_after_env(sources: Sources, meta: FormMetadata) -> View_:
    assert meta.chain_id is not None and meta.env is not None
    environments = sources.baseten.list_environment_names(meta.chain_id)
    return autoscaling_form.modal(
        meta, environments, sources.baseten.get_environment(meta.chain_id, meta.env)
    )


def _autoscaling_read(sources: Sources, form: Submission) -> Read:
    if form.env != form.meta.env or not autoscaling_form.has_rows(form.present):
        return NextStep(form.meta.model_copy(update={"env": form.env}))  # show its chainlets' rows
    environment = sources.baseten.get_environment(form.chain_id, form.env)
    command, errors = autoscaling_form.read(form.state, environment, chain=form.chain_id)
    if errors:
        return FieldErrors(errors)
    if command is None:
        return FieldErrors({"chain": "Change at least one value."})
    return Request(command, environment)


# Every form; a verb with a form adds its own here.
FORMS: tuple[Form, ...] = (
    Form(
        view=View.PROMOTE,
        title=PROMOTE_TITLE,
        opened_by=PromoteModalCommand,
        blank=promote_modal,
        after_chain=_promote_after_chain,
        read=_promote_read,
    ),
    Form(
        view=View.INSTANCE_TYPE,
        title=INSTANCE_TYPE_TITLE,
        opened_by=InstanceTypeModalCommand,
        blank=instance_type_modal,
        after_chain=_instance_type_after_chain,
        read=_instance_type_read,
        after_env=_instance_type_after_env,
    ),
    Form(
        view=View.AUTOSCALING,
        title=autoscaling_form.TITLE,
        opened_by=AutoscalingModalCommand,
        blank=autoscaling_form.modal,
        after_chain=_autoscaling_after_chain,
        read=_autoscaling_read,
        after_env=_autoscaling_after_env,
    ),
)
BY_VIEW = {form.view.value: form for form in FORMS}
BY_COMMAND: dict[type[Command], Form] = {form.opened_by: form for form in FORMS}
