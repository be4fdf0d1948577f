"""The App Home as Block Kit: pure, from `HomeContent` to a `home` view within Slack's limits
(at most 100 blocks; every section that cannot show everything says how many more and where they are).

Its buttons are the channel's own (same action ids, same values), so a decision taken on the home
goes through exactly the path a click in the channel takes: never the requester, exactly once."""

from __future__ import annotations

import math
from typing import Any

from bot.governance.audit import Change
from bot.home.content import ChainLines, Decision, EnvLine, HomeContent, Moving, Waiting
from bot.home.gather import chain_word
from bot.slack import blocks
from bot.slack.blocks import Blocks, button, confirm_dialog, context, header, section, when
from bot.slack.durations import duration
from bot.slack.form_steps import FORMS
from bot.slack.ids import Action
from bot.slack.markup import Mrkdwn, channel, lines, link, md, user
from bot.slack.modals import HomePick

MAX_BLOCKS = 100  # Slack's limit for a home view
WAITING_SHOWN = 8  # each takes two blocks (what, buttons)
MOVING_SHOWN = 10
CHAINS_SHOWN = 4
EMOJI = {
    Waiting.APPROVE: ":raised_hand:",
    Waiting.CONFIRM: ":point_right:",
    Waiting.APPROVAL: ":hourglass_flowing_sand:",
}


def home_view(content: HomeContent) -> dict[str, Any]:
    found: Blocks = []
    if content.notice:
        found += [section(content.notice), {"type": "divider"}]
    found += waiting_blocks(content)
    found += moving_blocks(content)
    found += chains_blocks(content)
    found += recent_blocks(content)
    found.append(context(md("Updated {}. Type `/chain help` for every command.", when(content.now))))
    if len(found) > MAX_BLOCKS:  # the sections stay far below; never send what Slack refuses
        found = [*found[: MAX_BLOCKS - 1], context("Some of your home did not fit; see `/chain history`.")]
    return {"type": "home", "blocks": found}


# -- waiting on you -----------------------------------------------------------------------------------


def waiting_blocks(content: HomeContent) -> Blocks:
    found: Blocks = [header("Waiting on you")]
    if not content.waiting:
        return [*found, context("Nothing waits on you.")]
    for decision in content.waiting[:WAITING_SHOWN]:
        found += _decision(decision, content.now)
    rest = len(content.waiting) - WAITING_SHOWN
    if rest > 0:
        found.append(
            context(md("…and {} more waiting (see `/chain history`, where they are pending).", rest))
        )
    return found


def _decision(d: Decision, now: float) -> Blocks:
    left = md("expires in {}", duration(_rounded(d.expires_at - now)))
    if d.waiting is Waiting.APPROVE:
        text = md(
            "{} {} asks in {}: {} · {}",
            Mrkdwn(EMOJI[d.waiting]),
            user(d.requester),
            channel(d.channel),
            d.summary,
            left,
        )
        buttons = [
            button(
                "Approve",
                Action.APPROVE,
                d.id,
                style="primary",
                confirm=confirm_dialog(
                    "Approve this change?", f"This makes the change: {d.summary}", "Approve", danger=False
                ),
            ),
            button("Reject", Action.REJECT, d.id, style="danger"),
        ]
    elif d.waiting is Waiting.CONFIRM:
        text = md("{} Your preview: {} · {}", Mrkdwn(EMOJI[d.waiting]), d.summary, left)
        buttons = [
            button("Confirm", Action.CONFIRM, d.id, style="primary"),
            button("Cancel", Action.CANCEL, d.id),
        ]
    else:
        text = md("{} Your request waits for an approver: {} · {}", Mrkdwn(EMOJI[d.waiting]), d.summary, left)
        buttons = [button("Cancel", Action.CANCEL, d.id)]
    return [section(text), {"type": "actions", "block_id": f"home_{d.id}", "elements": buttons}]


def _rounded(seconds: float) -> float:
    """To the minute above, past two minutes: a home is read, not watched tick by tick."""
    return seconds if seconds <= 120 else math.ceil(seconds / 60) * 60


# -- moving now ---------------------------------------------------------------------------------------


def moving_blocks(content: HomeContent) -> Blocks:
    found: Blocks = [{"type": "divider"}, header("Moving now")]
    if not content.moving:
        return [*found, context("No rollout is being followed.")]
    shown = [_moving(m, content.now) for m in content.moving[:MOVING_SHOWN]]
    rest = len(content.moving) - MOVING_SHOWN
    if rest > 0:
        shown.append(md("…and {} more rollouts (see `/chain status <chain> <env>`).", rest))
    return [*found, section(blocks.listing(shown, more="rollouts (see `/chain status <chain> <env>`)"))]


