"""`python -m bot` serves Slack; `python -m bot console` and `python -m bot simulator` try it locally;
`python -m bot --help` says so.

`serve` (the default) picks Socket Mode when SLACK_APP_TOKEN is set and HTTP otherwise; `http` and
`socket` insist on one, so a Procfile line can never start the wrong kind of process."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType

from bot.runtime import logs

SERVING = {
    "serve": (
        "serve Slack: Socket Mode if SLACK_APP_TOKEN is set, HTTP otherwise (the default)",
        "Serve Slack in Socket Mode when SLACK_APP_TOKEN is set, and over HTTP on $PORT otherwise. This is "
        "what plain `python -m bot` does. Needs SLACK_BOT_TOKEN and BASETEN_API_KEY, and SLACK_SIGNING_SECRET "
        "for HTTP.",
    ),
    "http": (
        "serve Slack over HTTP on $PORT (the Procfile's web process)",
        "Serve Slack over HTTP on $PORT: Slack posts commands, buttons, forms and menus to /slack/events, and "
        "GET /healthz answers 200 once the bot is ready. SLACK_APP_TOKEN is ignored. Needs SLACK_BOT_TOKEN, "
        "SLACK_SIGNING_SECRET and BASETEN_API_KEY.",
    ),
    "socket": (
        "serve Slack in Socket Mode (the Procfile's worker process)",
        "Serve Slack in Socket Mode: the bot connects to Slack, so no public URL is needed; set "
        "CHAINOPS_METRICS_PORT for GET /healthz and /metrics. Needs SLACK_APP_TOKEN (xapp-...), "
        "SLACK_BOT_TOKEN and BASETEN_API_KEY.",
    ),
}
# These two describe their own options: `python -m bot console --help`.
TRYING = {
    "console": "try chainops in this terminal, on the built-in Baseten simulator (see `console --help`)",
    "simulator": "serve the built-in Baseten simulator over HTTP (see `simulator --help`)",
}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m bot",
        description="chainops: Slack chat-ops for Baseten Chains.",
        epilog="Configuration comes from environment variables (README.md, Configuration); a missing or "
        "malformed one stops start-up with one line naming it.",
    )
    commands = cli.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, (summary, description) in SERVING.items():
        commands.add_parser(name, help=summary, description=description)
    for name, summary in TRYING.items():
        commands.add_parser(name, help=summary, add_help=False)
    return cli


def main(argv: list[str]) -> int:
    cli = parser()
    args, rest = cli.parse_known_args(argv)
    command = args.command or "serve"
    if rest and command not in TRYING:
        cli.error(f"unrecognized arguments: {' '.join(rest)}")
    # The console prints what Slack would show; request logs would bury it.
    level = logging.WARNING if command == "console" else logging.INFO
    logs.configure(level, os.environ.get("CHAINOPS_LOG_FORMAT", "text"))
    if command == "console":
        from bot.console.runner import main as console_main

        return int(console_main(rest))
    if command == "simulator":
        from bot.baseten.sim.server import main as simulator_main

        return int(simulator_main(rest))
    return serve(mode=None if command == "serve" else command)


def serve(mode: str | None) -> int:
    from bot.bootstrap import build
    from bot.config import ConfigError, load_settings
    from bot.slack.app import build_app
    from bot.slack.gateway import WebApiGateway
    from bot.store import DatabaseUnusable

    try:
        settings = load_settings()
        if mode == "socket" and settings.slack_app_token is None:
            raise ConfigError("SLACK_APP_TOKEN is not set (Socket Mode needs the app-level token, xapp-...)")
        if mode == "http":
            settings.slack_app_token = None
        settings.require_slack()
        gateway = WebApiGateway(settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        chainops = build(settings, gateway=gateway)
    except (ConfigError, DatabaseUnusable) as exc:
        print(f"chainops: {exc}", file=sys.stderr)
        return 2
    app = build_app(chainops)
    chainops.start()
    if settings.chainops_metrics_port is not None:
        from bot.http.front_door import serve_side_door

        serve_side_door(
            settings.chainops_metrics_port, metrics=chainops.metrics, health=chainops.health.problems
        )
        logging.getLogger("chainops").info("metrics and /healthz on port %s", settings.chainops_metrics_port)

    stopping_since: list[float] = []
    # HTTP mode is interrupted out of its serving loop. Socket Mode is not: an interrupt landing inside
    # the Socket Mode client (connecting, holding its locks) could leave its close() waiting for ever.
    interrupt = settings.slack_app_token is None

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping_since.append(time.monotonic())
        if interrupt:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    log = logging.getLogger("chainops")
    try:
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("chainops connecting to Slack in Socket Mode (%s)", settings.where())
            handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            chainops.health.watch(lambda: None if handler.client.is_connected() else "not connected to Slack")
            try:
                handler.connect()  # type: ignore[no-untyped-call]
                while not stopping_since:
                    time.sleep(0.2)
                log.info("chainops shutting down")
            finally:
                handler.close()  # type: ignore[no-untyped-call]
        else:
            from bot.http.front_door import front_door
            from bot.http.replays import Replays
            from bot.http.server import create

            # With a port of their own, metrics stay off the port that faces Slack (and the internet).
            own_port = settings.chainops_metrics_port is not None
            door = front_door(
                app,
                signing_secret=settings.slack_signing_secret.get_secret_value(),
                replays=Replays(chainops.store),
                metrics=None if own_port else chainops.metrics,
                health=chainops.health.problems,
            )
            server = create(
                door,
                port=settings.port,
                connection_limit=settings.chainops_http_connections,
                request_deadline=settings.chainops_http_request_deadline,
            )
            log.info("chainops serving HTTP on port %s (%s)", settings.port, settings.where())
            try:
                server.run()
            finally:
                server.close()  # no new requests; those acknowledged are finished or answered below
    except KeyboardInterrupt:
        log.info("chainops shutting down")
    finally:
        # The budget counts from the signal: the platform's kill does too.
        chainops.close(started=stopping_since[0] if stopping_since else None)
        log.info("chainops stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
