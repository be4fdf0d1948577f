"""One bot process following many rollouts at once; prints its measurements as JSON.

Run by bench/rollouts.py, so that fake Slack's threads and memory are not counted here."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from pydantic import SecretStr

from bench.churn import ChurningBaseten
from bot.bootstrap import build
from bot.config import Settings
from bot.slack.gateway import Blocks, MessageMetadata, WebApiGateway
from bot.store import Rollout, RolloutState


class TimedGateway(WebApiGateway):
    """Records, for each Slack call about a rollout, how long after the change in Baseten it landed."""

    def __init__(self, token: str, base_url: str, churn: ChurningBaseten) -> None:
        super().__init__(token, base_url=base_url)
        self.churn = churn
        self.calls = 0
        self.lags: list[float] = []
        self.ts_to_deployment: dict[str, str] = {}
        self._lock = threading.Lock()

    def _record(self, ts: str) -> None:
        deployment = self.ts_to_deployment.get(ts)
        with self._lock:
            self.calls += 1
            if deployment and deployment in self.churn.last_change_seen:
                self.lags.append(time.monotonic() - self.churn.last_change_seen[deployment])

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        super().update(channel, ts, text, blocks)
        self._record(ts)

    def post(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None, metadata: MessageMetadata | None = None) -> str:
        ts = super().post(channel, text, blocks, thread_ts, metadata)
        if thread_ts:
            self._record(thread_ts)
        return ts


def main(argv: list[str]) -> int:
    n, interval, changes, slack_url, token = int(argv[0]), float(argv[1]), int(argv[2]), argv[3], argv[4]
    churn = ChurningBaseten(interval=interval, changes=changes)
    gateway = TimedGateway(token, slack_url, churn)
    tmp = tempfile.mkdtemp(prefix="chainops-bench-")
    settings = Settings.model_validate(
        {
            "slack_bot_token": SecretStr(token),
            "baseten_api_key": SecretStr("bench"),
            "database_url": f"sqlite:///{tmp}/rollouts.db",
            "chainops_poll_interval": interval,
        }
    )
    chainops = build(settings, gateway=gateway, transport=churn)
    setup_gateway = WebApiGateway(token, base_url=slack_url)
    now_wall, now = time.time(), time.monotonic()
    for i in range(n):
        deployment = f"dep-bench-{i}"  # of chain chain-bench-{i}
        channel = f"C{i:05d}"
        ts = setup_gateway.post(channel, f"promoting {deployment}")
        gateway.ts_to_deployment[ts] = deployment
        churn.add(deployment, now)
        chainops.store.add_rollout(
            Rollout(id=uuid.uuid4().hex, kind="promote", request_id="", state=RolloutState.FOLLOWING, chain_id=f"chain-bench-{i}", chain_name="bench", env="production", deployment_id=deployment, previous_deployment_id=None, scale_down_previous=True, channel=channel, parent_ts=ts, requester="U0BENCH", approver=None, headline=f"promoting {deployment}", last_status=None, last_chainlets_json="{}", started_at=now_wall, next_poll_at=now_wall, last_ok_at=now_wall, lease_until=0.0)
        )
    began = time.monotonic()
    chainops.start()
    peak_threads = 0
    deadline = began + interval * (changes + 6) + 30
    while time.monotonic() < deadline:
        peak_threads = max(peak_threads, threading.active_count())
        if not chainops.store.rollouts(RolloutState.FOLLOWING):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - began
    following_left = len(chainops.store.rollouts(RolloutState.FOLLOWING))
    chainops.close()
    result: dict[str, Any] = {
        "n": n,
        "elapsed": elapsed,
        "unfinished": following_left,
        "peak_threads": peak_threads,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseten_per_rollout_per_interval": churn.requests_per_interval(),
        "slack_per_rollout": gateway.calls / n,
        "lags": gateway.lags,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
