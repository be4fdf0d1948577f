"""How a rollout's last seen chainlet statuses are kept in its row."""

from __future__ import annotations

import json

from bot.baseten.models import ChainDeployment


def chainlet_statuses_json(deployment: ChainDeployment) -> str:
    return json.dumps({c.name: c.status.value for c in deployment.chainlets}, sort_keys=True)
