"""The console: piped `/chain` lines through the real handlers, printed as a person would read them."""

from __future__ import annotations

import io
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.console.runner import main
from tests.local_http import LOCAL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASETEN_API_KEY", "DATABASE_URL", "SLACK_BOT_TOKEN", "CHAINOPS_POLL_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


def run(lines: str, *args: str) -> str:
    out = io.StringIO()
    assert main(["--step-seconds", "0.2", *args], stdin=io.StringIO(lines), out=out) == 0
    return out.getvalue()


def test_first_line_says_it_runs_on_the_simulator() -> None:
    assert run("").splitlines()[0].startswith("chainops console on the built-in Baseten simulator")


def test_help() -> None:
    shown = run("/chain help\n")
    assert "/chain promote" in shown and "e.g. /chain promote hello-chain production" in shown.replace(
        "`", ""
    )


def test_escaped_text_reads_back_as_typed() -> None:
    shown = run("/chain help\n/chain lock hello-chain staging a < b && <!channel> c\n")
    assert "/chain promote <chain> <env> <deployment_id>" in shown.replace("`", "")
    assert "a < b && <!channel> c" in shown
    assert "&lt;" not in shown and "&amp;" not in shown


def test_status_shows_both_chainlets() -> None:
    shown = run("/chain status hello-chain production\n")
    assert "hello-chain · production" in shown
    assert "HelloWorld" in shown and "RandInt" in shown and "🟢 ACTIVE" in shown


def test_promote_confirmed_by_number_is_followed_to_active() -> None:
    shown = run("/chain promote hello-chain production dep-hello-4\n1\n")
    assert "[1] Confirm" in shown and "[2] Cancel" in shown
    assert "@you is promoting hello-chain deployment `dep-hello-4` to production" in shown
    assert "↳ in thread of #1" in shown
    assert "is live in hello-chain/production" in shown
    assert "was scaled down to zero" in shown


def test_click_syntax_and_cancel() -> None:
    shown = run("/chain promote hello-chain production dep-hello-4\nclick 2\n")
    assert "Cancelled by @you" in shown
    assert "is promoting" not in shown


def test_bad_input_is_answered_and_the_session_goes_on() -> None:
    shown = run(
        "/chain promote helo-chain production dep-hello-4\n/chain frob\nhello\n7\n/chain status hello-chain\n"
    )
    assert "No chain named `helo-chain`" in shown
    assert "Unknown command `frob`" in shown
    assert "Type a `/chain ...` command" in shown
    assert "There is no button [7]" in shown
    assert "hello-chain · staging" in shown


def test_quick_start_command_works_from_a_shell() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BASETEN_API_KEY", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="/chain status hello-chain production\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "HelloWorld" in result.stdout and "RandInt" in result.stdout
    assert not list(ROOT.glob("chainops.db"))


def test_forms_are_numbered_fields_filled_in_with_set_and_submit() -> None:
    shown = run(
        "/chain promote\nset 1 hello\nset 2 production\nset 3 dep-hello-3\nsubmit\nset 3 dep-hello-4\nsubmit\n1\n"
    )
    assert (
        "1. Chain: (not set)" in shown and "2. Environment: (not set) — choices: production, staging" in shown
    )
    assert "✗ Deployment: Deployment dep-hello-3 is already live" in shown
    assert "form submitted" in shown
    assert "is live in hello-chain/production" in shown


