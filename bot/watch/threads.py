"""Where a rollout in progress is followed: the line `/chain status` shows for an environment's
candidate deployment, with a link to the thread that follows it, whoever started it."""

from __future__ import annotations

from bot.slack.gateway import Gateway
from bot.slack.markup import Mrkdwn, link, md
from bot.store import Store
from bot.store.tables import RolloutState


def in_progress(store: Store, gateway: Gateway, chain_id: str, env: str, candidate: str) -> Mrkdwn:
    following = next(
        (
            r
            for r in store.watch.rollouts(chain_id, env)
            if r.deployment_id == candidate and r.state == RolloutState.FOLLOWING
        ),
        None,
    )
    if following is None:
        return md(
            ":hourglass_flowing_sand: `{}` is rolling out, started outside chainops: `/chain watch` follows such changes.",
            candidate,
        )
    parent = store.outbox.message(following.parent_key) if following.parent_key else None
    url = gateway.permalink(following.channel, parent.ts) if parent is not None and parent.ts else None
    thread = link(url, "its thread") if url else Mrkdwn("its thread (not posted yet)")
    return md(":hourglass_flowing_sand: `{}` is rolling out: follow it in {}.", candidate, thread)
