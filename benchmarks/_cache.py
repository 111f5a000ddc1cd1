"""Proxy trainings kept across benchmark calls, in one CSV per benchmark.

A row is keyed by what is trained: the architecture and the budget less its note, so rewording
a budget's description keeps its results while any change to what is trained does not.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from hwsearch.proxy.budgets import Budget

FIELDS = ("budget", "arch", "accuracy_pct", "std_pct", "seconds")


@dataclass(frozen=True)
class Trained:
    """One cached training: mean accuracy over the budget's seeds, their spread and the seconds it took."""

    accuracy_pct: float
    std_pct: float
    seconds: float


def budget_key(budget: Budget) -> str:
    """The cache key of ``budget``: every field that changes what is trained."""
    return repr(replace(budget, note=""))


def load(cache: Path, budget: Budget) -> dict[str, Trained]:
    """The trainings under ``budget`` already in ``cache``, by architecture string."""
    if not cache.exists():
        return {}
    key = budget_key(budget)
    with cache.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["budget"] == key]
    return {row["arch"]: Trained(float(row["accuracy_pct"]), _number(row, "std_pct"), _number(row, "seconds"))
            for row in rows}  # fmt: skip


def _number(row: dict[str, str], field: str) -> float:
    return float(row.get(field) or 0.0)  # a column an older cache lacks reads as 0


def append(cache: Path, budget: Budget, arch: str, trained: Trained) -> None:
    """Add one training to ``cache`` at once, so an interrupted benchmark keeps what it finished."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    fields = list(FIELDS)
    if cache.exists():
        # Older caches lack a column or two; their header stays what it was.
        with cache.open(newline="") as handle:
            fields = next(csv.reader(handle), fields)
    new = not cache.exists() or cache.stat().st_size == 0
    row = {"budget": budget_key(budget), "arch": arch, "accuracy_pct": trained.accuracy_pct,
           "std_pct": round(trained.std_pct, 3), "seconds": round(trained.seconds, 2)}  # fmt: skip
    with cache.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
