"""Pure builders of the promote and instance-type modals. Only valid choices are offered."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.baseten.models import Chain, ChainDeployment, ChainEnvironment, InstanceType
from bot.blocks import context, plain, section
from bot.ids import Action, View
from bot.planner import ordered

View_ = dict[str, Any]


class FormMetadata(BaseModel):
    """Carried in `private_metadata`: where the command was typed, and what was chosen so far."""

    channel: str
    response_url: str | None = None
    chain_id: str | None = None
    chain_name: str | None = None
    env: str | None = None


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text[:75]), "value": value[:150]}


def chain_option(chain: Chain) -> dict[str, Any]:
    return option(chain.name, chain.id)


def deployment_option(deployment: ChainDeployment) -> dict[str, Any]:
    where = f" · in {deployment.environment}" if deployment.environment else ""
    created = deployment.created_at.strftime("%Y-%m-%d %H:%M")
    return option(f"{deployment.id} · {created} · {deployment.status.value}{where}", deployment.id)


def instance_type_option(instance_type: InstanceType) -> dict[str, Any]:
    return option(f"{instance_type.id} · {instance_type.summary}", instance_type.id)


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
        "options": options[:100],
        "placeholder": plain(f"Choose {label.lower()}"),
    }
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label), "element": element}
    if dispatch:
        block["dispatch_action"] = True
    return block


def _modal(
    callback: View, title: str, meta: FormMetadata, blocks: list[dict[str, Any]], *, submit: bool
) -> View_:
    view: View_ = {
        "type": "modal",
        "callback_id": callback.value,
        "title": plain(title),
        "close": plain("Cancel"),
        "private_metadata": meta.model_dump_json(exclude_none=True),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain("Preview")
    return view


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
        blocks.append(_static("env", "Environment", Action.PICK_ENV, [option(e, e) for e in environments]))
        newest_first = sorted(deployments, key=lambda d: d.created_at, reverse=True)
        blocks.append(
            _static(
                "deployment",
                "Deployment",
                Action.PICK_DEPLOYMENT,
                [deployment_option(d) for d in newest_first],
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
                "Newest deployments first."
                if ready
                else "Choose a chain to see its environments and deployments."
            )
        )
    )
    return _modal(View.PROMOTE, "Promote deployment", meta, blocks, submit=ready)


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
        blocks.append(
            _static(
                "env",
                "Environment",
                Action.PICK_ENV,
                [option(e, e) for e in environments],
                initial=meta.env,
                dispatch=True,
            )
        )
    ready = environment is not None and instance_types is not None
    if ready:
        assert environment is not None and instance_types is not None
        cpu = [instance_type_option(t) for t in ordered(instance_types) if t.gpu_count == 0]
        gpu = [instance_type_option(t) for t in ordered(instance_types) if t.gpu_count > 0]
        groups: list[dict[str, Any]] = [
            g
            for g in (
                {"label": plain("CPU"), "options": cpu[:100]},
                {"label": plain("GPU"), "options": gpu[:100]},
            )
            if g["options"]
        ]
        for setting in environment.chainlet_settings[:40]:
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
                    "block_id": f"chainlet:{setting.chainlet_name}",
                    "label": plain(setting.chainlet_name),
                    "element": element,
                }
            )
        blocks.append(section("Only chainlets whose type you change are sent to Baseten."))
    blocks.append(
        context(note or ("Current types are preselected." if ready else "Choose a chain and an environment."))
    )
    return _modal(View.INSTANCE_TYPE, "Change instance types", meta, blocks, submit=ready)


def loading_modal(callback: View, title: str, meta: FormMetadata) -> View_:
    return _modal(
        callback, title, meta, [section(":hourglass_flowing_sand: Loading from Baseten…")], submit=False
    )
