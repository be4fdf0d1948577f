"""Pure builders of the promote and instance-type modals. Only valid choices are offered.

Longer than most: Slack's limits on views (options, blocks, sizes) are met in one place for both forms."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.baseten.models import Chain, ChainDeployment, ChainEnvironment, InstanceType
from bot.changes.planner import ordered
from bot.slack.blocks import context, plain, section, when
from bot.slack.ids import Action, View
from bot.slack.markup import md

View_ = dict[str, Any]


class FormMetadata(BaseModel):
    """Carried in `private_metadata`: where the command was typed, and what was chosen so far."""

    channel: str
    response_url: str | None = None
    chain_id: str | None = None
    chain_name: str | None = None
    env: str | None = None
    home: bool = False  # opened from the App Home: its preview is shown there


class HomePick(BaseModel):
    """An App Home menu choice: the form to open (its view's callback id), the chain and environment
    it is for, and where its change will be followed."""

    form: str = Field(alias="f")
    chain_id: str = Field(alias="c")
    env: str = Field(alias="e")
    channel: str = Field(alias="ch")
    name: str = Field(default="", alias="n")  # the chain as the form shows it until Baseten answers

    model_config = ConfigDict(populate_by_name=True)

    def value(self, limit: int = 150) -> str | None:
        """As an overflow option's value (at most 150 characters): the name is cut to fit, and None
        when even without it the choice does not fit."""
        for cut in (len(self.name), 40, 20, 0):
            value = self.model_copy(update={"name": self.name[:cut]}).model_dump_json(by_alias=True)
            if len(value) <= limit:
                return value
        return None


MAX_OPTIONS = 100  # per select, and per option group
MAX_CHAINLET_INPUTS = 20  # more would pass Slack's view size with every instance type in each select
OPTIONS_PER_VIEW = 2000  # instance-type options over all chainlet selects (Slack's view size: 250 kB)
SUBMIT_NEXT = "Next"
SUBMIT_PREVIEW = "Preview"
# What "Preview" does, said on the form: it only shows; the change waits for the preview's Confirm.
PREVIEW_NOTE = md("*Preview* shows what will change; nothing changes until you confirm it.")


def chainlet_block_id(chainlet_name: str) -> str:
    """A block_id within Slack's 255 characters whatever the name; the submission maps it back through
    the environment's chainlets."""
    return "chainlet:" + hashlib.sha256(chainlet_name.encode()).hexdigest()[:20]


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, 75), "value": value[:150]}


def chain_option(chain: Chain, *, shared_name: bool = False) -> dict[str, Any]:
    """A name that another team's chain has too is told apart by team and id."""
    if shared_name:
        return option(f"{chain.name} · team {chain.team_name} · {chain.id}", chain.id)
    return option(chain.name, chain.id)


def deployment_option(deployment: ChainDeployment) -> dict[str, Any]:
    where = f" · in {deployment.environment}" if deployment.environment else ""
    return option(
        f"{deployment.id} · {when(deployment.created_at)} · {deployment.status.value}{where}", deployment.id
    )


def instance_type_option(instance_type: InstanceType) -> dict[str, Any]:
    return option(f"{instance_type.id} ({instance_type.summary})", instance_type.id)


def _chain_input(meta: FormMetadata) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": Action.PICK_CHAIN.value,
        "placeholder": plain("Type to search chains"),
        "min_query_length": 0,
    }
    if meta.chain_id and meta.chain_name:
        element["initial_option"] = option(meta.chain_name, meta.chain_id)
    return {
        "type": "input",
        "block_id": "chain",
        "dispatch_action": True,
        "label": plain("Chain"),
        "element": element,
    }


