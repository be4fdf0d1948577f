"""The reference for ack latency: a Bolt app that only acknowledges, served exactly like chainops."""

from __future__ import annotations

import os
import sys
from typing import Any

from slack_bolt import App

from bot.http.front_door import front_door
from bot.http.server import create


def main() -> int:
    app = App(
        token="xoxb-bench",
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=True,
        authorize=lambda **_: __import__("slack_bolt.authorization", fromlist=["AuthorizeResult"]).AuthorizeResult(
            enterprise_id=None, team_id="T1", bot_token="xoxb-bench", bot_id="B1", bot_user_id="U1"
        ),
    )

    @app.command("/chain")
    def ack_only(ack: Any) -> None:
        ack()

    door = front_door(app, signing_secret=os.environ["SLACK_SIGNING_SECRET"])
    server = create(door, host="127.0.0.1", port=int(os.environ["PORT"]))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
