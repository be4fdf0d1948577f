"""`python -m bench` runs every benchmark, prints a table and writes docs/benchmarks.md.
`python -m bench --smoke` is a run of about a minute that proves the benchmarks still work (CI runs it).
A line per benchmark on standard error says which one is running and how it went."""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.ack_latency import ack_latency
from bench.one_channel_burst import one_channel_burst
from bench.report import Row, finished, started, table
from bench.rollouts import rollouts_at_scale
from bench.shutdown import shutdown
from bench.slow_baseten import slow_baseten, slow_slack
from bench.startup import startup
from bench.watch import watch_at_scale

ROOT = Path(__file__).resolve().parent.parent

# In the order they run, by the name `--only` takes.
BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "ack-latency": ack_latency,
    "rollouts": rollouts_at_scale,
    "one-channel-burst": one_channel_burst,
    "startup": startup,
    "slow-baseten": slow_baseten,
    "slow-slack": slow_slack,
    "shutdown": shutdown,
    "watch": watch_at_scale,
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or "?"
    return (
        f"{platform.system()} {platform.machine()}, {cores} cores ({cpu}), Python {platform.python_version()}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="about a minute; proves the benchmarks run")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run only this benchmark (repeat for more); docs/benchmarks.md is then left alone",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]
    rows: list[Row] = []
    for index, name in enumerate(chosen, start=1):
        print(started(index, len(chosen), name), file=sys.stderr, flush=True)
        began = time.monotonic()
        found = BENCHMARKS[name](smoke=args.smoke)
        print(
            finished(index, len(chosen), name, found, time.monotonic() - began), file=sys.stderr, flush=True
        )
        rows += found
    rendered = table(rows)
    print(rendered)
    failed = [r for r in rows if r.met is False]
    if not args.smoke and not args.only:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            f"# Benchmarks\n\nRun with `python -m bench` on {when}.\n\nMachine: {machine()}\n\n{rendered}\n"
        )
        print(f"written to {args.out}")
    if failed:
        print(f"{len(failed)} target(s) missed", file=sys.stderr)
    return 0 if args.smoke or not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