def _static(
    block_id: str,
    label: str,
    action: Action,
    options: list[dict[str, Any]],
    *,
    initial: str | None = None,
    dispatch: bool = False,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action.value,
        "options": options[:MAX_OPTIONS],
        "placeholder": plain(f"Choose {label.lower()}"),
    }
    chosen = next((o for o in options[:MAX_OPTIONS] if o["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label), "element": element}
    if dispatch:
        block["dispatch_action"] = True
    return block


def _modal(
    callback: View, title: str, meta: FormMetadata, blocks: list[dict[str, Any]], *, ready: bool
) -> View_:
    """Every step has a submit (Slack refuses a view with inputs and none): "Next" until the form is
    complete, whose submission fills in the next step or names the field to choose first."""
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": plain(title, 24),
        "submit": plain(SUBMIT_PREVIEW if ready else SUBMIT_NEXT, 24),
        "close": plain("Cancel", 24),
        "private_metadata": meta.model_dump_json(exclude_none=True),
        "blocks": blocks,
    }


def _env_input(meta: FormMetadata, environments: list[str], *, dispatch: bool) -> list[dict[str, Any]]:
    blocks = [
        _static(
            "env",
            "Environment",
            Action.PICK_ENV,
            [option(e, e) for e in environments],
            initial=meta.env,
            dispatch=dispatch,
        )
    ]
    if len(environments) > MAX_OPTIONS:
        hidden = len(environments) - MAX_OPTIONS
        blocks.append(context(md("…and {} more environments: type the full command for those.", hidden)))
    return blocks


PROMOTE_TITLE = "Promote deployment"
INSTANCE_TYPE_TITLE = "Change instance types"


def promote_modal(
    meta: FormMetadata,
    environments: list[str] | None = None,
    deployments: list[ChainDeployment] | None = None,
    *,
    note: str | None = None,
) -> View_:
    blocks: list[dict[str, Any]] = [_chain_input(meta)]
    ready = environments is not None and deployments is not None
    if ready:
        assert environments is not None and deployments is not None
        blocks += _env_input(meta, environments, dispatch=False)
        newest_first = sorted(deployments, key=lambda d: d.created_at, reverse=True)
        blocks.append(
            _static(
                "deployment",
                "Deployment",
                Action.PICK_DEPLOYMENT,
                [deployment_option(d) for d in newest_first[:MAX_OPTIONS]],
            )
        )
        if len(newest_first) > MAX_OPTIONS:
            blocks.append(
                context(
                    md(
                        "Showing the newest {} of {} deployments. For an older one, type "
                        "`/chain promote {} <env> <deployment_id>`.",
                        MAX_OPTIONS,
                        len(newest_first),
                        meta.chain_name or "<chain>",
                    )
                )
            )
        scale_down = option("Scale down the previous deployment", "scale_down")
        blocks.append(
            {
                "type": "input",
                "block_id": "scale_down",
                "optional": True,
                "label": plain("After promotion"),
                "element": {
                    "type": "checkboxes",
                    "action_id": Action.SCALE_DOWN.value,
                    "options": [scale_down],
                    "initial_options": [scale_down],
                },
            }
        )
    blocks.append(
        context(
            note
            or (
                md("Newest deployments first. {}", PREVIEW_NOTE)
                if ready
                else "Choose a chain to see its environments and deployments."
            )
        )
    )
    return _modal(View.PROMOTE, PROMOTE_TITLE, meta, blocks, ready=ready)


def _instance_type_choices(
    instance_types: list[InstanceType], wanted: set[str], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """CPU and GPU option groups within `limit` options, the chainlets' current types always among
    them; and how many types were left out."""
    every = ordered(instance_types)
    groups: list[dict[str, Any]] = []
    offered = 0
    for label, gpu in (("CPU", False), ("GPU", True)):
        kind = [t for t in every if (t.gpu_count > 0) is gpu]
        room = max(0, min(MAX_OPTIONS, limit - offered))
        keep = {t.id for t in kind if t.id in wanted}
        keep.update([t.id for t in kind if t.id not in wanted][: max(0, room - len(keep))])
        options = [instance_type_option(t) for t in kind if t.id in keep][:MAX_OPTIONS]
        offered += len(options)
        if options:
            groups.append({"label": plain(label), "options": options})
    return groups, len(every) - offered


def instance_type_modal(
    meta: FormMetadata,
    environments: list[str] | None = None,
    environment: ChainEnvironment | None = None,
    instance_types: list[InstanceType] | None = None,
    *,
    note: str | None = None,
) -> View_:
    blocks: list[dict[str, Any]] = [_chain_input(meta)]
    if environments is not None:
        blocks += _env_input(meta, environments, dispatch=True)
    ready = environment is not None and instance_types is not None
    if ready:
        assert environment is not None and instance_types is not None
        settings = environment.chainlet_settings[:MAX_CHAINLET_INPUTS]
        per_select = min(2 * MAX_OPTIONS, OPTIONS_PER_VIEW // max(1, len(settings)))
        groups, left_out = _instance_type_choices(
            instance_types, {s.instance_type.id for s in settings}, per_select
        )
        for setting in settings:
            element: dict[str, Any] = {
                "type": "static_select",
                "action_id": Action.PICK_INSTANCE_TYPE.value,
                "option_groups": groups,
            }
            current = instance_type_option(setting.instance_type)
            if any(o["value"] == current["value"] for g in groups for o in g["options"]):
                element["initial_option"] = current
            blocks.append(
                {
                    "type": "input",
                    "block_id": chainlet_block_id(setting.chainlet_name),
                    # Unchanged or left empty: the chainlet keeps its type.
                    "optional": True,
                    "label": plain(setting.chainlet_name, 2000),
                    "element": element,
                }
            )
        chain = meta.chain_name or "<chain>"
        hidden = len(environment.chainlet_settings) - len(settings)
        if hidden:
            blocks.append(
                context(
                    md(
                        "…and {} more chainlets. Change those with "
                        "`/chain instance-type {} {} <chainlet>=<instance_type>`.",
                        hidden,
                        chain,
                        environment.name,
                    )
                )
            )
        if left_out:
            blocks.append(
                context(
                    md(
                        "…and {} more instance types. For one of those, type "
                        "`/chain instance-type {} {} <chainlet>=<instance_type>`.",
                        left_out,
                        chain,
                        environment.name,
                    )
                )
            )
        blocks.append(section("Only chainlets whose type you change are sent to Baseten."))
    blocks.append(
        context(
            note
            or (
                md("Current types are preselected. {}", PREVIEW_NOTE)
                if ready
                else "Choose a chain and an environment."
            )
        )
    )
    return _modal(View.INSTANCE_TYPE, INSTANCE_TYPE_TITLE, meta, blocks, ready=ready)


def loading_modal(callback: View, title: str, meta: FormMetadata) -> View_:
    """Shown while Baseten answers: the chosen chain stays visible, and "Next" still works."""
    blocks = [_chain_input(meta), context(":hourglass_flowing_sand: Loading from Baseten…")]
    return _modal(callback, title, meta, blocks, ready=False)


def notice_modal(callback: View, title: str, text: str) -> View_:
    """A form that can only be closed, for when it cannot go on (its metadata did not verify)."""
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": plain(title),
        "close": plain("Close"),
        "blocks": [section(text)],
    }
