"""The README's Quick start is what CI runs, and what a newcomer can paste."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.console.runner import main as console_main
from tests.local_http import LOCAL
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    assert readme.split("\n## ")[1].startswith("Quick start")
    block = re.search(r"## Quick start\n\n```bash\n(.*?)```", readme, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_holds_exactly_two_commands_console_then_tests() -> None:
    console, tests = quick_start()
    assert console.endswith("python -m bot console") and "[dev]" not in console
    assert tests.endswith("python -m pytest -n 4")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, tests = quick_start()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def console_session() -> tuple[str, list[str]]:
    """The README's console session: the input it pipes in, and the lines it shows."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(
        r"A console session \(`printf '(.*?)' \| python -m bot console`\):\n\n```\n(.*?)```", readme, re.S
    )
    assert found is not None
    return found.group(1).replace("\\n", "\n"), found.group(2).splitlines()


def test_the_readme_console_session_is_what_the_console_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASETEN_API_KEY", "DATABASE_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHAINOPS_POLL_INTERVAL", "0.2")
    typed, transcript = console_session()
    out = io.StringIO()
    assert console_main(["--step-seconds", "0.3"], stdin=io.StringIO(typed), out=out) == 0
    shown = [_timeless(line) for line in out.getvalue().splitlines()]
    # Every line the README shows is shown, in the README's order. Messages from the background (the
    # channel post, the closed preview, the follower's updates) may arrive between them in any order, so
    # lines the README leaves out may stand anywhere; "…" marks where it leaves out a stretch.
    at = 0
    for line in (_timeless(line) for line in transcript):
        if line == "…":
            continue
        found = [i for i in range(at, len(shown)) if shown[i] == line]
        assert found, "the README shows\n" + line + "\n\nthe console showed, from there on\n" + "\n".join(shown[at:])
        at = found[0] + 1


def _timeless(line: str) -> str:
    """Elapsed times vary from run to run."""
    return re.sub(r"\b\d+ seconds?\b|\b\d+s\b", "N seconds", line.rstrip())


def http_mode_walkthrough() -> tuple[list[str], str]:
    """The README's HTTP mode on one machine: the commands that start what the bot talks to and the bot,
    then the signed curl."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### HTTP mode\n")[1].split("\n## ")[0]
    assert "`https://<host>/slack/events`" in section
    starts, curl = re.findall(r"```bash\n(.*?)```", section, re.S)
    return starts.replace("\\\n", " ").splitlines(), curl


def test_the_readme_curl_gets_an_answer_from_a_bot_in_http_mode(tmp_path: Path) -> None:
    ports = {"8765": free_port(), "8766": free_port(), "3000": free_port()}

    def here(text: str) -> str:
        for readme_port, port in ports.items():
            text = text.replace(readme_port, str(port))
        return text.replace("sqlite:///local.db", f"sqlite:///{tmp_path}/local.db")

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "BASETEN_", "CHAINOPS_", "DATABASE_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` is this one
    starts, curl = http_mode_walkthrough()
    started: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"{n}.log" for n in range(len(starts))]
    try:
        for command, log in zip(starts, logs, strict=True):
            with log.open("wb") as out:
                started.append(
                    subprocess.Popen(
                        ["bash", "-c", here(command)],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait(lambda: _healthy(f"http://127.0.0.1:{ports['3000']}/healthz"), logs)

        answer = subprocess.run(["bash", "-c", here(curl)], capture_output=True, text=True, timeout=30)
        assert answer.stdout.startswith("HTTP/1.1 200 OK"), answer.stdout + answer.stderr
        slack = next(log for log, command in zip(logs, starts, strict=True) if "local_slack" in command)
        _wait(lambda: "RandInt" in slack.read_text(), logs)
        shown = slack.read_text()
        assert "← response_url:" in shown and "hello-chain · production" in shown and "HelloWorld" in shown
        assert "Slack would refuse" not in shown

        forged = subprocess.run(
            ["bash", "-c", here(curl).replace("secret=local-secret", "secret=guessed")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert forged.stdout.startswith("HTTP/1.1 401 Unauthorized"), forged.stdout
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(20)


def _healthy(url: str) -> bool:
    try:
        return LOCAL.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: Callable[[], bool], logs: list[Path], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("\n".join(f"{log.name}:\n{log.read_text(errors='replace')}" for log in logs))
        time.sleep(0.1)
