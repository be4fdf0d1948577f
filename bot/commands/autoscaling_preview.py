"""What `/chain autoscaling` shows: the preview (today's value → the new one, active replicas, the cost
change per hour at the floor and the ceiling) and the thread's lines while the change settles. Pure
builders: a plan in, blocks out."""

from __future__ import annotations

from bot.baseten.models import ChainEnvironment
from bot.commands.autoscaling_plan import KEYS as KEY_FIELDS
from bot.commands.autoscaling_plan import AutoscalingPlan, ScalingChange
from bot.slack.blocks import MAX_TEXT, Blocks, context, listing, section
from bot.slack.markup import Mrkdwn, lines, md

COLD_START = "scales to zero: the first request after idle waits for a cold start"


def _value(value: int | None) -> str:
    return "unset" if value is None else str(value)


def _signed(dollars: float) -> str:
    sign = "+" if dollars >= 0 else "−"
    return f"{sign}${abs(dollars):,.2f}/h"


def cost_delta(change: ScalingChange) -> tuple[float, float] | None:
    """The change in hourly cost at the floor (min replicas) and at the ceiling (max replicas); None when
    the price or today's range is unknown."""
    price = change.price_per_minute
    if price is None or change.min_replica is None or change.max_replica is None:
        return None
    new_min, new_max = change.value("min"), change.value("max")
    assert new_min is not None and new_max is not None
    hourly = price * 60
    return (new_min - change.min_replica) * hourly, (new_max - change.max_replica) * hourly


def chainlet_line(change: ScalingChange) -> Mrkdwn:
    moves = Mrkdwn(", ").join(
        md("{} {} → *{}*", key, _value(change.before.get(key)), value) for key, value in change.after.items()
    )
    active = "unknown" if change.active_replicas is None else str(change.active_replicas)
    line = md("*{}*: {} · {} active now", change.chainlet, moves, active)
    if change.scales_to_zero:
        line += md("\n:warning: {}", COLD_START)
    return line


def cost_lines(plan: AutoscalingPlan) -> list[str]:
    found: list[str] = []
    floor = ceiling = 0.0
    known = True
    for change in plan.changes:
        delta = cost_delta(change)
        if delta is None:
            known = False
            price = "price unknown" if change.price_per_minute is None else "range unknown"
            found.append(f"{change.chainlet} ({change.instance_type or 'unknown type'}): {price}")
            continue
        assert change.price_per_minute is not None
        found.append(
            f"{change.chainlet} ({change.instance_type}, ${change.price_per_minute * 60:,.2f}/h per replica): "
            f"{_signed(delta[0])} at the floor, {_signed(delta[1])} at the ceiling"
        )
        floor, ceiling = floor + delta[0], ceiling + delta[1]
    if known:
        found.append(
            f"Change in hourly cost: {_signed(floor)} at the floor (min), {_signed(ceiling)} at the ceiling (max)"
        )
    else:
        found.append("Change in hourly cost: unknown for some chainlets (a price or the range is missing)")
    return found


def summary(plan: AutoscalingPlan, identity: Mrkdwn) -> Blocks:
    title = md("*Change autoscaling* in {} · *{}*", identity, plan.env)
    changes = listing([chainlet_line(c) for c in plan.changes], more="chainlets", limit=MAX_TEXT - 300)
    *per_chainlet, total = cost_lines(plan)
    blocks: Blocks = [
        section(lines([title, changes])),
        section(lines([md("*Cost*"), listing(per_chainlet, more="chainlets", limit=2500), total])),
    ]
    if plan.destructive:
        blocks.append(context("This can take capacity away, so it is confirmed first."))
    return blocks


def question(plan: AutoscalingPlan) -> str:
    """The confirm dialog's question."""
    if any(c.scales_to_zero for c in plan.changes):
        return f"It {COLD_START}."
    return "It can take capacity away."


def progress(plan: AutoscalingPlan, env: ChainEnvironment) -> list[Mrkdwn]:
    """Where each chainlet stands while the change settles: its replicas and its range as read back."""
    found = []
    for change in plan.changes:
        setting = env.setting_of(change.chainlet)
        scaling = setting.autoscaling_settings if setting else None
        active = env.active_replicas_of(change.chainlet)
        shown = "unknown" if active is None else str(active)
        span = md("{}–{}", scaling.min_replica, scaling.max_replica) if scaling else Mrkdwn("unknown")
        found.append(md("*{}*: {} active replicas (range {})", change.chainlet, shown, span))
    return found


# -- following -----------------------------------------------------------------------------------------


def moved(plan: AutoscalingPlan, env: ChainEnvironment, seen: dict[str, int | None]) -> list[Mrkdwn]:
    """A line per chainlet whose replica count moved since the last poll (or, at the first, since the
    preview)."""
    found = []
    for change in plan.changes:
        now = env.active_replicas_of(change.chainlet)
        before = seen.get(change.chainlet) if seen else change.active_replicas
        if now is not None and before is not None and now != before:
            found.append(
                md(
                    ":hourglass_flowing_sand: {}: {} → *{}* active replicas (range {}–{})",
                    change.chainlet,
                    before,
                    now,
                    change.value("min"),
                    change.value("max"),
                )
            )
    return found


def accepted(status: str, message: str) -> Mrkdwn:
    """The thread's first reply: Baseten's status as it names it, and what follows."""
    if status == "UNCHANGED":
        return md(":white_circle: Baseten says nothing changed: {}", message)
    return md(
        "Baseten answered *{}*: {} Following the environment until the settings read back.", status, message
    )


def settled(plan: AutoscalingPlan, env: ChainEnvironment, took: str) -> Mrkdwn:
    per_chainlet = Mrkdwn("; ").join(
        md(
            "{} {}–{}, {} active",
            c.chainlet,
            c.value("min"),
            c.value("max"),
            _value(env.active_replicas_of(c.chainlet)),
        )
        for c in plan.changes
    )
    return md(
        ":large_green_circle: Autoscaling of {}/*{}* applied after {}: {}.",
        plan.chain_name,
        plan.env,
        took,
        per_chainlet,
    )


def not_applied(plan: AutoscalingPlan, env: ChainEnvironment, waited: str, typed: str) -> Mrkdwn:
    """After the timeout: what Baseten reads back, said plainly."""
    found = []
    for c in plan.changes:
        setting = env.setting_of(c.chainlet)
        scaling = setting.autoscaling_settings if setting else None
        reads = (
            Mrkdwn(", ").join(md("{} {}", k, _value(getattr(scaling, KEY_FIELDS[k]))) for k in c.after)
            if scaling
            else Mrkdwn("nothing")
        )
        asked = " ".join(f"{k}={v}" for k, v in c.after.items())
        found.append(
            md(
                "{} reads {} (asked {}), {} active",
                c.chainlet,
                reads,
                asked,
                _value(env.active_replicas_of(c.chainlet)),
            )
        )
    return md(
        ":warning: Baseten has not applied the autoscaling settings of {}/*{}* after {}: {}. Check `/chain status {} {}`.",
        plan.chain_name,
        plan.env,
        waited,
        Mrkdwn("; ").join(found),
        typed,
        plan.env,
    )
