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
    lines = ["| Benchmark | Measure | Value | Reference (same run) | Target | Met |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.benchmark} | {r.measure} | {r.value} | {r.reference} | {r.target} | {met} |")
    return "\n".join(lines)
