"""`python -m bot console`: type `/chain ...` lines and press buttons by number. Each line becomes a signed
Slack request dispatched to the same Bolt app the server runs, so every flow is the real one.

Longer than most modules: the console's own commands (click, set, submit, home, outside, help) share
one session's state (numbered buttons, the open form, the background output), so they stay together."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from pydantic import SecretStr
from slack_bolt import App, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from bot.baseten.sim.transport import BasetenSimulator
from bot.bootstrap import Chainops, build
from bot.config import ConfigError, Settings, load_settings
from bot.console import forms, outside
from bot.console.gateway import HOME, ConsoleGateway, ShownButton
from bot.console.render import emoji_text
from bot.runtime.workpool import WorkPool
from bot.slack.app import build_app

USER, USER_NAME, CHANNEL, TEAM = "U0CONSOLE", "you", "C0CONSOLE", "T0CONSOLE"
GRACE_SECONDS = 120.0


HELP = """\
Console keys (then the bot's own help):
  /chain ...        a command, as you would type it in Slack
  <n>               press button [n] of the latest message that has buttons
  click <n>         press any button shown this session by its session number: the one after
                    `click` in its brackets ([1 · click 4] is click 4), else the one in brackets
  set <n> <value>   fill in field n of the open form: a choice or the start of one; y or n for a tick box
  submit, close     submit the open form, or close it
  home              open your App Home (what waits on you, what is moving, your chains)
  outside ...       a change made in Baseten outside chainops (`outside help` lists them), for /chain watch
  help, quit"""


class Console:
    def __init__(
        self,
        chainops: Chainops,
        gateway: ConsoleGateway,
        work: WorkPool,
        stdin: TextIO,
        sim: BasetenSimulator | None = None,
    ) -> None:
        self.chainops = chainops
        self.sim = sim  # the built-in simulator, for `outside ...` (None on the real Baseten)
        self.gateway = gateway
        self.work = work
        self.stdin = stdin
        self.interactive = stdin.isatty()
        self.secret = secrets.token_hex(16)
        chainops.settings.slack_signing_secret = SecretStr(self.secret)
        self.app: App = build_app(chainops, authorize=_console_identity)
        self._triggers = 0

    # -- Slack-shaped requests -------------------------------------------------------------------------

    def _dispatch(
        self,
        body: str,
        view: dict[str, Any] | None = None,
        *,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> dict[str, Any] | None:
        """Send a signed request to the app; returns the JSON acknowledgement, if any."""
        timestamp = str(int(time.time()))
        signature = (
            "v0="
            + hmac.new(self.secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        )
        headers: dict[str, str | Sequence[str]] = {
            "content-type": content_type,
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature,
        }
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if response.status == 200 and response.body and response.body.startswith("{"):
            answer: dict[str, Any] = json.loads(response.body)
            self._handle_ack(answer, view)
            return answer
        return None

    def _handle_ack(self, ack: dict[str, Any], view: dict[str, Any] | None) -> None:
        if ack.get("response_action") == "errors":
            fields = forms.inputs(view or {})
            # An error about the whole form sits on its first field (Slack needs a field): it reads as
            # the form's. Others are named as the form labels them (a block_id may be a hash).
            head = fields[0]["block_id"] if fields else None
            labels = {b["block_id"]: forms.label(b) for b in fields}
            for field, message in (ack.get("errors") or {}).items():
                where = "" if field == head else f"{labels.get(field, field)}: "
                self.gateway.say(f"  ✗ {where}{emoji_text(message)}")

    def command(self, text: str) -> None:
        self._triggers += 1
        body = urlencode(
            {
                "command": "/chain",
                "text": text,
                "user_id": USER,
                "user_name": USER_NAME,
                "channel_id": CHANNEL,
                "channel_name": "console",
                "team_id": TEAM,
                "response_url": f"console://respond/{self._triggers}",
                "trigger_id": f"console-trigger-{self._triggers}",
            }
        )
        self._dispatch(body)

    def home(self) -> None:
        """Open the App Home, as Slack tells the app when a person opens its Home tab."""
        self._triggers += 1
        event = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A0CONSOLE",
            "event_id": f"EvConsole{self._triggers}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": USER, "tab": "home", "event_ts": str(time.time())},
        }
        self.gateway.home_asked = True
        self._dispatch(json.dumps(event), content_type="application/json")

    def press(self, position: int) -> None:
        """A bare number: a button of the latest message that showed buttons."""
        button = self.gateway.button(position)
        if button is None:
            shown = len(self.gateway.latest)
            where = f" (the latest buttons are 1 to {shown}; `click <n>` reaches older ones)" if shown else ""
            self.gateway.say(f"  There is no button [{position}]{where}.")
            return
        self._press(button)

    def click(self, number: int) -> None:
        """`click <n>`: any button shown this session, by its session number."""
        button = self.gateway.buttons.get(number)
        if button is None:
            self.gateway.say(f"  There is no button `click {number}`.")
            return
        self._press(button)

    def _press(self, button: ShownButton) -> None:
        if button.confirm and self.interactive and not self._confirmed(button):
            self.gateway.say(f"  Not pressed: {button.label}. Nothing was done.")
            return
        self.gateway.home_asked = button.channel == HOME  # a press on the home shows it again
        self._dispatch(urlencode({"payload": json.dumps(_block_action(button))}))

    # -- forms ---------------------------------------------------------------------------------------

    def _form(self) -> tuple[str, dict[str, Any]] | None:
        view_id = self.gateway.open_form
        if view_id is None:
            self.gateway.say("  No form is open. `/chain promote` or `/chain instance-type` opens one.")
            return None
        return view_id, self.gateway.views[view_id]

    def _values(self, view_id: str, view: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return self.gateway.values(view_id)

    def _choose(self, view_id: str, number: int, block: dict[str, Any], value: dict[str, Any]) -> None:
        """Record a field's value and say what the form now holds."""
        element = block["element"]
        self.gateway.form_values.setdefault(view_id, {})[block["block_id"]] = {
            str(element["action_id"]): {"type": element["type"], **value}
        }
        view = self.gateway.views[view_id]
        values = self._values(view_id, view)
        said = f"  {number}. {forms.label(block)}: {forms.chosen(block, values)}"
        if not block.get("dispatch_action"):  # (a field that dispatches shows the whole form again)
            said += f"\n  form now: {forms.summary(view, values)}"
        self.gateway.say(said)

    def set_field(self, number: int, wanted: str) -> None:
        form = self._form()
        if form is None:
            return
        view_id, view = form
        fields = forms.inputs(view)
        if not 1 <= number <= len(fields):
            self.gateway.say(f"  The form has fields 1 to {len(fields)}.")
            return
        block = fields[number - 1]
        element = block["element"]
        action_id = str(element["action_id"])
        if element["type"] == "checkboxes":
            on = wanted.strip().lower() in ("y", "yes", "on", "true", "1")
            self._choose(view_id, number, block, {"selected_options": element["options"] if on else []})
            return
        if element["type"] == "external_select":
            options = self._suggest(view_id, view, block, wanted)
        else:
            options = forms.static_options(element)
        option = forms.choose(options, wanted)
        if option is None:
            names = ", ".join(str(o["value"]) for o in options[:15]) or "none"
            self.gateway.say(f"  No single choice matches `{wanted}`. Choices: {names}")
            return
        self._choose(view_id, number, block, {"selected_option": option})
        if block.get("dispatch_action"):
            action = {
                "action_id": action_id,
                "block_id": block["block_id"],
                "type": element["type"],
                "selected_option": option,
                "action_ts": str(time.time()),
            }
            payload = {
                **self._actor(),
                "type": "block_actions",
                "view": forms.with_state(view_id, view, self._values(view_id, view)),
                "actions": [action],
                "trigger_id": "console-form",
            }
            self._dispatch(urlencode({"payload": json.dumps(payload)}))

    def _suggest(
        self, view_id: str, view: dict[str, Any], block: dict[str, Any], query: str
    ) -> list[dict[str, Any]]:
        payload = {
            **self._actor(),
            "type": "block_suggestion",
            "action_id": block["element"]["action_id"],
            "block_id": block["block_id"],
            "value": query,
            "view": forms.with_state(view_id, view, {}),
        }
        answer = self._dispatch(urlencode({"payload": json.dumps(payload)}))
        options: list[dict[str, Any]] = answer.get("options", []) if answer else []
        return options

    def submit(self) -> None:
        form = self._form()
        if form is None:
            return
        view_id, view = form
        if "submit" not in view:
            self.gateway.say("  Fill in the fields first (the form offers no submit yet).")
            return
        state_view = forms.with_state(view_id, view, self._values(view_id, view))
        payload = {**self._actor(), "type": "view_submission", "view": state_view, "response_urls": []}
        answer = self._dispatch(urlencode({"payload": json.dumps(payload)}), view)
        action = answer.get("response_action") if answer else None
        if action == "update" and answer:
            # "Next": the form shows its next step in place.
            self.gateway.update_view(view_id, answer["view"])
        elif action != "errors":
            self.gateway.open_form = None
            self.gateway.say("  form submitted")

    def _actor(self) -> dict[str, Any]:
        return {
            "user": {"id": USER, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM},
            "team": {"id": TEAM, "domain": "console"},
            "api_app_id": "A0CONSOLE",
        }

    def _confirmed(self, button: ShownButton) -> bool:
        """Slack's confirmation dialog, as a y/N question."""
        dialog = button.confirm or {}
        question = dialog.get("text", {}).get("text", "Are you sure?")
        answer = self.gateway.read_line(self.stdin, f"  {question} [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    # -- the loop --------------------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one input line; False means the user asked to leave."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in ("quit", "exit"):
            return False
        if line.startswith("/chain"):
            self.command(line.removeprefix("/chain").strip())
        elif line == "home":
            self.home()
        elif line.isdigit():
            self.press(int(line))
        elif line == "click" or line.startswith("click "):
            number = line.removeprefix("click").strip()
            if number.isdigit():
                self.click(int(number))
            else:
                self.gateway.say("  Usage: click <n>")
        elif line.startswith("set "):
            _, number, *value = line.split(maxsplit=2)
            if number.isdigit() and value:
                self.set_field(int(number), value[0])
            else:
                self.gateway.say("  Usage: set <n> <value>")
        elif line == "submit":
            self.submit()
        elif line == "close":
            self.gateway.open_form = None
        elif line == "outside" or line.startswith("outside "):
            self.outside(line.removeprefix("outside").strip())
        elif line == "help":
            self.gateway.say(HELP)
            self.command("help")
        else:
            self.gateway.say("  Type a `/chain ...` command, a button number, `help` or `quit`.")
        self._settle()
        return True

    def outside(self, line: str) -> None:
        sim = self.sim
        if sim is None:
            self.gateway.say(
                "  `outside` changes the built-in simulator; with --real-baseten, use Baseten itself."
            )
            return
        if line in ("", "help"):
            self.gateway.say(outside.USAGE)
            return
        self.gateway.say(outside.run(sim, line))
        self._settle()
        self.chainops.watcher.run_once(everything=True)  # a newcomer need not wait for the interval

    def _settle(self) -> None:
        """Wait for the work started and for what it said in the channel, so output stays in order."""
        self.work.wait_idle()
        self.chainops.sender.drain()

    def drain(self, grace: float) -> None:
        """At the end of input, let rollouts under way finish (within a grace period)."""
        self._settle()
        deadline = time.monotonic() + grace
        if self.chainops.follower.busy():
            self.gateway.say("(waiting for rollouts to finish; Ctrl-C to stop)")
        while self.chainops.follower.busy() and time.monotonic() < deadline:
            time.sleep(0.2)
        # A rollout is marked finished a moment before its closing message is queued: let that poll end.
        self.chainops.follower.wait_polls(max(0.0, deadline - time.monotonic()))
        self._settle()


def _block_action(button: ShownButton) -> dict[str, Any]:
    if button.channel == HOME:  # pressed on the App Home: Slack sends the view, no channel
        return {
            "type": "block_actions",
            "user": {"id": USER, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM},
            "team": {"id": TEAM, "domain": "console"},
            "api_app_id": "A0CONSOLE",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home", "blocks": []},
            "trigger_id": "console-action",
            "actions": [
                {
                    "action_id": button.action_id,
                    "block_id": "b",
                    "value": button.value,
                    "type": "button",
                    "action_ts": str(time.time()),
                }
            ],
        }
    return {
        "type": "block_actions",
        "user": {"id": USER, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM},
        "team": {"id": TEAM, "domain": "console"},
        "api_app_id": "A0CONSOLE",
        "channel": {"id": CHANNEL, "name": "console"},
        "container": {
            "type": "message",
            "message_ts": button.message_ts,
            "channel_id": CHANNEL,
            "is_ephemeral": button.message_ts is None,
        },
        "trigger_id": "console-action",
        "response_url": button.response_url or "console://respond/action",
        "actions": [
            {
                "action_id": button.action_id,
                "block_id": "b",
                "value": button.value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }


def _console_identity(**_kwargs: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None,
        team_id=TEAM,
        bot_token="xoxb-console",
        bot_id="B0CONSOLE",
        bot_user_id="U0CHAINOPS",
    )


def _settings() -> tuple[Settings, Path | None]:
    """The settings, and the throwaway database's folder when the console made one."""
    settings = load_settings()
    scratch = None
    if "DATABASE_URL" not in os.environ:
        # A throwaway database: trying the console must not leave state behind (removed at exit).
        scratch = Path(tempfile.mkdtemp(prefix="chainops-console-"))
        settings.database_url = f"sqlite:///{scratch / 'console.db'}"
    if "CHAINOPS_WATCH_INTERVAL" not in os.environ:
        settings.chainops_watch_interval = 5.0
    if "CHAINOPS_POLL_INTERVAL" not in os.environ:
        settings.chainops_poll_interval = 1.0
    return settings, scratch


def main(argv: list[str], *, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot console",
        description="Try chainops in a terminal: the real handlers, with the terminal standing in for Slack.",
    )
    parser.add_argument("--step-seconds", type=float, default=1.5, help="simulator seconds per rollout step")
    parser.add_argument(
        "--grace", type=float, default=GRACE_SECONDS, help="seconds to wait for rollouts at end of input"
    )
    parser.add_argument(
        "--real-baseten",
        action="store_true",
        help="talk to the Baseten at BASETEN_API_URL with BASETEN_API_KEY instead of the built-in simulator: "
        "changes you confirm are really made",
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="keep the session's SQLite database at exit and say where it is (without DATABASE_URL, "
        "the console uses a throwaway one)",
    )
    args = parser.parse_args(argv)
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    try:
        settings, scratch = _settings()
    except ConfigError as exc:
        print(f"chainops: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(settings, args, stdin, out)
    except ConfigError as exc:  # e.g. a policy file that does not parse: one line, as in HTTP mode
        print(f"chainops: {exc}", file=sys.stderr)
        return 2
    finally:
        if scratch is not None and args.keep_db:
            print(
                f"The session's database is kept: DATABASE_URL={settings.database_url} continues it.",
                file=out,
                flush=True,
            )
        elif scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(settings: Settings, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    transport = None
    if args.real_baseten:
        # Only on request, and said so loudly: what is confirmed here changes real chains.
        if settings.baseten_api_key is None:
            raise ConfigError("BASETEN_API_KEY is not set (--real-baseten needs your Baseten API key)")
        print(
            f"!! chainops console on the REAL Baseten at {settings.baseten_api_url}\n"
            "!! Changes you confirm here are made to your chains, as they would be from Slack.",
            file=out,
            flush=True,
        )
    else:
        transport = BasetenSimulator(step_seconds=args.step_seconds)
        settings.baseten_api_url = "https://simulator.invalid"
        ignored = " (BASETEN_API_KEY is not used; --real-baseten uses it)" if settings.baseten_api_key else ""
        settings.baseten_api_key = None  # a real key has no business with the simulator
        print(
            f"chainops console on the built-in Baseten simulator: chains hello-chain, summarizer{ignored}",
            file=out,
            flush=True,
        )
    work = WorkPool(8, "console-work")
    gateway = ConsoleGateway(out, user_names={USER: USER_NAME})
    settings.chainops_slack_pace = 0.0  # one reader at a terminal: no need to space messages out
    chainops = build(settings, gateway=gateway, transport=transport, work=work)
    console = Console(chainops, gateway, work, stdin, sim=transport)
    chainops.start()
    chainops.policy_checked(timeout=5.0)  # its warnings, if any, come before the first prompt
    if console.interactive:
        gateway.say("Type `/chain help`, a `/chain ...` command, a button number, `help` or `quit`.")
    try:
        while True:
            if console.interactive:
                line = gateway.read_line(stdin)
            else:
                line = stdin.readline()
                if line:
                    gateway.say(f"> {line.rstrip()}")
            if not line or not console.handle(line):
                break
        console.drain(args.grace)
    except KeyboardInterrupt:
        print("", file=out)
    finally:
        chainops.close()
    return 0
