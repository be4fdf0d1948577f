"""Starting chainops: the console uses the simulator unless told otherwise, bad configuration is one line,
a policy naming an environment no chain has is warned about, and the log says what matters once."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.baseten.sim.server import serve
from bot.baseten.sim.transport import BasetenSimulator
from bot.bootstrap import check_policy_environments
from bot.console.runner import main as console
from bot.governance.policy import load_policy
from tests.processes import outside_world, start_bot
from tests.world import API_KEY, World

ROOT = Path(__file__).resolve().parent.parent
STATUS = "/chain status hello-chain production\n"


@pytest.fixture(autouse=True)
def no_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASETEN_API_KEY", "BASETEN_API_URL", "DATABASE_URL", "SLACK_BOT_TOKEN", "CHAINOPS_POLL_INTERVAL", "CHAINOPS_POLICY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def http_simulator() -> Iterator[tuple[BasetenSimulator, str]]:
    sim = BasetenSimulator(api_key=API_KEY, step_seconds=0.2)
    server = serve(sim)
    try:
        yield sim, server.url
    finally:
        server.close()


def run_console(lines: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = console(["--step-seconds", "0.2", "--grace", "5", *args], stdin=io.StringIO(lines), out=out)
    return code, out.getvalue()


def test_an_exported_api_key_does_not_point_the_console_at_baseten(
    monkeypatch: pytest.MonkeyPatch, http_simulator: tuple[BasetenSimulator, str]
) -> None:
    sim, url = http_simulator
    monkeypatch.setenv("BASETEN_API_KEY", API_KEY)
    monkeypatch.setenv("BASETEN_API_URL", url)

    code, shown = run_console(STATUS)

    assert code == 0
    first = shown.splitlines()[0]
    assert first.startswith("chainops console on the built-in Baseten simulator")
    assert "BASETEN_API_KEY is not used; --real-baseten uses it" in first
    assert "HelloWorld" in shown
    assert sim.requests == []  # the Baseten at BASETEN_API_URL heard nothing


def test_the_console_talks_to_a_real_baseten_only_when_asked_and_says_so_loudly(
    monkeypatch: pytest.MonkeyPatch, http_simulator: tuple[BasetenSimulator, str]
) -> None:
    sim, url = http_simulator
    monkeypatch.setenv("BASETEN_API_KEY", API_KEY)
    monkeypatch.setenv("BASETEN_API_URL", url)

    code, shown = run_console(STATUS, "--real-baseten")

    assert code == 0
    assert shown.splitlines()[:2] == [
        f"!! chainops console on the REAL Baseten at {url}",
        "!! Changes you confirm here are made to your chains, as they would be from Slack.",
    ]
    assert "HelloWorld" in shown
    assert any(r.path.endswith("/environments/production") for r in sim.requests)
    assert API_KEY not in shown


def test_the_real_baseten_needs_its_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = run_console(STATUS, "--real-baseten")

    assert code == 2 and shown == ""
    assert capsys.readouterr().err == "chainops: BASETEN_API_KEY is not set (--real-baseten needs your Baseten API key)\n"


def test_a_bad_policy_stops_the_console_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments:\n  production:\n    approvers: [bob]\n")
    monkeypatch.setenv("CHAINOPS_POLICY", str(policy))

    code, shown = run_console(STATUS)

    err = capsys.readouterr().err
    assert code == 2 and "HelloWorld" not in shown
    assert err.startswith(f"chainops: CHAINOPS_POLICY {policy}: environments.production.approvers")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_policy_is_one_line_from_the_shell_too(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments: [production\n")
    env = {k: v for k, v in os.environ.items() if k not in ("BASETEN_API_KEY", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"], input=STATUS, capture_output=True, text=True,
        env={**env, "CHAINOPS_POLICY": str(policy)}, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"chainops: CHAINOPS_POLICY {policy}: not valid YAML at line 2\n"


def test_a_policy_naming_an_environment_no_chain_has_is_warned_about_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments:\n  prod:\n    requesters: ['*']\n  staging:\n    requesters: ['*']\n")
    monkeypatch.setenv("CHAINOPS_POLICY", str(policy))

    with caplog.at_level(logging.WARNING):
        code, shown = run_console(STATUS)

    assert code == 0 and "HelloWorld" in shown  # a warning, not a refusal to start
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["CHAINOPS_POLICY names environment 'prod', which no chain in Baseten has"]


def test_an_unreachable_baseten_neither_hides_the_policy_check_nor_holds_up_start(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("environments:\n  prod:\n    requesters: ['*']\n")
    world.chainops.policy = load_policy(policy)
    world.sim.disconnect_next(times=4, path_contains="/v1/chains")  # every attempt of one read

    with caplog.at_level(logging.WARNING):
        check_policy_environments(world.chainops.policy, world.chainops.baseten)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.bootstrap"] == [
        "could not check the environments CHAINOPS_POLICY names against Baseten: Could not reach Baseten (ConnectError)."
    ]

    world.sim.latency = 1.5  # Baseten hangs: start returns at once and the bot answers meanwhile
    started = time.monotonic()
    world.chainops.start()
    assert time.monotonic() - started < 0.5
    world.command("help")
    assert "chainops: Baseten Chains from Slack" in world.private_text()
    world.sim.latency = 0.0
    world.chainops.policy_checked(timeout=10)
    assert caplog.records[-1].getMessage() == "CHAINOPS_POLICY names environment 'prod', which no chain in Baseten has"


def test_a_served_bot_logs_where_it_points_and_one_line_per_change_and_no_noise(tmp_path: Path) -> None:
    from tests.world import SECRET, TOKEN

    with outside_world(tmp_path, step_seconds=0.3) as (slack, _sim, env, payloads):
        slack.channels_without_bot.add("C0SECRET")
        bot = start_bot(tmp_path, env)  # SLACK_BOT_TOKEN is exported, as on any host
        try:
            bot.send(payloads.slash_command("promote hello-chain production dep-hello-4 --keep-previous"))
            bot.send(payloads.slash_command("lock hello-chain staging", channel="C0SECRET"))
            deadline = time.monotonic() + 20
            while "rollout finished" not in bot.log() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            assert bot.terminate() == 0
        lines = bot.log().splitlines()

    assert f"chainops serving HTTP on port {bot.port} (Baseten at {env['BASETEN_API_URL']}, database {env['DATABASE_URL']})" in lines[0]
    assert not [line for line in lines if "will be unused" in line or " httpx" in line or " httpcore" in line]
    assert len([line for line in lines if "Baseten accepted the change" in line]) == 1
    assert any("rollout finished: succeeded" in line for line in lines)
    [refused] = [line for line in lines if "gave up on a Slack message to C0SECRET" in line]
    assert " INFO bot.slack.outbox: " in refused and "not in the channel" in refused
    assert not [line for line in lines if " ERROR " in line or " WARNING " in line]
    assert not [line for line in lines if TOKEN in line or SECRET in line or API_KEY in line]
