"""The README's Quick start is what CI runs, and what a newcomer can paste."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.console.runner import main as console_main

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
    # Each stretch between "…" lines is shown as it is, in order; "…" stands for lines left out.
    at = 0
    stretches = "\n".join(_timeless(line) for line in transcript).split("\n…\n")
    for stretch in (s.splitlines() for s in stretches):
        starts = [i for i in range(at, len(shown)) if shown[i : i + len(stretch)] == stretch]
        assert starts, (
            "the README shows\n" + "\n".join(stretch) + "\n\nthe console showed\n" + "\n".join(shown[at:])
        )
        at = starts[0] + len(stretch)


def _timeless(line: str) -> str:
    """Elapsed times vary from run to run."""
    return re.sub(r"\b\d+ seconds?\b|\b\d+s\b", "N seconds", line.rstrip())
