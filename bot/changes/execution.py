"""Runs a confirmed plan exactly once.

The claim and the intent are one transaction (the rollout with its plan, its audit event and its channel
message), and nothing stands between it and the Baseten write: no Slack call, no wait. Slack hears after
(or beside) the write: the channel message goes out through the outbox while the write is under way, the
private preview is closed once Baseten has answered, off the click's thread. A process that dies after
the claim leaves a rollout the follower finds again (under its lease): an intent never sent is sent
then, one that may have been sent is resolved from the environment, and never sent twice.

One module although it is long: the intent, the write and every way the write can end (accepted,
refused, unanswered, not run, found unsent after a restart) are read together to see that a change is
sent exactly once and its requester and channel are told exactly once."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from bot.baseten.client import BasetenClient
from bot.baseten.errors import BasetenError, BasetenRateLimited, BasetenUnavailable
from bot.baseten.models import ChainDeployment
from bot.changes.plans import Applying, ChainRef, ChangePlan, PlanCodec
from bot.governance.audit import AuditTrail
from bot.runtime import logs, metrics, workpool
from bot.slack import blocks, markup, previews
from bot.slack.durations import duration
from bot.slack.gateway import Gateway, SlackFailure
from bot.slack.invocation import invite_hint
from bot.slack.markup import Mrkdwn, as_mrkdwn, md, pending_link, user
from bot.slack.outbox import Outbox
from bot.store import (
    ConfirmationState,
    Rollout,
    RolloutState,
    Store,
    StoreUnavailable,
    WriteState,
    chainlet_statuses_json,
)

log = logging.getLogger(__name__)

# A confirmed change found unsent this long after it was confirmed (the bot was down, or its database)
# is not sent any more: whoever confirmed it meant then, not an hour later.
LATE_AFTER = 15 * 60.0
UNCHECKED = Mrkdwn(
    ":hourglass: Baseten was too slow to re-check the environment before the change; "
    "I'll report here if it had changed meanwhile."
)
PRIVATE = "private"  # a private preview, closed through the click's response_url
APPROVAL = "approval"  # an approval request in the channel, updated through the outbox
Later = Callable[..., Any]  # runs a Slack call off the caller's thread (the work pool's Slack lane)


class Execution:
    def __init__(
        self,
        *,
        store: Store,
        plans: PlanCodec,
        baseten: BasetenClient,
        gateway: Gateway,
        outbox: Outbox,
        audit: AuditTrail,
        clock: Callable[[], float],
        audit_channel: str | None,
        instance_types: Callable[[], blocks.Hardware] = dict,
        owner: str = "",
        lease_seconds: float = 30.0,
        later: Later | None = None,
    ) -> None:
        self.store = store
        self.plans = plans
        self.baseten = baseten
        self.gateway = gateway
        self.outbox = outbox
        self.audit = audit
        self.clock = clock
        self.audit_channel = audit_channel
        self.instance_types = instance_types  # to show chainlets' instance types by id
        self.owner = owner or uuid.uuid4().hex
        self.lease_seconds = lease_seconds
        self._later: Later = later or (lambda fn, *args: fn(*args))
        self._writing: set[str] = set()
        self._writing_lock = threading.Lock()

    # -- the intent and the write ------------------------------------------------------------------------

    def intent(
        self,
        plan: ChangePlan,
        *,
        request_id: str,
        requester: str,
        channel: str,
        approver: str | None = None,
        unchecked: bool = False,
        answer_url: str | None = None,
        preview: str = "",
    ) -> tuple[Rollout, list[Any]]:
        """The rows that make a change durable before its write: the rollout (leased to this process,
        with the plan to send) and its channel message. The caller stores them in one transaction."""
        now = self.clock()
        headline = plan.headline(requester, approver)
        key = parent_key(request_id)
        rollout = Rollout(
            id=uuid.uuid4().hex,
            kind=plan.kind,
            request_id=request_id,
            state=RolloutState.FOLLOWING,
            write_state=WriteState.INTENT,
            plan_json=self.plans.dump(plan),
            answer_url=answer_url,
            preview=preview,
            chain_id=plan.chain_id,
            chain_name=plan.chain_name,
            env=plan.env,
            # Empty until Baseten answers: the follower then resolves it from the environment.
            deployment_id="",
            previous_deployment_id=plan.previous_deployment_id,
            preview_unchecked=unchecked,
            scale_down_previous=plan.scales_down_previous,
            channel=channel,
            parent_key=key,
            requester=requester,
            approver=approver,
            headline=headline,
            last_status=None,
            last_chainlets_json="{}",
            started_at=now,
            # Another replica may take it over once this process stops renewing the lease; this one
            # looks at it again only if its own write never got to record an answer.
            next_poll_at=now + self.lease_seconds,
            last_ok_at=now,
            lease_owner=self.owner,
            lease_until=now + self.lease_seconds,
        )
        # Posted beside the write, never waited for. If the channel refuses it, the requester is told.
        not_posted = md(
            "I can't post in {}, so I can't follow this change there: {}. Check `/chain status {} {}` for how it ends.",
            markup.channel(channel),
            headline,
            plan.chain_name,
            plan.env,
        )
        parent = self.outbox.message(
            channel,
            headline,
            [blocks.section(headline)],
            key=key,
            notify_url=answer_url,
            notify_text=markup.lines([not_posted, invite_hint(channel)]),
            notify_user=requester,
            notify_about=requester_note(plan),
        )
        return rollout, [parent]

    def run(self, rollout: Rollout, plan: ChangePlan, record: Callable[[], bool]) -> bool:
        """Record the intent (`record` stores it in one transaction, False if it may not go ahead) and
        send the write at once. Returns whether the intent was recorded."""
        with self._sending(rollout.id):
            if not record():
                return False
            logs.annotate(rollout_id=rollout.id, chain=plan.chain_name, environment=plan.env)
            self._send(rollout, plan)
        return True

    def writing(self, rollout_id: str) -> bool:
        """Whether this process is sending that rollout's write right now (the follower leaves it be)."""
        with self._writing_lock:
            return rollout_id in self._writing

    def resume(self, rollout: Rollout) -> None:
        """An intent nobody sent (its process died, or its database went away, after the claim): found
        by the follower under the rollout's lease. Sent now if the environment is still as previewed;
        otherwise not run, and said so. A Baseten error leaves it for the next look."""
        plan = self.plans.load(rollout.plan_json)
        now = self.clock()
        if now - rollout.started_at > LATE_AFTER:
            self.not_run(
                rollout,
                plan,
                "too late",
                md(
                    "I could not send this change for {} after it was confirmed, so I did not send it.",
                    duration(now - rollout.started_at),
                ),
            )
            return
        current = self.baseten.get_environment(plan.chain_id, plan.env).current_deployment
        if (current.id if current else None) != plan.previous_deployment_id:
            self.not_run(
                rollout,
                plan,
                "changed since the preview",
                md("{}/{} changed since the preview.", plan.chain_name, plan.env),
            )
            return
        log.info(
            "sending a confirmed change that was never sent (found after %.0f s)", now - rollout.started_at
        )
        if rollout.preview_unchecked:  # it was just checked
            self.store.save_rollout(rollout.id, owner=self.owner, preview_unchecked=False)
            rollout.preview_unchecked = False
        self.run(rollout, plan, lambda: True)

    @contextmanager
    def _sending(self, rollout_id: str) -> Iterator[None]:
        # Registered before the intent is committed, so this process's follower never sees it unowned.
        with self._writing_lock:
            self._writing.add(rollout_id)
        try:
            yield
        finally:
            with self._writing_lock:
                self._writing.discard(rollout_id)

    def _send(self, rollout: Rollout, plan: ChangePlan) -> None:
        try:
            if not self.store.mark_sent(rollout.id, owner=self.owner, now=self.clock()):
                log.info("rollout %s was taken over before its write; its new holder sends it", rollout.id)
                return
        except StoreUnavailable as exc:
            # Known not sent: the intent waits in the database and is sent when it is back.
            log.warning("database lost before the write (%s); it is sent once the database is back", exc)
            self._answer(
                rollout,
                plan,
                Mrkdwn(
                    ":hourglass: My database went away just as the change was confirmed, so it was not "
                    "sent yet. I'll send it when the database is back (unless the environment changed "
                    "meanwhile) and report in the thread."
                ),
                durable=False,
            )
            return
        metrics.baseten_write_starting()
        try:
            answer = plan.write(self.baseten)
        except BasetenError as exc:
            outcome = partial(self._unanswered if unanswered(exc) else self._refused, rollout, plan, exc)
        else:
            if isinstance(answer, Applying):
                outcome = partial(self._applying, rollout, plan, answer)
            else:
                outcome = partial(self._accepted, rollout, plan, answer)
        try:
            outcome()
        except StoreUnavailable as exc:
            # Baseten answered but it cannot be recorded: the follower resolves it from the environment.
            log.warning("database lost after the write (%s); resolving it from the environment later", exc)
            self._answer(
                rollout,
                plan,
                Mrkdwn(
                    ":hourglass: The change was sent to Baseten, but my database went away before I "
                    "could record Baseten's answer. I'll check the environment once it is back and "
                    "report in the thread."
                ),
                durable=False,
            )

    def _accepted(self, rollout: Rollout, plan: ChangePlan, deployment: ChainDeployment | None) -> None:
        now = self.clock()
        if deployment is None:
            log.info("Baseten applied the change without a new deployment")
            values: dict[str, Any] = {"state": RolloutState.SUCCEEDED, "finished_at": now}
        else:
            log.info("Baseten accepted the change; following deployment %s", deployment.id)
            # Start from what Baseten just answered, so the first poll reports changes, not the start.
            values = {
                "deployment_id": deployment.id,
                "next_poll_at": now,
                "last_status": deployment.status.value,
                "last_chainlets_json": chainlet_statuses_json(deployment),
            }
        if not self.store.record_answer(rollout.id, **values):
            return  # resolved meanwhile by a replica that took it over: it reports
        self._unchecked_note(rollout)
        self.executed(rollout, plan)
        self._answer(
            rollout, plan, previews.confirmed(_verb(rollout), thread=pending_link("thread")), ok=True
        )
        if deployment is None:
            metrics.rollout_finished("succeeded")
            note = Mrkdwn(":large_green_circle: Applied; Baseten needed no new deployment.")
            self._reply(rollout, note, [blocks.section(note)])
            self.audit.record("succeeded", rollout.requester, plan=plan, request_id=rollout.request_id)
            return
        note = plan.accepted(deployment)
        reply = blocks.following(
            note, deployment, where=(plan.chain.word, plan.env), types=self.instance_types()
        )
        self._reply(rollout, note, reply)

    def _applying(self, rollout: Rollout, plan: ChangePlan, answer: Applying) -> None:
        """Baseten applies the change to the environment itself: the follower reads it back until it
        settles, unless Baseten says nothing changed."""
        now = self.clock()
        values: dict[str, Any] = {"last_status": answer.status, "next_poll_at": now}
        if answer.unchanged:
            values.update(state=RolloutState.SUCCEEDED, finished_at=now, lease_owner=None)
        if not self.store.record_answer(rollout.id, **values):
            return  # resolved meanwhile by a replica that took it over: it reports
        log.info("Baseten answered the change with %s", answer.status)
        self._unchecked_note(rollout)
        self.executed(rollout, plan)
        self._answer(
            rollout, plan, previews.confirmed(_verb(rollout), thread=pending_link("thread")), ok=True
        )
        self._reply(rollout, answer.note)
        if answer.unchanged:
            metrics.rollout_finished("succeeded")
            headline = Mrkdwn(rollout.headline)
            done = [blocks.section(headline), blocks.context(":white_circle: Nothing changed")]
            self.outbox.update(rollout.parent_key, headline, done)
            self.audit.record(
                "succeeded",
                rollout.requester,
                plan=plan,
                request_id=rollout.request_id,
                summary="nothing changed",
            )

    def executed(self, rollout: Rollout, plan: ChangePlan | None) -> None:
        """Baseten made the change: settle the confirmation, record it and announce it."""
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.EXECUTED, "executed")
        self._record_outcome("executed", rollout, plan, approver=rollout.approver)
        if plan is not None and plan.force:
            self.audit.record(
                "forced", rollout.requester, plan=plan, request_id=rollout.request_id, channel=rollout.channel
            )
        self._announce(rollout)

    def settle(self, rollout: Rollout, made: bool) -> None:
        """A write whose answer never came, resolved from the environment: made, or not made."""
        plan = self.plans.load(rollout.plan_json) if rollout.plan_json else self._stored_plan(rollout)
        if made:
            self.executed(rollout, plan)
            if plan is not None:
                self._answer(
                    rollout,
                    plan,
                    md(
                        ":white_check_mark: {}; Baseten made the change: follow it in the {}.",
                        _verb(rollout),
                        pending_link("thread"),
                    ),
                    ok=True,
                )
            return
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.FAILED, "not made")
        self._record_outcome("not_made", rollout, plan)
        if plan is not None:
            self._answer(
                rollout,
                plan,
                md(
                    ":warning: {}, but Baseten's answer never came and the environment shows no change: "
                    "the change was not made. Run the command again if it is still needed.",
                    _verb(rollout),
                ),
            )

    def not_run(self, rollout: Rollout, plan: ChangePlan, reason: str, why: Mrkdwn) -> None:
        """A recorded intent that will not be sent after all: Baseten was never asked."""
        now = self.clock()
        if not self.store.save_rollout(
            rollout.id,
            owner=self.owner,
            state=RolloutState.FAILED,
            finished_at=now,
            lease_owner=None,
            write_state=WriteState.ANSWERED,
        ):
            return
        log.info("a confirmed change was not run: %s", reason)
        text = md(
            "Not run: {} Nothing was sent to Baseten; run the command again if it is still needed.", why
        )
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.NOT_RUN, text)
        self._record_outcome("not_run", rollout, plan, summary=reason)
        headline = Mrkdwn(rollout.headline)
        self.outbox.update(
            rollout.parent_key,
            headline,
            [blocks.section(headline), blocks.context(md(":no_entry_sign: {}", text))],
        )
        self._reply(rollout, md(":no_entry_sign: {} {}", user(rollout.requester), text))
        self._answer(rollout, plan, md(":no_entry_sign: {}", text))

    def _stored_plan(self, rollout: Rollout) -> ChangePlan | None:
        confirmation = self.store.confirmation(rollout.request_id) if rollout.request_id else None
        return self.plans.load(confirmation.plan_json) if confirmation is not None else None

    def _record_outcome(self, event: str, rollout: Rollout, plan: ChangePlan | None, **extra: Any) -> None:
        """An outcome in the audit trail, described by the rollout (the plan may be gone after a restart)."""
        self.audit.record(
            event,
            rollout.requester,
            plan=plan,
            kind=rollout.kind,
            chain=ChainRef(rollout.chain_id, rollout.chain_name),
            env=rollout.env,
            request_id=rollout.request_id or None,
            channel=rollout.channel,
            **extra,
        )

    def _refused(self, rollout: Rollout, plan: ChangePlan, exc: BasetenError) -> None:
        """Baseten said no (or was never reached): nothing changed."""
        log.warning("Baseten refused the change: %s", exc.message)
        if not self.store.record_answer(rollout.id, state=RolloutState.FAILED, finished_at=self.clock()):
            return
        metrics.rollout_finished("refused_by_baseten")
        self.store.finish_confirmation(rollout.request_id, ConfirmationState.FAILED, exc.message)
        self.audit.record(
            "failed", rollout.requester, plan=plan, request_id=rollout.request_id, channel=rollout.channel
        )
        if isinstance(exc, BasetenRateLimited):
            verdict = "Baseten is rate limiting requests; nothing changed"
        elif isinstance(exc, BasetenUnavailable) and not exc.sent:
            verdict = "Baseten could not be reached; nothing changed"
        else:
            verdict = "Baseten refused the change"
        headline = Mrkdwn(rollout.headline)  # built as markup, stored as sent
        failed = [blocks.section(headline), blocks.context(md(":red_circle: Failed: {}.", verdict))]
        self.outbox.update(rollout.parent_key, headline, failed)
        self._reply(rollout, md(":red_circle: {} {}", user(rollout.requester), exc.message))
        self._answer(
            rollout,
            plan,
            md(":red_circle: {}, but it failed: {}. Details in the thread.", _verb(rollout), verdict),
        )

    def _unanswered(self, rollout: Rollout, plan: ChangePlan, exc: BasetenError) -> None:
        """The write was sent but its answer never came: Baseten may well have made the change. Never
        send it again; the follower reads the environment at once and follows what it finds."""
        log.warning("no answer from Baseten to the change (%s); checking the environment", exc.message)
        self.store.update_rollout(rollout.id, next_poll_at=self.clock())
        self._unchecked_note(rollout)
        headline = Mrkdwn(rollout.headline)
        checking = [
            blocks.section(headline),
            blocks.context(
                ":hourglass_flowing_sand: Baseten did not answer in time; checking whether it made the change."
            ),
        ]
        self.outbox.update(rollout.parent_key, headline, checking)
        text = "Baseten did not answer in time. I won't send the change again; I'm checking the environment to see whether Baseten made it."
        self._reply(rollout, text)
        self._answer(
            rollout,
            plan,
            md(
                ":hourglass_flowing_sand: {}; Baseten did not answer in time, so I'm checking whether it made the change: follow it in the thread.",
                _verb(rollout),
            ),
        )

    # -- Slack, after the write ----------------------------------------------------------------------------

    def _unchecked_note(self, rollout: Rollout) -> None:
        if rollout.preview_unchecked:
            self._reply(rollout, UNCHECKED)

    def _reply(self, rollout: Rollout, text: str, block_list: blocks.Blocks | None = None) -> None:
        text = as_mrkdwn(text)
        self.outbox.post(
            rollout.channel, text, block_list or [blocks.section(text)], thread=rollout.parent_key
        )

    def _answer(
        self, rollout: Rollout, plan: ChangePlan, outcome: Mrkdwn, *, ok: bool = False, durable: bool = True
    ) -> None:
        """Say privately (or on the approval request) how the confirmed change went, after the write and
        never in its way. A private preview is closed through the outbox, right after the thread's first
        message (so it can link there); without the database (`durable` False) the click's
        response_url is answered off this thread instead. However slowly Slack answers it, or however
        long it holds it (429), nothing here waits."""
        if rollout.preview == APPROVAL and durable:  # linked to the thread once its message is posted
            key = approval_key(rollout.request_id)
            self.outbox.update(key, outcome, previews.closed(plan, outcome), link=rollout.parent_key)
            return
        url = rollout.answer_url
        if not url or not workpool.answered():
            return
        if rollout.preview == APPROVAL:
            # The approval request cannot be updated without the database: the approver hears it here.
            self._later(self._respond, url, outcome, None, False)
        elif rollout.preview == PRIVATE and durable:
            closed = previews.closed(plan, outcome)
            self.outbox.respond(url, outcome, closed, channel=rollout.channel, link=rollout.parent_key)
        elif rollout.preview == PRIVATE:
            self._later(self._respond, url, outcome, previews.closed(plan, outcome), True)
        elif not ok:
            # A change run at once has no preview: its channel message is the answer, unless it failed.
            self._later(self._respond, url, outcome, None, False)

    def _respond(self, url: str, text: Mrkdwn, block_list: blocks.Blocks | None, replace: bool) -> None:
        try:
            self.gateway.respond(url, text, block_list, replace_original=replace)
        except SlackFailure as exc:
            log.warning("could not answer the requester privately (%s)", exc)
        except Exception as exc:  # a private answer is a courtesy: the thread has the outcome
            log.warning("could not answer the requester privately (%s)", type(exc).__name__)

    def _announce(self, rollout: Rollout) -> None:
        if not self.audit_channel or self.audit_channel == rollout.channel:
            return
        text = md("{} in {}", Mrkdwn(rollout.headline), markup.channel(rollout.channel))
        self.outbox.post(self.audit_channel, text, [blocks.section(text)], link=rollout.parent_key)


def unanswered(exc: BasetenError) -> bool:
    """The write reached Baseten (or may have) but no answer came back: its outcome is unknown."""
    return isinstance(exc, BasetenUnavailable) and exc.sent and exc.status in (None, 504)


def requester_note(plan: ChangePlan) -> Mrkdwn:
    """Which change, for the requester's DM when its channel stops hearing about it."""
    return md(
        "Your change: {}. Check `/chain status {} {}` to see where it stands.",
        plan.describe(),
        plan.chain.word,
        plan.env,
    )


def parent_key(request_id: str) -> str:
    """The outbox key of a change's channel message, whose thread follows the rollout."""
    return f"change:{request_id}"


def approval_key(request_id: str) -> str:
    """The outbox key of a request's approval message in the channel."""
    return f"approval:{request_id}"


def _verb(rollout: Rollout) -> Mrkdwn:
    return md("Approved by {}", user(rollout.approver)) if rollout.approver else Mrkdwn("Confirmed")