def test_simulator_serves_over_http() -> None:
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "simulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Baseten simulator on http://127.0.0.1" in (
            process.stdout.readline() if process.stdout else ""
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                chains = LOCAL.get(
                    f"http://127.0.0.1:{port}/v1/chains", headers={"Authorization": "Api-Key any"}
                ).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert [c["name"] for c in chains["chains"]] == ["hello-chain", "summarizer"]
    finally:
        process.terminate()
        assert process.wait(10) == 0


# -- buttons, prompts and forms as a person at a terminal meets them ------------------------------------


class Keyboard:
    """A person at a terminal: lines arrive when typed, and the console knows it is interactive."""

    def __init__(self, *lines: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        for line in lines:
            self.type(line)

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.lines.get(timeout=60)

    def type(self, line: str) -> None:
        self.lines.put(line + "\n")


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_buttons_of_the_latest_message_are_numbered_from_one_and_older_ones_stay_reachable() -> None:
    shown = run(
        "/chain promote hello-chain production dep-hello-4\n2\n"
        "/chain promote hello-chain staging dep-hello-4\n1\nclick 1\n"
    )
    staging = shown[shown.index("/chain promote hello-chain staging") :]
    assert "[1 · click 3] Confirm   [2 · click 4] Cancel" in staging
    # "1" pressed the staging preview's Confirm, not the cancelled production one's.
    assert "@you is promoting hello-chain deployment `dep-hello-4` to staging" in shown
    assert "to production" not in shown.split("> click 1")[0].split("Cancelled by @you")[1]
    # `click 1` still reaches the first preview's Confirm, which was cancelled.
    after = shown.split("> click 1")[1]
    assert "Promote hello-chain to production" in after.split("\n> ")[0]


def test_a_number_past_the_latest_buttons_says_where_the_others_are() -> None:
    shown = run("/chain promote hello-chain production dep-hello-4\n3\nclick 9\n")
    assert "There is no button [3] (the latest buttons are 1 to 2; `click <n>` reaches older ones)." in shown
    assert "There is no button `click 9`." in shown


def test_help_explains_button_numbers_and_click() -> None:
    shown = run("help\n")
    assert "press button [n] of the latest message that has buttons" in shown
    assert "[1 · click 4] is click 4" in shown
    assert "/chain promote" in shown


def test_no_at_the_confirmation_question_says_nothing_was_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINOPS_POLL_INTERVAL", "0.2")
    out = io.StringIO()
    keyboard = Keyboard("/chain promote hello-chain production dep-hello-4", "1", "n", "quit")
    assert main(["--step-seconds", "0.2"], stdin=keyboard, out=out) == 0  # type: ignore[arg-type]
    shown = out.getvalue()
    assert "This changes hello-chain/production for everyone. [y/N] " in shown
    assert "Not pressed: Confirm. Nothing was done." in shown
    assert "is promoting" not in shown and "Confirmed" not in shown


def test_the_prompt_is_drawn_again_after_a_rollout_moves_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINOPS_POLL_INTERVAL", "0.2")
    out = io.StringIO()
    keyboard = Keyboard()
    session = threading.Thread(
        target=main, args=(["--step-seconds", "0.2"],), kwargs={"stdin": keyboard, "out": out}
    )
    session.start()
    try:
        keyboard.type("/chain promote hello-chain production dep-hello-4")
        wait_until(lambda: "[1] Confirm" in out.getvalue())
        keyboard.type("1")
        wait_until(lambda: out.getvalue().endswith("[y/N] "))
        keyboard.type("y")
        wait_until(
            lambda: (
                "Roll back to dep-hello-3" in out.getvalue().split("is live in hello-chain/production")[-1]
            )
        )
        # The rollout finished while the console waited for a line: the prompt follows its last message.
        wait_until(lambda: out.getvalue().endswith("\n> "), timeout=2)
        assert out.getvalue().rstrip("> \n").endswith("Roll back to dep-hello-3")
    finally:
        keyboard.type("quit")
        session.join(30)
    assert not session.is_alive()


def test_forms_show_the_values_chosen() -> None:
    shown = run("/chain promote\nset 1 hello\nset 2 production\nset 3 dep-hello-4\nset 4 n\n")
    assert "│ 1. Chain: hello-chain" in shown
    assert "│ 4. After promotion: ☑ Scale down the previous deployment" in shown  # preselected
    assert (
        "  2. Environment: production\n"
        "  form now: Chain: hello-chain | Environment: production | Deployment: (not set) | After promotion: ☑"
    ) in shown
    last = shown.splitlines()[-1]
    assert last.startswith(
        "  form now: Chain: hello-chain | Environment: production | Deployment: dep-hello-4 · "
    )
    assert last.endswith(" | After promotion: ☐ Scale down the previous deployment")


def test_an_error_about_the_whole_form_is_the_forms_error() -> None:
    shown = run("/chain instance-type\nset 1 hello\nset 2 staging\nsubmit\n")
    assert "  ✗ Change at least one chainlet's instance type." in shown
    assert "RandInt: Change" not in shown and "HelloWorld: Change" not in shown


def test_a_field_error_names_its_field_and_reads_as_text() -> None:
    shown = run(
        "/chain lock hello-chain production freeze\n/chain promote\nset 1 hello\nset 2 production\n"
        "set 3 dep-hello-4\nsubmit\n"
    )
    assert "  ✗ Environment: 🔒 hello-chain/production is locked by @you since" in shown


def test_the_throwaway_database_is_removed_at_exit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shown = run("/chain lock hello-chain production freeze\n")
    assert "locked hello-chain/production" in shown
    assert list(tmp_path.iterdir()) == []


def test_keep_db_keeps_it_and_says_how_to_continue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shown = run("/chain lock hello-chain production freeze\n", "--keep-db")
    (kept,) = tmp_path.glob("chainops-console-*/console.db")
    assert f"The session's database is kept: DATABASE_URL=sqlite:///{kept} continues it." in shown
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{kept}")
    assert "is locked by @you" in run("/chain promote hello-chain production dep-hello-4\n")
    assert kept.exists()  # a database the person named is theirs: never removed


def test_keep_db_is_taken_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BASETEN_API_KEY", "DATABASE_URL")}
    for keep in ([], ["--keep-db"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "console", *keep],
            input="/chain lock hello-chain staging\n",
            capture_output=True,
            text=True,
            env={**env, "TMPDIR": str(tmp_path)},
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "locked hello-chain/staging" in result.stdout
    (kept,) = tmp_path.glob("chainops-console-*/console.db")  # only the second run's
    assert f"DATABASE_URL=sqlite:///{kept} continues it." in result.stdout


def test_home_shows_the_app_home_and_its_buttons_work() -> None:
    shown = run("/chain promote hello-chain production dep-hello-4\nhome\n1\n")

    home = shown.split("⌂ your App Home:")[1]
    assert "Your preview: promote dep-hello-4 to hello-chain/production" in home
    assert "[1 · click 3] Confirm" in home and "Your chains" in home
    assert "is promoting hello-chain deployment `dep-hello-4` to production" in shown  # Confirm pressed on the home


def test_autoscaling_is_previewed_confirmed_and_followed_until_it_settles() -> None:
    shown = run("/chain autoscaling hello-chain production HelloWorld min=0 max=2\n1\n")
    assert "HelloWorld: min 1 → 0, max 3 → 2 · 1 active now" in shown
    assert "scales to zero: the first request after idle waits for a cold start" in shown
    assert "Autoscaling of hello-chain/production applied after" in shown and "[1 · click 3] Revert" in shown


def test_an_outside_promote_is_announced_with_who_and_followed_in_the_console() -> None:
    shown = run("/chain watch hello-chain production\noutside promote hello-chain production dep-hello-4 --by ana@example.com\noutside frob\n")
    assert "ana@example.com via UI promoted `dep-hello-4` to hello-chain/production outside chainops" in shown
    assert "is live in hello-chain/production" in shown and "Roll back to dep-hello-3" in shown
    assert "no outside action 'frob'" in shown
