"""The modal flows: open at once, fill dependent fields from Baseten as choices are made, and validate a
submission into the same plan, preview and confirmation as the typed command."""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.baseten.catalog import Catalog
from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenInvalidName
from bot.baseten.models import ChainEnvironment
from bot.changes.operations import Operations
from bot.changes.planner import Planner, Refusal
from bot.changes.plans import ChangePlan
from bot.commands import registry as verbs
from bot.commands.instance_type import InstanceTypeChange, InstanceTypeCommand, InstanceTypeModalCommand
from bot.commands.parsing import ChangeCommand, Command
from bot.commands.promote import PromoteCommand
from bot.slack.gateway import Gateway, SlackFailure, StaleView
from bot.slack.ids import View
from bot.slack.invocation import Invocation
from bot.slack.markup import md, readable
from bot.slack.modals import (
    FormMetadata,
    HomePick,
    chain_option,
    chainlet_block_id,
    instance_type_modal,
    loading_modal,
    notice_modal,
    promote_modal,
)
from bot.slack.sealed import Seal, Tampered
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)

SUBMIT_BUDGET = 2.2  # seconds of Slack's 3 for checking a submission against Baseten
UNVERIFIED = "This form could not be verified. Close it and run the command again."


@dataclass(frozen=True)
class Checked:
    """A submission's outcome: field errors, the next step of the form to show, or a plan to offer."""

    errors: dict[str, str]
    plan: ChangePlan | None = None
    invocation: Invocation | None = None
    view: dict[str, Any] | None = None


def _selected(state: dict[str, Any], block_id: str) -> str | None:
    for value in (state.get(block_id) or {}).values():
        chosen = value.get("selected_option")
        if chosen:
            return str(chosen.get("value"))
    return None


def _checked(state: dict[str, Any], block_id: str) -> bool:
    return any(v.get("selected_options") for v in (state.get(block_id) or {}).values())


