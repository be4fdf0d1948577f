"""The README's Quick start is what CI runs, and what a newcomer can paste."""

from __future__ import annotations

import re
from pathlib import Path

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
