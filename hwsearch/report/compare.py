"""Several runs' fronts side by side: one table, the notes that say what is not comparable, and the files.

Each run's front is the one it reports, at its own top rung; this module never recomputes a
front from scores of another fidelity. The drawing is :mod:`hwsearch.report.compare_plot`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsearch.errors import HwsearchError, names_file
from hwsearch.report.compare_plot import compare_figure
from hwsearch.report.labels import source_text
from hwsearch.report.plots import save_png

TABLE_COLUMNS = [
    "run", "device", "budget", "dataset", "number", "baseline", "accuracy_pct", "accuracy_std_pct", "seeds",
    "latency_ms", "latency_source", "latency_error_pct", "macs", "params", "arch",
]  # fmt: skip


class CompareError(HwsearchError, ValueError):
    """Runs that cannot be compared: none given, or one with no front."""


@dataclass(frozen=True, eq=False)
class RunFront:
    """The front one run reports: rows of its trials table marked ``on_front``, all at ``budget``."""

    name: str
    device: str
    budget: str
    dataset: str
    front: pd.DataFrame

    def seeds_text(self) -> str:
        """``2+ seeds each`` or ``1 seed each: not confirmed``."""
        fewest = int(self.front.seeds.min())
        return f"{fewest}+ seeds each" if fewest >= 2 else "1 seed each: not confirmed"

    def label(self) -> str:
        """The curve's name: run folder, device, budget, seeds and latency source."""
        return (f"{self.name} · {self.device} · '{self.budget}' · {self.seeds_text()} · "
                f"latency {source_text(self.front)}")  # fmt: skip


@dataclass(frozen=True)
class CompareOutputs:
    """Paths of what a comparison wrote."""

    compare_png: Path
    compare_csv: Path


def run_front(name: str, frame: pd.DataFrame, *, device: str, dataset: str) -> RunFront:
    """The front a run's trials table marks, fastest first; :class:`CompareError` when it has none."""
    front = frame[frame.on_front].sort_values("latency_ms").reset_index(drop=True)
    if front.empty:
        raise CompareError(f"run {name} has no feasible network yet, so no front to compare", value=name)
    budgets = sorted(set(front.budget))
    if len(budgets) > 1:  # a run reports its front at one rung; anything else is a damaged table
        raise CompareError(f"run {name}'s front mixes budgets {budgets}", value=budgets)
    return RunFront(name, device, str(budgets[0]), dataset, front)


def distinct_names(paths: Sequence[Path]) -> list[str]:
    """Each run folder's name, with its parent folders prepended until no two are alike."""
    if not paths:
        return []
    depth = 1
    deepest = max(len(p.parts) for p in paths)
    while True:
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or depth >= deepest:
            return names
        depth += 1


def comparability_notes(fronts: Sequence[RunFront]) -> list[str]:
    """What a reader must know before comparing the curves: differing budgets or data, unconfirmed fronts."""
    notes = []
    budgets = sorted({f.budget for f in fronts})
    if len(budgets) > 1:
        quoted = ", ".join(f"'{b}'" for b in budgets)
        notes.append(f"the runs report at different budgets ({quoted}): their accuracies are not comparable")
    datasets = sorted({f.dataset for f in fronts})
    if len(datasets) > 1:
        notes.append(f"the runs score on different data ({', '.join(datasets)}): their accuracies are not comparable")
    notes += [f"{f.name}'s front has 1 seed each: not confirmed" for f in fronts if int(f.front.seeds.min()) < 2]
    devices = sorted({f.device for f in fronts})
    if len(devices) > 1:
        notes.append(f"latencies are on different devices ({', '.join(devices)}), each on its own")
    return notes


def compare_table(fronts: Sequence[RunFront]) -> pd.DataFrame:
    """One row per front network of each run, in the runs' order, fastest first within a run."""
    if not fronts:
        raise CompareError("no run to compare", value=0, hint="give one or more run folders")
    parts = [f.front.assign(run=f.name, device=f.device, dataset=f.dataset) for f in fronts]
    table = pd.concat(parts, ignore_index=True)
    return table[[c for c in TABLE_COLUMNS if c in table.columns]]


def write_compare(fronts: Sequence[RunFront], out_dir: Path) -> CompareOutputs:
    """``compare.png`` and ``compare.csv`` of ``fronts`` in ``out_dir``."""
    table = compare_table(fronts)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "compare.csv"
    with names_file(csv):
        table.to_csv(csv, index=False)
    png = save_png(compare_figure(fronts, comparability_notes(fronts)), out_dir / "compare.png")
    return CompareOutputs(png, csv)
