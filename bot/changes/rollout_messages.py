"""What a rollout's thread says: pure builders of its replies and of its parent message, from the rollout
as stored and what Baseten answered. Nothing here reads the database or calls Baseten or Slack."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.baseten.models import ChainDeployment, Chainlet, LogEntry, LogLevel, Phase
from bot.changes.plans import ChainRef, Reverted
from bot.commands import registry as verbs
from bot.slack import blocks, markup
from bot.slack.durations import duration
from bot.slack.markup import Mrkdwn, md
from bot.store import Rollout

LOG_LINES = 5
FAILED_NAMED = 10  # failed chainlets named in the report; the rest are counted
FAILED_WITH_LOGS = 5  # failed chainlets whose last error lines are shown
# Lines at these levels are not errors; lines without a level (often the exception that ended the
# process) and levels Baseten adds later are shown.
QUIET_LEVELS = frozenset({LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARNING})

BACK_AGAIN = Mrkdwn(":electric_plug: Baseten is answering again; still following.")


@dataclass(frozen=True)
class Reply:
    """One reply in the rollout's thread."""

    text: Mrkdwn
    blocks: blocks.Blocks


def _plain(text: Mrkdwn) -> Reply:
    return Reply(text, [blocks.section(text)])


def typed(rollout: Rollout) -> str:
    """The rollout's chain as a person types it in a suggested command (a name, or the id)."""
    return ChainRef(rollout.chain_id, rollout.chain_name).word


def state_line(phase: Phase) -> str:
    return {
        Phase.IN_PROGRESS: "rolling out",
        Phase.LIVE: "live",
        Phase.FAILED: "failed",
        Phase.OFF: "stopped",
    }[phase]


def parent(
    rollout: Rollout,
    deployment: ChainDeployment | None,
    *,
    now: float,
    state: str,
    types: blocks.Hardware,
) -> tuple[Mrkdwn, blocks.Blocks]:
    """The thread's first message: the headline (built as markup when the rollout started, and stored as
    it was sent), then where the rollout stands."""
    headline = Mrkdwn(rollout.headline)
    return headline, blocks.rollout_parent(
        headline,
        deployment,
        seconds=now - rollout.started_at,
        state_line=state,
        where=(typed(rollout), rollout.env),
        chain_id=rollout.chain_id,
        types=types,
    )


def changes(rollout: Rollout, deployment: ChainDeployment) -> list[Mrkdwn]:
    """One line per deployment or chainlet status that changed since the last poll."""
    lines: list[Mrkdwn] = []
    if rollout.last_status != deployment.status.value:
        before = f"{rollout.last_status} → " if rollout.last_status else ""
        lines.append(
            md(
                "{} Deployment `{}`: {}*{}*",
                blocks.emoji(deployment.status),
                deployment.id,
                before,
                deployment.status.value,
            )
        )
    seen: dict[str, str] = json.loads(rollout.last_chainlets_json or "{}")
    for chainlet in deployment.chainlets:
        previous = seen.get(chainlet.name)
        if previous != chainlet.status.value:
            before = f"{previous} → " if previous else ""
            lines.append(
                md(
                    "{} {}: {}*{}*",
                    blocks.emoji(chainlet.status),
                    chainlet.name,
                    before,
                    chainlet.status.value,
                )
            )
    return lines


def progress(rollout: Rollout, lines: Sequence[Mrkdwn]) -> Mrkdwn:
    where = md("changes {}", blocks.see_status(typed(rollout), rollout.env))
    return blocks.listing(list(lines), more=where)


def made_after_all(deployment_id: str) -> Reply:
    return _plain(md("Baseten made the change; following deployment `{}`.", deployment_id))


def not_made(rollout: Rollout) -> Reply:
    return _plain(
        md(
            ":warning: {} Baseten's answer to this change never arrived, and {}/*{}* shows no new "
            "deployment: the change was not made. Check `/chain status {} {}` and run the command again "
            "if needed.",
            markup.person(rollout.requester),
            rollout.chain_name,
            rollout.env,
            typed(rollout),
            rollout.env,
        )
    )


def preview_note(rollout: Rollout) -> Mrkdwn:
    """What the final message adds when the preview could not be re-checked before the change."""
    if rollout.preview_live is not None:
        return md(
            "\n:warning: {}/*{}* had changed since the preview: {} was live when the change was made, not {}.",
            rollout.chain_name,
            rollout.env,
            _deployment_or_none(rollout.previous_deployment_id),
            _deployment_or_none(rollout.preview_live),
        )
    if rollout.preview_unchecked:
        return md(
            "\n:warning: I could not check whether {}/*{}* had changed since the preview.",
            rollout.chain_name,
            rollout.env,
        )
    return Mrkdwn("")


@dataclass(frozen=True)
class PreviousFate:
    """What became of the deployment a rollout replaced."""

    deployment_id: str
    fate: str  # "was scaled down to zero", "was deleted", …
    can_roll_back: bool


