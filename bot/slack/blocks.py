"""Pure Block Kit builders: typed data in, blocks out. No Slack calls, no database.

A little over 300 lines: the shared pieces every message is made of (sections, context, chainlet lines,
status, history); message-specific builders live beside their feature (previews, rollout messages, home)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.baseten.models import ChainDeployment, Chainlet, DeploymentStatus, InstanceType, Phase
from bot.slack.durations import duration
from bot.slack.ids import Action
from bot.slack.markup import Mrkdwn, as_mrkdwn, lines, link, md, plain_text, truncate

Blocks = list[dict[str, Any]]
# Instance types by the display name a chainlet reports (`ChainletV1.instance_type_name`).
Hardware = Mapping[str, InstanceType]

EMOJI = {
    Phase.IN_PROGRESS: ":hourglass_flowing_sand:",
    Phase.LIVE: ":large_green_circle:",
    Phase.FAILED: ":red_circle:",
    Phase.OFF: ":white_circle:",
}
MAX_TEXT = 3000  # section text
MAX_FIELD = 2000  # section field, context element
MAX_BLOCKS = 50  # per message
FIELD_CHAINLETS = 20  # chainlets shown with their own section; the rest as one line each
BASETEN_APP = "https://app.baseten.co"  # Baseten's dashboard, where a chain's page and logs are


def emoji(status: DeploymentStatus) -> Mrkdwn:
    return Mrkdwn(EMOJI[status.phase])


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    """plain_text is shown as typed: never escaped."""
    return {"type": "plain_text", "text": _cut_plain(plain_text(text), limit), "emoji": True}


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    """Plain text is escaped here; markup (`Mrkdwn`) goes as built. Never cut inside markup."""
    return {"type": "mrkdwn", "text": truncate(as_mrkdwn(text), limit)}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text)}


def section(text: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, MAX_FIELD) for f in fields[:10]]
    return block


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t, MAX_FIELD) for t in texts[:10]]}


def listing(items: Sequence[str], *, more: str, limit: int = MAX_TEXT - 200) -> Mrkdwn:
    """As many whole lines as fit, then "…and N more <more>" instead of a silent cut."""
    shown: list[Mrkdwn] = []
    size = 0
    for index, item in enumerate(items):
        line = as_mrkdwn(item)
        if size + len(line) + 1 > limit:
            return lines([*shown, md("…and {} more {}", len(items) - index, as_mrkdwn(more))])
        shown.append(line)
        size += len(line) + 1
    return lines(shown)


def button(
    text: str, action: Action, value: str, *, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action.value,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: str, yes: str, *, danger: bool = True) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": plain(title, 100),
        "text": plain(text, 300),
        "confirm": plain(yes, 30),
        "deny": plain("Go back", 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def when(moment: datetime | float) -> str:
    """A moment to the minute in UTC. Any date Baseten sends is shown: one at the edge of the calendar
    whose UTC time falls outside it (9999-12-31 23:00 at -05:00) is shown with its own offset."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time that names no offset is taken as UTC
    try:
        return _minute(moment.astimezone(UTC)) + " UTC"
    except OverflowError:
        offset = moment.utcoffset() or timedelta()
        sign, minutes = ("-" if offset < timedelta() else "+"), abs(int(offset.total_seconds())) // 60
        return _minute(moment) + f" UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _minute(moment: datetime) -> str:
    # strftime's %Y does not pad years before 1000.
    return f"{moment.year:04d}-{moment:%m-%d %H:%M}"


def chain_page(chain_id: str) -> str:
    """The chain's overview in Baseten's dashboard (the id is ours, from Baseten, and quoted anyway)."""
    return f"{BASETEN_APP}/chains/{quote(chain_id, safe='')}/overview"


def in_baseten(chain_id: str, label: str) -> Mrkdwn:
    """A link to the chain in Baseten's dashboard; the label is shown as text."""
    return link(chain_page(chain_id), label)


# -- status -------------------------------------------------------------------------------------------


def see_status(chain_name: str, env: str) -> Mrkdwn:
    return md("(see `/chain status {} {}`)", chain_name, env)


def hardware(instance_type: InstanceType) -> Mrkdwn:
    """An instance type the one way it is shown everywhere: the id commands take, then what it has."""
    return md("`{}` ({})", instance_type.id, instance_type.summary)


def chainlet_hardware(chainlet: Chainlet, types: Hardware | None) -> Mrkdwn:
    """A chainlet names its instance type by display name; shown by id when Baseten's list knows it."""
    known = (types or {}).get(chainlet.instance_type_name)
    return hardware(known) if known is not None else as_mrkdwn(chainlet.instance_type_name)


def chainlet_fields(chainlet: Chainlet, types: Hardware | None = None) -> list[Mrkdwn]:
    scaling = chainlet.autoscaling_settings
    replicas = f"{scaling.min_replica}–{scaling.max_replica}" if scaling else "not set yet"
    return [
        md("*{}*\n{} {}", chainlet.name, emoji(chainlet.status), chainlet.status.value),
        md("*Instance type*\n{}", chainlet_hardware(chainlet, types)),
        md("*Active replicas*\n{}", chainlet.active_replica_count),
        md("*Autoscaling*\n{}", replicas),
    ]


def chainlet_line(chainlet: Chainlet, types: Hardware | None = None) -> Mrkdwn:
    return md(
        "{} *{}* {} · {} · {} active",
        emoji(chainlet.status),
        chainlet.name,
        chainlet.status.value,
        chainlet_hardware(chainlet, types),
        chainlet.active_replica_count,
    )