def _moving(m: Moving, now: float) -> Mrkdwn:
    # A change that builds no deployment (autoscaling) is followed in the environment itself.
    what = md("`{}` ", m.deployment_id) if m.deployment_id else Mrkdwn("")
    line = md(
        "{} *{}/{}* {}{} · {} · by {}",
        Mrkdwn(":hourglass_flowing_sand:"),
        m.chain_name,
        m.env,
        what,
        m.status,
        duration(now - m.started_at),
        _who(m.requester),
    )
    if m.thread:
        line += Mrkdwn(" · ") + link(m.thread, "thread")
    return line


def _who(requester: str) -> Mrkdwn:
    """A Slack person, or (a change made outside chainops) the email or API key name Baseten names."""
    try:
        return user(requester)
    except ValueError:
        return md("{}", requester)


# -- your chains --------------------------------------------------------------------------------------


def chains_blocks(content: HomeContent) -> Blocks:
    found: Blocks = [{"type": "divider"}, header("Your chains")]
    if not content.chains:
        return [*found, context("Chains you change (or that your channels watch) show here.")]
    for chain in content.chains[:CHAINS_SHOWN]:
        found += _chain(chain)
    rest = content.more_chains + max(0, len(content.chains) - CHAINS_SHOWN)
    if rest > 0:
        found.append(context(md("…and {} more chains (see `/chain status <chain>`).", rest)))
    return found


def _chain(chain: ChainLines) -> Blocks:
    """The chain, then one section per environment, each with a menu of the forms for it."""
    word = chain_word(chain.chain_id, chain.chain_name)
    head = md("*{}* · {}", chain.chain_name, blocks.in_baseten(chain.chain_id, "open in Baseten"))
    if chain.channel:
        head += md(" · a change from its menus is followed in {}", channel(chain.channel))
    found: Blocks = [section(head)]
    for line in chain.envs:
        block = section(_env(line))
        menu = _menu(chain, line)
        if menu is not None:
            block["accessory"] = menu
        found.append(block)
    if chain.more_envs:
        found.append(
            context(md("…and {} more environments (see `/chain status {}`).", chain.more_envs, word))
        )
    if not chain.envs:
        found.append(context("No environments."))
    return found


def _menu(chain: ChainLines, line: EnvLine) -> dict[str, Any] | None:
    """Each form for this environment (promote, instance types, …): it opens with both chosen."""
    if not chain.channel or not line.env or line.unreadable is not None:
        return None
    options = []
    for form in FORMS[:5]:  # Slack shows at most five choices in a menu
        pick = HomePick(
            form=form.view.value,
            chain_id=chain.chain_id,
            env=line.env,
            channel=chain.channel,
            name=chain.chain_name,
        )
        value = pick.value()
        if value is None:
            return None  # a name too long to carry: the typed command reaches it
        options.append({"text": blocks.plain(f"{form.title} in {line.env}…", 75), "value": value})
    return {"type": "overflow", "action_id": Action.HOME_FORM.value, "options": options}


def _env(e: EnvLine) -> Mrkdwn:
    lock = (
        md(" · :lock: locked by {}: {}", user(e.locked_by), e.lock_reason or "no reason given")
        if e.locked_by
        else Mrkdwn("")
    )
    if e.unreadable is not None:
        where = md("*{}*", e.env) if e.env else md("Environments")
        return md("{}: not shown ({})", where, e.unreadable) + lock
    if e.deployment_id is None:
        return md("*{}*: nothing live", e.env) + lock
    price = f"${e.dollars_per_hour:,.2f}/h" if e.dollars_per_hour is not None else "price unknown"
    hardware = Mrkdwn(", ").join(md("`{}`", h) for h in e.hardware) or md("no chainlets")
    return (
        md(
            "*{}*: `{}` {} · {} · {} replicas · {}",
            e.env,
            e.deployment_id,
            e.status or "",
            hardware,
            e.replicas,
            price,
        )
        + lock
    )


# -- recent changes -----------------------------------------------------------------------------------


def recent_blocks(content: HomeContent) -> Blocks:
    found: Blocks = [{"type": "divider"}, header("Recent changes")]
    if not content.recent:
        return [*found, context("No changes you can see yet.")]
    shown = [_recent(c) for c in content.recent]
    if content.more_recent:
        shown.append(md("…more in `/chain history`."))
    return [*found, section(lines(shown))]


def _recent(c: Change) -> Mrkdwn:
    if c.event != "requested":  # a lock or an unlock
        line = md("{} · {} · {} {}", when(c.at), _who(c.requester), c.event, c.where.rstrip("/"))
        return line + md(": {}", c.reason) if c.reason else line
    line = md("{} · {} · {} · *{}*", when(c.at), _who(c.requester), c.summary, c.outcome)
    return line + md(" · approved by {}", _who(c.approver)) if c.approver else line
