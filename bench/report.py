"""Benchmark results as rows of one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    value: str
    reference: str = ""
    target: str = ""
    met: bool | None = None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(rows: list[Row]) -> str:
    lines = [
        "| Benchmark | Measure | Value | Reference (same run) | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.benchmark} | {r.measure} | {r.value} | {r.reference} | {r.target} | {met} |")
    return "\n".join(lines)


def started(index: int, total: int, name: str) -> str:
    return f"[{index}/{total}] {name}: running…"


def finished(index: int, total: int, name: str, rows: list[Row], seconds: float) -> str:
    """One benchmark's outcome in a line, as it ends: how long it took and how its targets went."""
    judged = [r for r in rows if r.met is not None]
    missed = [r.measure for r in judged if not r.met]
    targets = "target" if len(judged) == 1 else "targets"
    if not judged:
        verdict = f"{len(rows)} measures"
    elif missed:
        verdict = f"{len(missed)} of {len(judged)} {targets} missed ({', '.join(missed)})"
    else:
        verdict = f"{len(judged)} of {len(judged)} {targets} met"
    return f"[{index}/{total}] {name}: {seconds:.1f} s, {verdict}"
