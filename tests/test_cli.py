"""`python -m bot` as a person first meets it: `--help` explains every command before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "BASETEN_API_KEY", "DATABASE_URL")


def bot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env={**clean, **env}, cwd=ROOT, timeout=60
    )


def test_help_describes_every_command() -> None:
    result = bot("--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bot")
    for command, words in {
        "serve": "Socket Mode if SLACK_APP_TOKEN is set, HTTP",
        "http": "over HTTP on $PORT",
        "socket": "in Socket Mode",
        "console": "in this terminal",
        "simulator": "Baseten simulator over HTTP",
    }.items():
        assert command in result.stdout and words in " ".join(result.stdout.split()), command


def test_a_command_s_help_needs_no_configuration() -> None:
    result = bot("http", "--help")

    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "/slack/events" in said and "SLACK_SIGNING_SECRET" in said and "token" not in result.stderr


def test_the_console_and_simulator_describe_their_options() -> None:
    console, simulator = bot("console", "--help"), bot("simulator", "-h")

    assert console.returncode == simulator.returncode == 0
    assert "--real-baseten" in console.stdout and "really made" in " ".join(console.stdout.split())
    assert "port to listen on (default: 8765)" in simulator.stdout


def test_an_unknown_command_or_argument_is_a_usage_error() -> None:
    unknown, extra = bot("frobnicate"), bot("serve", "--port", "80")

    assert unknown.returncode == extra.returncode == 2
    assert "invalid choice: 'frobnicate'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert "unrecognized arguments: --port 80" in extra.stderr


def test_a_malformed_variable_stops_the_server_with_one_line() -> None:
    result = bot("http", SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", BASETEN_API_KEY="k", BASETEN_API_URL="notaurl")

    assert result.returncode == 2
    assert result.stderr == "chainops: BASETEN_API_URL is invalid: must be an http:// or https:// URL\n"
