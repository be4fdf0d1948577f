"""The console's `outside ...` lines: a change made to the simulated Baseten as someone outside chainops
would make it (Baseten's UI, `truss chains push`, a script with its own key), through the simulator's
admin endpoints, so a newcomer can watch `/chain watch` announce it."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from bot.baseten.sim import admin
from bot.baseten.sim.transport import BasetenSimulator

USAGE = """\
  outside promote <chain> <env> <deployment> --by <email or key name> [--via UI|API] [--client truss/0.11.2]
  outside push <chain> <env> --by <who>                  (truss chains push --environment <env>)
  outside instance-type <chain> <env> <chainlet> <instance_type> --by <who>
  outside autoscaling <chain> <env> <chainlet> <setting>=<n> ... --by <who>
  outside deactivate|activate <chain> <deployment> --by <who>
  outside audit-log 403|404|on                           (Baseten refuses, or serves, its audit log)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ValueError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="outside", add_help=False)
    parser.add_argument("action")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--by", default="ana@example.com")
    parser.add_argument("--via", default=None)
    parser.add_argument("--client", default=None)
    return parser


def request(line: str) -> tuple[str, dict[str, Any]]:
    """The admin endpoint and body for an `outside ...` line; ValueError says what is wrong with it."""
    parsed = _parser().parse_args(shlex.split(line))
    a, by = parsed.args, parsed.by
    common: dict[str, Any] = {"by": by, **({"source": parsed.via} if parsed.via else {})}
    if parsed.client:
        name, _, version = parsed.client.partition("/")
        common.update(client_name=name, client_version=version or None)
    shapes: dict[str, tuple[str, ...]] = {
        "promote": ("chain", "environment", "deployment"),
        "push": ("chain", "environment"),
        "instance-type": ("chain", "environment", "chainlet", "instance_type"),
        "deactivate": ("chain", "deployment"),
        "activate": ("chain", "deployment"),
    }
    if parsed.action == "audit-log":
        if a not in (["403"], ["404"], ["on"]):
            raise ValueError("audit-log takes 403, 404 or on")
        return "audit_log", {"refuse": None if a == ["on"] else int(a[0])}
    if parsed.action == "autoscaling":
        if len(a) < 4:
            raise ValueError("autoscaling takes <chain> <env> <chainlet> <setting>=<n> ...")
        settings = {}
        for pair in a[3:]:
            key, sep, value = pair.partition("=")
            if not sep or not value.isdigit():
                raise ValueError(f"{pair!r} should look like max_replica=4")
            settings[key] = int(value)
        return "outside/autoscaling", {
            "chain": a[0],
            "environment": a[1],
            "chainlet": a[2],
            "settings": settings,
            "by": by,
        }
    fields = shapes.get(parsed.action)
    if fields is None:
        raise ValueError(f"no outside action {parsed.action!r}")
    if len(a) != len(fields):
        raise ValueError(f"{parsed.action} takes " + " ".join(f"<{f}>" for f in fields))
    body = dict(zip(fields, a, strict=True)) | common
    if parsed.action not in ("promote", "push"):
        body.pop("client_name", None)
        body.pop("client_version", None)
    return f"outside/{parsed.action}", body


def run(sim: BasetenSimulator, line: str) -> str:
    """Make the change; what the console says about it."""
    try:
        action, body = request(line)
    except ValueError as exc:
        return f"  {exc}\n{USAGE}"
    status, answer = admin.handle(sim, "POST", admin.PREFIX + action, body)
    if status != 200:
        return f"  Baseten (simulated) refused it: {answer.get('error', status)}"
    if action == "audit_log":
        refuse = body["refuse"]
        return (
            f"  Baseten (simulated) now answers its audit log with {refuse}."
            if refuse
            else "  Baseten (simulated) serves its audit log again."
        )
    made = f" (deployment {answer['deployment_id']})" if "deployment_id" in answer else ""
    return f"  Done in Baseten{made}, as {body.get('by', 'Baseten')} would have done it outside chainops."