def deployment_blocks(
    deployment: ChainDeployment,
    *,
    where: tuple[str, str] | None = None,
    detailed: int = FIELD_CHAINLETS,
    types: Hardware | None = None,
) -> Blocks:
    """The chainlets: the first `detailed` with a section each (name, status, type, replicas,
    autoscaling), the rest one line each, and a count of any that do not fit."""
    blocks: Blocks = []
    for chainlet in deployment.chainlets[:detailed]:
        fields = chainlet_fields(chainlet, types)
        blocks.append(section(fields[0], fields[1:]))
    rest = deployment.chainlets[detailed:]
    if rest:
        more = md("chainlets {}", see_status(*where)) if where else Mrkdwn("chainlets")
        blocks.append(section(listing([chainlet_line(c, types) for c in rest], more=more)))
    return blocks


def status_message(
    chain_name: str,
    env: str,
    deployment: ChainDeployment | None,
    lock_line: str | None = None,
    *,
    detailed: int = FIELD_CHAINLETS,
    types: Hardware | None = None,
    typed: str | None = None,
) -> Blocks:
    """`typed`: the chain as a person types it in a command, when that is not its name (its id)."""
    blocks: Blocks = [header(f"{chain_name} · {env}")]
    if lock_line:
        blocks.append(context(lock_line))
    if deployment is None:
        blocks.append(section(md("_No deployment is live in this environment._")))
        return blocks
    blocks.append(
        section(
            md(
                "{} Deployment `{}` is *{}* (created {})",
                emoji(deployment.status),
                deployment.id,
                deployment.status.value,
                when(deployment.created_at),
            )
        )
    )
    where = (typed or chain_name, env)
    blocks.extend(deployment_blocks(deployment, where=where, detailed=detailed, types=types))
    return blocks


def unreadable_environment(chain_name: str, env: str, reason: str) -> Blocks:
    """An environment of the chain that could not be read, named in place of its status."""
    return [header(f"{chain_name} · {env}"), context(md(":grey_question: {}", reason))]


def environments_status(
    chain_name: str,
    shown: list[Blocks],
    hidden: int,
    *,
    chain_id: str | None = None,
    typed: str | None = None,
) -> Blocks:
    """Several environments in one message, within Slack's 50 blocks; what does not fit is named, and
    the last line links to the chain in Baseten. `typed`: the chain as a person types it in a command,
    when that is not its name (its id)."""
    blocks: Blocks = []
    for index, env_blocks in enumerate(shown):
        if len(blocks) + len(env_blocks) > MAX_BLOCKS - 1:
            hidden += len(shown) - index
            break
        blocks.extend(env_blocks)
    footer: list[str] = []
    if hidden:
        footer.append(
            md("…and {} more environments: see `/chain status {} <env>`.", hidden, typed or chain_name)
        )
    if chain_id:
        footer.append(in_baseten(chain_id, f"{chain_name} in Baseten"))
    if footer:
        blocks.append(context(*footer))
    return blocks


# -- rollouts -----------------------------------------------------------------------------------------


def chainlet_list(
    deployment: ChainDeployment, *, where: tuple[str, str] | None = None, types: Hardware | None = None
) -> dict[str, Any]:
    """One compact line per chainlet, as many as fit; the rollout's message and its thread both use it."""
    more = md("chainlets {}", see_status(*where)) if where else Mrkdwn("chainlets")
    return section(listing([chainlet_line(c, types) for c in deployment.chainlets], more=more))


def following(
    note: str,
    deployment: ChainDeployment,
    *,
    where: tuple[str, str] | None = None,
    types: Hardware | None = None,
) -> Blocks:
    """The first reply in a rollout's thread: what Baseten accepted, and its chainlets."""
    blocks: Blocks = [section(note)]
    if deployment.chainlets:
        blocks.append(chainlet_list(deployment, where=where, types=types))
    return blocks


def rollout_parent(
    headline: str,
    deployment: ChainDeployment | None,
    *,
    seconds: float,
    state_line: str,
    where: tuple[str, str] | None = None,
    chain_id: str | None = None,
    types: Hardware | None = None,
) -> Blocks:
    blocks: Blocks = [section(headline)]
    state = md("{} · {}", state_line, duration(seconds))
    if chain_id:
        state += md(" · {}", in_baseten(chain_id, "open in Baseten"))
    if deployment is not None:
        blocks.append(
            context(
                md(
                    "{} `{}` *{}* · {}",
                    emoji(deployment.status),
                    deployment.id,
                    deployment.status.value,
                    state,
                )
            )
        )
        if deployment.chainlets:
            blocks.append(chainlet_list(deployment, where=where, types=types))
    else:
        blocks.append(context(state))
    return blocks


def rollback_button(rollout_id: str, previous: str, chain_env: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "chainops_rollback",
        "elements": [
            button(
                f"Roll back to {previous}",
                Action.ROLLBACK,
                rollout_id,
                confirm=confirm_dialog(
                    "Roll back?",
                    f"Start a rollback of {chain_env} to {previous}. You will see a preview first.",
                    "Show preview",
                    danger=False,
                ),
            )
        ],
    }


def revert_button(rollout_id: str, chain_env: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "chainops_revert",
        "elements": [
            button(
                "Revert",
                Action.REVERT,
                rollout_id,
                confirm=confirm_dialog(
                    "Revert?",
                    f"Put {chain_env} back as it was before this change. You will see a preview first.",
                    "Show preview",
                    danger=False,
                ),
            )
        ],
    }
