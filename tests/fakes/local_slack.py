"""`python -m tests.fakes.local_slack`: the tests' strict fake Slack Web API on a port of your choice, printing
what a bot says to it (posts, updates, forms, answers to response_urls) as a person in Slack would read it.

For trying HTTP mode on one machine: point the bot's SLACK_API_URL at it and the `response_url` of a
hand-made request at its `/respond/<name>`. Anything real Slack would refuse is printed too."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bot.console.render import render, slack_text
from tests.fakes.slack_api import FakeSlack

# Web API methods whose payload a person would see; reads (auth.test, users.info, ...) are left out.
SHOWN = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.update", "views.push")


def readable(payload: dict[str, Any]) -> list[str]:
    blocks = payload.get("blocks") or (payload.get("view") or {}).get("blocks")
    if blocks:
        return render(blocks, lambda button: "button", "  ")
    return ["  " + slack_text(str(payload.get("text", "")))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.local_slack", description=__doc__)
    parser.add_argument("--port", type=int, default=8766, help="port to serve on (loopback only)")
    parser.add_argument("--token", default="xoxb-local", help="the bot token to accept (SLACK_BOT_TOKEN)")
    args = parser.parse_args(argv)
    slack = FakeSlack(token=args.token).start(args.port)
    print(
        f"local Slack: SLACK_API_URL={slack.api_url} (token {args.token}); "
        f"response_urls {slack.base_url}respond/<name>",
        flush=True,
    )
    calls = responses = violations = 0
    try:
        while True:
            time.sleep(0.1)
            for call in slack.calls[calls:]:
                calls += 1
                if call.method in SHOWN:
                    where = f" in {call.params['channel']}" if call.params.get("channel") else ""
                    print(f"← {call.method}{where}:", *readable(call.params), sep="\n", flush=True)
            for body in slack.responses[responses:]:
                responses += 1
                print("← response_url:", *readable(body), sep="\n", flush=True)
            for problem in slack.violations[violations:]:
                violations += 1
                print(f"✗ Slack would refuse: {problem}", flush=True)
    except KeyboardInterrupt:
        slack.violations.clear()  # already printed
        slack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
