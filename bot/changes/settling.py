"""One poll of a change Baseten applies to the environment itself, with no deployment to follow
(autoscaling settings): the environment is read once, what moved is said in the thread, and it ends when
the plan says it settled, or says plainly that Baseten has not applied it after the plan's timeout. A
write whose answer never came is resolved from the settings read back (made; or not made once the
resolve window has passed), and never sent again."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol, cast

from bot.baseten.models import ChainEnvironment
from bot.changes import rollout_messages as say
from bot.changes.plans import ChangePlan
from bot.slack import blocks, markup
from bot.slack.durations import duration
from bot.slack.markup import Mrkdwn, md
from bot.store import Rollout, RolloutState, WriteState

if TYPE_CHECKING:
    from bot.changes.rollout_poll import RolloutPoll


class SettlingPlan(Protocol):
    """What a plan that `follows_environment` says about its change, from the environment read back."""

    follow_timeout: float

    def applied_in(self, env: ChainEnvironment) -> bool: ...
    def settled_in(self, env: ChainEnvironment) -> bool: ...
    def seen(self, env: ChainEnvironment) -> dict[str, int | None]: ...
    def progress(self, env: ChainEnvironment, seen: dict[str, int | None]) -> list[Mrkdwn]: ...
    def settled_text(self, env: ChainEnvironment, took: str) -> Mrkdwn: ...
    def not_applied_text(self, env: ChainEnvironment, waited: str, typed: str) -> Mrkdwn: ...


def poll(
    rollouts: RolloutPoll, rollout: Rollout, change: ChangePlan, now: float, *, resolve_window: float
) -> str | None:
    """Look at the environment once; how the change ended ("succeeded", "timed_out", …) if it did."""
    plan = cast(SettlingPlan, change)
    env = rollouts.baseten.get_environment(rollout.chain_id, rollout.env)
    if rollout.unreachable_reported:
        rollouts._reply(rollout, say.BACK_AGAIN)
    if rollout.write_state == WriteState.SENT:
        resolved, outcome = _resolve(rollouts, rollout, plan, env, now, resolve_window)
        if not resolved:
            return outcome
    seen: dict[str, int | None] = json.loads(rollout.last_chainlets_json or "{}")
    lines = plan.progress(env, seen)
    values: dict[str, Any] = {
        "last_chainlets_json": json.dumps(plan.seen(env)),
        "last_ok_at": now,
        "failures": 0,
        "unreachable_reported": False,
    }
    settled = plan.settled_in(env)
    timed_out = not settled and now - rollout.started_at > plan.follow_timeout
    if not (settled or timed_out):
        values["next_poll_at"] = now + rollouts.settings.poll_interval
        if not rollouts._save(rollout, **values):
            return None  # another replica holds it now: it reports
        if lines:
            rollouts._reply(rollout, blocks.listing(lines, more="chainlets"), progress=True)
        rollouts._update_parent(rollout, None, now, "applying")
        return None
    # The end is saved with the lines that tell of it: a kill in between leaves it followed, to be told.
    told = rollouts._telling(rollout, blocks.listing(lines, more="chainlets")) if lines else []
    took = duration(now - rollout.started_at)
    if settled:
        text = plan.settled_text(env, took)
        offer = say.revert_offer(rollout, rollouts.settings.rollback_window)
        told += rollouts._telling(rollout, text, [blocks.section(text), *offer], event="succeeded")
    else:
        said = plan.not_applied_text(env, took, say.typed(rollout))
        text = md("{} {}", markup.user(rollout.requester), said)
        told += rollouts._telling(rollout, text, event="timed_out")
    # The parent shows the end before the closing reply arrives; telling it twice changes nothing.
    rollouts._update_parent(rollout, None, now, "applied" if settled else "not applied")
    state = RolloutState.SUCCEEDED if settled else RolloutState.FAILED
    if not rollouts._save(rollout, *told, state=state, finished_at=now, lease_owner=None, **values):
        return None
    return "succeeded" if settled else "timed_out"


def _resolve(
    rollouts: RolloutPoll,
    rollout: Rollout,
    plan: SettlingPlan,
    env: ChainEnvironment,
    now: float,
    window: float,
) -> tuple[bool, str | None]:
    """An unanswered write: made if the settings read back as requested; not made once the window has
    passed without them. Whether to follow it from here, and how it ended if it did."""
    if plan.applied_in(env):
        made = rollouts._telling(
            rollout, Mrkdwn("Baseten made the change: the settings read back as requested.")
        )
        if not rollouts._save(rollout, *made, write_state=WriteState.ANSWERED):
            return False, None
        if rollouts.writes is not None:
            rollouts.writes.settle(rollout, True)
        return True, None
    if now - rollout.started_at < window:
        rollouts._later(rollout, now + rollouts.settings.poll_interval)  # Baseten may still be at it
        return False, None
    text = md(
        ":warning: {} Baseten's answer to this change never arrived, and the settings of {}/*{}* read back "
        "unchanged: the change was not made. Check `/chain status {} {}` and run the command again if needed.",
        markup.user(rollout.requester),
        rollout.chain_name,
        rollout.env,
        say.typed(rollout),
        rollout.env,
    )
    return False, "not_made" if rollouts._not_made(rollout, text, now) else None