def succeeded(
    rollout: Rollout,
    deployment: ChainDeployment,
    *,
    took: float,
    previous: PreviousFate | None,
    rollback_window: float,
    revertible: bool = False,
) -> Reply:
    text = md(
        ":large_green_circle: `{}` is live in {}/*{}* after {}.",
        deployment.id,
        rollout.chain_name,
        rollout.env,
        duration(took),
    )
    text += preview_note(rollout)
    extra: blocks.Blocks = []
    if previous is not None:
        text += md("\nPrevious deployment `{}` {}.", previous.deployment_id, previous.fate)
        undo = Reverted(rollout.chain_id, rollout.env, previous.deployment_id)
        if verbs.PLANS.revert(rollout.kind, undo) is not None:  # its change kind offers a rollback
            if previous.can_roll_back:
                window = duration(rollback_window)
                extra.append(
                    blocks.context(
                        md(
                            "Roll back to `{}` with one click for the next {}.",
                            previous.deployment_id,
                            window,
                        )
                    )
                )
                extra.append(
                    blocks.rollback_button(
                        rollout.id, previous.deployment_id, f"{rollout.chain_name}/{rollout.env}"
                    )
                )
            else:
                extra.append(
                    blocks.context(
                        md(
                            "No rollback offered: `{}` {}, and chains have no reactivation endpoint.",
                            previous.deployment_id,
                            previous.fate,
                        )
                    )
                )
    if revertible:
        extra += revert_offer(rollout, rollback_window)
    # Before any rollback button, which stays the message's last line.
    extra.insert(0, blocks.context(blocks.in_baseten(rollout.chain_id, f"{rollout.chain_name} in Baseten")))
    return Reply(text, [blocks.section(text), *extra])


def revert_offer(rollout: Rollout, window: float) -> blocks.Blocks:
    """Revert, for the rollback window: a new change back to the values the change replaced."""
    return [
        blocks.context(md("Revert to the previous values with one click for the next {}.", duration(window))),
        blocks.revert_button(rollout.id, f"{rollout.chain_name}/{rollout.env}"),
    ]


def superseded(rollout: Rollout, deployment: ChainDeployment, serving: str) -> Reply:
    text = md(
        ":warning: {} `{}` is {}, but {}/*{}* now serves `{}`: another change replaced it meanwhile.",
        markup.person(rollout.requester),
        deployment.id,
        deployment.status.value,
        rollout.chain_name,
        rollout.env,
        serving,
    )
    return _plain(text + preview_note(rollout))


def failing(deployment: ChainDeployment) -> list[Chainlet]:
    """The chainlets that failed or stopped, in the deployment's order."""
    return [c for c in deployment.chainlets if c.status.phase in (Phase.FAILED, Phase.OFF)]


def failed(rollout: Rollout, deployment: ChainDeployment, errors: Mapping[str, str]) -> Reply:
    """`errors`: the last error lines (`error_lines`) of the first failed chainlets, by chainlet id."""
    failed_chainlets = failing(deployment)
    named = [md("*{}* ({})", c.name, c.status.value) for c in failed_chainlets[:FAILED_NAMED]]
    names = Mrkdwn(", ").join(named) or md("the deployment ({})", deployment.status.value)
    if len(failed_chainlets) > FAILED_NAMED:
        names += md(" …and {} more", len(failed_chainlets) - FAILED_NAMED)
    text = md(
        ":red_circle: {} the rollout of `{}` to {}/*{}* failed: {}.",
        markup.person(rollout.requester),
        deployment.id,
        rollout.chain_name,
        rollout.env,
        names,
    )
    text += preview_note(rollout)
    section_blocks: blocks.Blocks = [blocks.section(text)]
    for chainlet in failed_chainlets[:FAILED_WITH_LOGS]:
        section_blocks.append(
            blocks.section(md("*{}* last errors:\n```{}```", chainlet.name, errors.get(chainlet.id, "")))
        )
    logs_in_baseten = blocks.in_baseten(rollout.chain_id, "Baseten")
    if len(failed_chainlets) > FAILED_WITH_LOGS:
        section_blocks.append(
            blocks.context(
                md(
                    "…and {} more failed chainlets; their logs are in {}.",
                    len(failed_chainlets) - FAILED_WITH_LOGS,
                    logs_in_baseten,
                )
            )
        )
    else:
        section_blocks.append(blocks.context(md("Full logs are in {}.", logs_in_baseten)))
    if rollout.previous_deployment_id:
        section_blocks.append(
            blocks.context(
                md(
                    "`{}` keeps serving {} until a promotion succeeds.",
                    rollout.previous_deployment_id,
                    rollout.env,
                )
            )
        )
    return Reply(text, section_blocks)


def error_lines(entries: Sequence[LogEntry]) -> str:
    """The last error lines among `entries`, unleveled ones included, as plain text (the report's
    template escapes them for Slack)."""
    lines = [
        e.message.rstrip()[:200].replace("```", "'''")
        for e in entries
        if e.level not in QUIET_LEVELS and e.message.strip()
    ][-LOG_LINES:]
    while len("\n".join(lines)) > 1500:
        lines.pop(0)
    return "\n".join(lines) or "(no error lines since the rollout started)"


def logs_unavailable(why: str) -> str:
    return f"(logs unavailable: {why})"


def gave_up(rollout: Rollout, took: float) -> Reply:
    return _plain(
        md(
            ":hourglass: {} I stopped following `{}` after {} without a final status. "
            "Check it with `/chain status {} {}`.",
            markup.person(rollout.requester),
            rollout.deployment_id,
            duration(took),
            typed(rollout),
            rollout.env,
        )
    )


def unreachable(silent_for: float, why: str) -> Reply:
    return _plain(
        md(":electric_plug: Baseten has not answered for {} ({}). I keep trying.", duration(silent_for), why)
    )


def _deployment_or_none(deployment_id: str | None) -> Mrkdwn:
    return md("`{}`", deployment_id) if deployment_id else Mrkdwn("nothing")
