"""The Bolt app: acknowledgements happen inline on the request thread, everything else runs afterwards
on chainops' own worker pool, so a slow Baseten can never delay an ack."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult

import handlers
from bot.bootstrap import Chainops
from bot.runtime import metrics


class MeasuredApp(App):
    """Bolt's App, timing each request from its arrival to its acknowledgement (signature check and
    authorization included). The work it hands to the pool inherits the request's metrics scope."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        with metrics.slack_request(request_kind(req.body)):
            return super().dispatch(req)


def build_app(chainops: Chainops, *, authorize: Callable[..., AuthorizeResult] | None = None) -> App:
    settings = chainops.settings
    kwargs: dict[str, Any] = {
        # Named, or Bolt walks the whole call stack (reading every frame's source) to name itself.
        "name": "chainops",
        "signing_secret": settings.slack_signing_secret.get_secret_value() or "unused-in-socket-mode",
        # Ack runs inline and returns at once; the work is a lazy listener on our own pool.
        "process_before_response": True,
        "listener_executor": chainops.work,
        "token_verification_enabled": False,
        "raise_error_for_unhandled_request": False,
    }
    if authorize is not None:
        kwargs["authorize"] = authorize
    else:
        # Bolt reads SLACK_BOT_TOKEN from the environment whatever it is given, and warns at every start
        # when a client comes with it; so it gets the token, and builds its client from it.
        kwargs["token"] = settings.slack_bot_token.get_secret_value()
    app = MeasuredApp(**kwargs)
    # Bolt only copies its client's settings into the client of each request; chainops' own calls to
    # Slack go through the gateway.
    app.client.base_url = settings.slack_api_url
    # Bolt logs the whole body of a request whose signature fails; HTTP mode's front door refuses those
    # before Bolt with one short line, so Bolt's line could only ever leak a body.
    logging.getLogger("slack_bolt.RequestVerification").addFilter(lambda _record: False)

    @app.middleware
    def provide_chainops(context: Any, next: Callable[[], Any]) -> Any:
        context["chainops"] = chainops
        return next()

    handlers.register(app)
    return app


def request_kind(body: dict[str, Any]) -> str:
    """What Slack sent, as a fixed label: command, action, view_submission, view_closed, options, event."""
    if "command" in body:
        return "command"
    kind = str(body.get("type", ""))
    return {
        "block_actions": "action",
        "block_suggestion": "options",
        "event_callback": "event",
    }.get(kind, kind)
