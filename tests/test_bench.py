"""`python -m bench` says which benchmark runs and how it went, as it goes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_each_benchmark_says_when_it_starts_and_how_it_went() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "startup"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    progress = result.stderr.splitlines()
    assert progress[0] == "[1/1] startup: running…"
    assert re.fullmatch(
        r"\[1/1\] startup: \d+\.\d s, (1 of 1 target met|1 of 1 target missed \(.+\))", progress[1]
    )
    assert "| Start-up | process start → /healthz 200 (median) |" in result.stdout