class Forms:
    def __init__(
        self,
        *,
        baseten: BasetenClient,
        catalog: Catalog,
        planner: Planner,
        gateway: Gateway,
        operations: Operations,
        work: Executor,
        seal: Seal,
    ) -> None:
        self.baseten = baseten
        self.catalog = catalog
        self.planner = planner
        self.gateway = gateway
        self.operations = operations
        self.work = work
        self.seal = seal

    def open(self, command: Command, inv: Invocation) -> None:
        """Opens with no Baseten data, so the single-use trigger is exchanged at once."""
        if not inv.trigger_id:
            self.operations.tell(inv, md("Forms need Slack; type the full command (see `/chain help`)."))
            return
        meta = FormMetadata(channel=inv.channel, response_url=inv.response_url)
        view = (
            instance_type_modal(meta)
            if isinstance(command, InstanceTypeModalCommand)
            else promote_modal(meta)
        )
        try:
            self.gateway.open_view(inv.trigger_id, self._sealed(view))
        except SlackFailure as exc:
            self.operations.tell(
                inv, f"Could not open the form ({exc}). Try again, or type the full command."
            )

    def open_for_chain(self, callback: View, pick: HomePick, inv: Invocation) -> None:
        """From the App Home: the form with the chain chosen, for a change followed in the channel the
        person last changed it in. The trigger is spent at once on a form that needs no Baseten data;
        the chain's choices follow."""
        if not inv.trigger_id:
            return
        meta = FormMetadata(channel=pick.channel, chain_id=pick.chain_id, chain_name=pick.name, home=True)
        try:
            view_id = self.gateway.open_view(inv.trigger_id, self._sealed(loading_modal(callback, meta)))
            self.gateway.update_view(view_id, self._after_chain(callback, meta))
        except SlackFailure as exc:
            self.operations.tell(
                inv, f"Could not open the form ({exc}). Try again, or type the full command."
            )

    def chain_options(self, query: str) -> list[dict[str, Any]]:
        """Typeahead must answer within Slack's 3 seconds: a slow Baseten gives no options, not a timeout."""
        future = self.work.submit(self._chain_options, query)
        try:
            options: list[dict[str, Any]] = future.result(timeout=SUBMIT_BUDGET)
        except FutureTimeout:
            return []
        return options

    def _chain_options(self, query: str) -> list[dict[str, Any]]:
        query = query.strip().lower()
        chains = sorted(self.catalog.chains(), key=lambda c: (c.name, c.team_name))
        shared = {name for name, count in Counter(c.name for c in chains).items() if count > 1}
        return [
            chain_option(c, shared_name=c.name in shared)
            for c in chains
            if query in c.name.lower() or query == c.id.lower()
        ][:100]

    def chain_picked(self, view: dict[str, Any], chain_id: str) -> None:
        callback = View(view["callback_id"])
        meta = self._metadata(view)
        if meta is None:
            self._refuse(view, callback)
            return
        chain = next((c for c in self.catalog.chains() if c.id == chain_id), None)
        if chain is None:
            return
        meta = meta.model_copy(update={"chain_id": chain.id, "chain_name": chain.name, "env": None})
        try:
            # Each update names the view it replaces: if the person picked again meanwhile, Slack
            # answers hash_conflict and the newer choice wins.
            shown = self.gateway.update_view(
                view["id"], self._sealed(loading_modal(callback, meta)), view_hash=view.get("hash")
            )
            self.gateway.update_view(view["id"], self._after_chain(callback, meta), view_hash=shown)
        except StaleView:
            log.info("form %s changed meanwhile; the newer choice is shown", view.get("id"))
        except SlackFailure as exc:
            log.warning("could not update form %s: %s", view.get("id"), exc)

    def _after_chain(self, callback: View, meta: FormMetadata) -> dict[str, Any]:
        assert meta.chain_id is not None
        promote = callback is View.PROMOTE
        try:
            environments = self.baseten.list_environment_names(meta.chain_id)
            if promote:
                deployments = self.baseten.list_deployments(meta.chain_id)
                return self._sealed(promote_modal(meta, environments, deployments))
            return self._sealed(instance_type_modal(meta, environments))
        except BasetenError as exc:
            note = f":warning: {exc.message}"
            view = promote_modal(meta, note=note) if promote else instance_type_modal(meta, note=note)
            return self._sealed(view)

    def _after_env(self, meta: FormMetadata) -> dict[str, Any]:
        assert meta.chain_id is not None and meta.env is not None
        try:
            environments = self.baseten.list_environment_names(meta.chain_id)
            environment = self.baseten.get_environment(meta.chain_id, meta.env)
            view = instance_type_modal(meta, environments, environment, self.catalog.instance_types())
        except BasetenError as exc:
            view = instance_type_modal(meta, note=f":warning: {exc.message}")
        return self._sealed(view)

    def env_picked(self, view: dict[str, Any], env: str) -> None:
        if view.get("callback_id") != View.INSTANCE_TYPE.value:
            return
        meta = self._metadata(view)
        if meta is None:
            self._refuse(view, View.INSTANCE_TYPE)
            return
        if not meta.chain_id:
            return
        meta = meta.model_copy(update={"env": env})
        try:
            self.gateway.update_view(view["id"], self._after_env(meta), view_hash=view.get("hash"))
        except StaleView:
            log.info("form %s changed meanwhile; the newer choice is shown", view.get("id"))
        except SlackFailure as exc:
            log.warning("could not update form %s: %s", view.get("id"), exc)

    # -- private_metadata, sealed so that only what we wrote decides a channel or a response URL -------

    def _sealed(self, view: dict[str, Any]) -> dict[str, Any]:
        return {**view, "private_metadata": self.seal.close(view["private_metadata"])}

    def _metadata(self, view: dict[str, Any]) -> FormMetadata | None:
        try:
            return FormMetadata.model_validate_json(self.seal.open(str(view.get("private_metadata") or "")))
        except (Tampered, ValidationError):
            log.warning(
                "refused a form whose private_metadata does not verify (%.40s)", view.get("callback_id")
            )
            return None

    def _refuse(self, view: dict[str, Any], callback: View) -> None:
        try:
            self.gateway.update_view(
                view["id"], notice_modal(callback, UNVERIFIED), view_hash=view.get("hash")
            )
        except SlackFailure as exc:  # StaleView included: the form changed meanwhile
            log.warning("could not update form %s: %s", view.get("id"), exc)

    # -- submission ------------------------------------------------------------------------------------

    def check(self, view: dict[str, Any], user: str) -> Checked:
        """Validate within Slack's deadline; errors are keyed by the offending input's block_id."""
        future = self.work.submit(self._check, view, user)
        try:
            return future.result(timeout=SUBMIT_BUDGET)
        except FutureTimeout:
            return Checked(
                {"chain": "Baseten is slow to answer right now; press the button again in a moment."}
            )

    def _check(self, view: dict[str, Any], user: str) -> Checked:
        meta = self._metadata(view)
        if meta is None:
            return Checked({"chain": UNVERIFIED})
        state = (view.get("state") or {}).get("values") or {}
        # The view's input blocks say which step this is (Slack sends them); the state is the fallback.
        present = {b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"} or set(
            state
        )
        inv = Invocation(
            user=user, channel=meta.channel, response_url=meta.response_url, notes=[] if meta.home else None
        )
        promote = view.get("callback_id") == View.PROMOTE.value
        chain_id = _selected(state, "chain")
        env = _selected(state, "env")
        if not chain_id:
            return Checked({"chain": "Choose a chain first."})
        if "env" not in present or chain_id != meta.chain_id:
            # "Next" on the first step: fill in the rest of the form for that chain.
            chain = next((c for c in self.catalog.chains() if c.id == chain_id), None)
            if chain is None:
                return Checked({"chain": "That chain no longer exists; choose another."})
            meta = meta.model_copy(update={"chain_id": chain.id, "chain_name": chain.name, "env": None})
            return Checked({}, view=self._after_chain(View(view["callback_id"]), meta))
        if not env:
            return Checked({"env": "Choose an environment first."})
        try:
            if promote:
                deployment_id = _selected(state, "deployment")
                if not deployment_id:
                    return Checked({"deployment": "Choose a deployment."})
                command: ChangeCommand = PromoteCommand(
                    chain=chain_id,
                    env=env,
                    deployment_id=deployment_id,
                    keep_previous=not _checked(state, "scale_down"),
                )
                environment = None
            else:
                if env != meta.env or not any(str(b).startswith("chainlet:") for b in present):
                    # "Next" on the second step: show that environment's chainlets.
                    return Checked({}, view=self._after_env(meta.model_copy(update={"env": env})))
                environment = self.baseten.get_environment(chain_id, env)
                changes = _changed_chainlets(environment, state)
                if not changes:
                    # About the whole form, so on its first field: the top of the form.
                    return Checked({"chain": "Change at least one chainlet's instance type."})
                command = InstanceTypeCommand(chain=chain_id, env=env, changes=tuple(changes))
            change = verbs.of(command).change
            assert change is not None
            plan = self.operations.plan(command, change, inv, environment=environment)
        except Refusal as exc:
            field = exc.field
            if field.startswith("chainlet:"):
                field = chainlet_block_id(field.removeprefix("chainlet:"))
            return Checked({field if field in present else "chain": _plain(exc.text)})
        except ValidationError as exc:
            # A value no form of ours offers (the payload was altered): say which, send nothing.
            where = str(exc.errors()[0]["loc"][0]) if exc.errors() else "chain"
            field = _FIELDS.get(where, "chain")
            return Checked({field if field in present else "chain": "That choice is not a valid name."})
        except BasetenInvalidName as exc:
            field = _FIELDS.get(exc.kind, "chain")
            return Checked({field if field in present else "chain": _plain(exc.message)})
        except BasetenError as exc:
            return Checked({"chain": _plain(exc.message)})
        except StoreUnavailable:
            return Checked(
                {"chain": "I can't reach my database right now; nothing was changed. Try again in a minute."}
            )
        return Checked({}, plan, inv)


def _changed_chainlets(environment: ChainEnvironment, state: dict[str, Any]) -> list[InstanceTypeChange]:
    by_block = {chainlet_block_id(s.chainlet_name): s for s in environment.chainlet_settings}
    changes = []
    for block_id in state:
        setting = by_block.get(block_id)
        if setting is None:
            continue
        chosen = _selected(state, block_id)
        if chosen and chosen != setting.instance_type.id:
            changes.append(InstanceTypeChange(chainlet=setting.chainlet_name, instance_type=chosen))
    return changes


# Which form input holds a value, by the command field or the kind of name Baseten's URL needed.
_FIELDS = {"env": "env", "environment": "env", "deployment_id": "deployment", "deployment": "deployment"}


def _plain(text: str) -> str:
    """Field errors are plain text: mrkdwn read back as text, without emphasis."""
    shown = readable(text).replace("`", "").replace("*", "")
    return shown if len(shown) <= 300 else shown[:299] + "…"
