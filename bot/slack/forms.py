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
from bot.changes.operations import Operations
from bot.changes.planner import Planner, Refusal
from bot.changes.plans import ChangePlan
from bot.commands import registry as verbs
from bot.commands.parsing import Command
from bot.runtime import metrics
from bot.slack.form_steps import (
    BY_COMMAND,
    BY_VIEW,
    FieldErrors,
    Form,
    NextStep,
    Sources,
    Submission,
    selected,
)
from bot.slack.gateway import Gateway, SlackFailure, StaleView
from bot.slack.invocation import Invocation
from bot.slack.markup import md, readable
from bot.slack.modals import (
    FormMetadata,
    HomePick,
    chain_option,
    chainlet_block_id,
    loading_modal,
    notice_modal,
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
        self.sources = Sources(baseten, catalog)

    def open_command(self, parsed: verbs.Parsed, inv: Invocation) -> None:
        """`/chain <verb>` alone: its form, counted as that command."""
        assert parsed.command is not None
        with metrics.command(parsed.label):
            self.open(parsed.command, inv)

    def open(self, command: Command, inv: Invocation) -> None:
        """Opens with no Baseten data, so the single-use trigger is exchanged at once."""
        if not inv.trigger_id:
            self.operations.tell(inv, md("Forms need Slack; type the full command (see `/chain help`)."))
            return
        meta = FormMetadata(channel=inv.channel, response_url=inv.response_url)
        form = BY_COMMAND[type(command)]
        try:
            self.gateway.open_view(inv.trigger_id, self._sealed(form.blank(meta)))
        except SlackFailure as exc:
            self.operations.tell(
                inv, f"Could not open the form ({exc}). Try again, or type the full command."
            )

    def open_for_line(self, pick: HomePick, inv: Invocation) -> None:
        """From a line of the App Home: the form with its chain and environment chosen, for a change
        followed in the channel the person last changed the chain in. The trigger is spent at once on a
        form that needs no Baseten data; the environment's choices follow."""
        if not inv.trigger_id:
            return
        form = BY_VIEW.get(pick.form)
        if form is None:
            return  # a form this version no longer has
        meta = FormMetadata(
            channel=pick.channel,
            chain_id=pick.chain_id,
            chain_name=pick.name or pick.chain_id,
            env=pick.env,
            home=True,
        )
        try:
            loading = self._sealed(loading_modal(form.view, form.title, meta))
            view_id = self.gateway.open_view(inv.trigger_id, loading)
            filled = self._after_env(form, meta) if form.after_env else self._after_chain(form, meta)
            self.gateway.update_view(view_id, filled)
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
        form = BY_VIEW.get(str(view.get("callback_id")))
        if form is None:
            return
        meta = self._metadata(view)
        if meta is None:
            self._refuse(view, form)
            return
        chain = next((c for c in self.catalog.chains() if c.id == chain_id), None)
        if chain is None:
            return
        meta = meta.model_copy(update={"chain_id": chain.id, "chain_name": chain.name, "env": None})
        try:
            # Each update names the view it replaces: if the person picked again meanwhile, Slack
            # answers hash_conflict and the newer choice wins.
            loading = self._sealed(loading_modal(form.view, form.title, meta))
            shown = self.gateway.update_view(view["id"], loading, view_hash=view.get("hash"))
            self.gateway.update_view(view["id"], self._after_chain(form, meta), view_hash=shown)
        except StaleView:
            log.info("form %s changed meanwhile; the newer choice is shown", view.get("id"))
        except SlackFailure as exc:
            log.warning("could not update form %s: %s", view.get("id"), exc)

    def _after_chain(self, form: Form, meta: FormMetadata) -> dict[str, Any]:
        try:
            return self._sealed(form.after_chain(self.sources, meta))
        except BasetenError as exc:
            return self._sealed(form.blank(meta, note=f":warning: {exc.message}"))

    def _after_env(self, form: Form, meta: FormMetadata) -> dict[str, Any]:
        assert form.after_env is not None
        try:
            return self._sealed(form.after_env(self.sources, meta))
        except BasetenError as exc:
            return self._sealed(form.blank(meta, note=f":warning: {exc.message}"))

    def env_picked(self, view: dict[str, Any], env: str) -> None:
        form = BY_VIEW.get(str(view.get("callback_id")))
        if form is None or form.after_env is None:
            return  # its later choices do not depend on the environment
        meta = self._metadata(view)
        if meta is None:
            self._refuse(view, form)
            return
        if not meta.chain_id:
            return
        meta = meta.model_copy(update={"env": env})
        try:
            self.gateway.update_view(view["id"], self._after_env(form, meta), view_hash=view.get("hash"))
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

    def _refuse(self, view: dict[str, Any], form: Form) -> None:
        try:
            self.gateway.update_view(
                view["id"], notice_modal(form.view, form.title, UNVERIFIED), view_hash=view.get("hash")
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
        form = BY_VIEW.get(str(view.get("callback_id")))
        meta = self._metadata(view)
        if meta is None or form is None:
            return Checked({"chain": UNVERIFIED})
        state = (view.get("state") or {}).get("values") or {}
        # The view's input blocks say which step this is (Slack sends them); the state is the fallback.
        present = {b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"} or set(
            state
        )
        inv = Invocation(
            user=user, channel=meta.channel, response_url=meta.response_url, notes=[] if meta.home else None
        )
        chain_id = selected(state, "chain")
        env = selected(state, "env")
        if not chain_id:
            return Checked({"chain": "Choose a chain first."})
        if "env" not in present or chain_id != meta.chain_id:
            # "Next" on the first step: fill in the rest of the form for that chain.
            chain = next((c for c in self.catalog.chains() if c.id == chain_id), None)
            if chain is None:
                return Checked({"chain": "That chain no longer exists; choose another."})
            meta = meta.model_copy(update={"chain_id": chain.id, "chain_name": chain.name, "env": None})
            return Checked({}, view=self._after_chain(form, meta))
        if not env:
            return Checked({"env": "Choose an environment first."})
        try:
            read = form.read(self.sources, Submission(meta, state, present, chain_id, env))
            if isinstance(read, NextStep):
                return Checked({}, view=self._after_env(form, read.meta))
            if isinstance(read, FieldErrors):
                return Checked(read.errors)
            change = verbs.of(read.command).change
            assert change is not None
            plan = self.operations.plan(read.command, change, inv, environment=read.environment)
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


# Which form input holds a value, by the command field or the kind of name Baseten's URL needed.
_FIELDS = {"env": "env", "environment": "env", "deployment_id": "deployment", "deployment": "deployment"}


def _plain(text: str) -> str:
    """Field errors are plain text: mrkdwn read back as text, without emphasis."""
    shown = readable(text).replace("`", "").replace("*", "")
    return shown if len(shown) <= 300 else shown[:299] + "…"
