"""The console: piped `/chain` lines through the real handlers, printed as a person would read them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console.runner import main

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
    assert "/chain promote" in shown and "e.g. /chain promote hello-chain production" in shown.replace("`", "")


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
    shown = run("/chain promote helo-chain production dep-hello-4\n/chain frob\nhello\n7\n/chain status hello-chain\n")
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
    shown = run("/chain promote\nset 1 hello\nset 2 production\nset 3 dep-hello-3\nsubmit\nset 3 dep-hello-4\nsubmit\n1\n")
    assert "1. Chain" in shown and "2. Environment — choices: production, staging" in shown
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
    process = subprocess.Popen([sys.executable, "-m", "bot", "simulator", "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "Baseten simulator on http://127.0.0.1" in (process.stdout.readline() if process.stdout else "")
        deadline = time.monotonic() + 10
        while True:
            try:
                chains = httpx.get(f"http://127.0.0.1:{port}/v1/chains", headers={"Authorization": "Api-Key any"}).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert [c["name"] for c in chains["chains"]] == ["hello-chain", "summarizer"]
    finally:
        process.terminate()
        assert process.wait(10) == 0
