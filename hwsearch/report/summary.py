"""What a run found, computed from its trials table alone (no drawing here)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hwsearch.pareto import Point, hypervolume, hypervolume_history, pareto
from hwsearch.stats import LinearFit, log_macs_fit


@dataclass(frozen=True, eq=False)
class RunSummary:
    """The feasible trials, their Pareto front, hypervolumes and the MACs trade-off fit."""

    feasible: pd.DataFrame
    front: pd.DataFrame
    baselines: pd.DataFrame
    reference: Point
    hypervolume: float
    baseline_hypervolume: float
    history: list[float]
    fit: LinearFit | None
    latency_sources: tuple[str, ...]


def default_reference(feasible: pd.DataFrame) -> Point:
    """One point below the worst feasible accuracy, 10% beyond the slowest latency."""
    return (float(feasible.accuracy_pct.min()) - 1.0, float(feasible.latency_ms.max()) * 1.1)


def _points(frame: pd.DataFrame) -> list[Point]:
    return list(zip(frame.accuracy_pct.astype(float), frame.latency_ms.astype(float), strict=True))


def summarise(frame: pd.DataFrame, reference: Point | None = None) -> RunSummary:
    """Front, hypervolume (with ``reference`` or :func:`default_reference`) and fit of a trials table."""
    feasible = frame[frame.feasible].sort_values("number").reset_index(drop=True)
    if feasible.empty:
        empty = feasible.iloc[0:0]
        return RunSummary(feasible, empty, empty, reference or (0.0, 0.0), 0.0, 0.0, [], None, ())
    ref = reference or default_reference(feasible)
    points = _points(feasible)
    # A sampler may propose an architecture again; the front lists each once, first trial first.
    front = feasible.iloc[pareto(points)].drop_duplicates("arch").reset_index(drop=True)
    baselines = feasible[feasible.baseline != ""].reset_index(drop=True)
    fit = None
    if feasible.macs.nunique() >= 2:
        fit = log_macs_fit(feasible.macs.astype(float), feasible.accuracy_pct.astype(float))
    return RunSummary(
        feasible=feasible,
        front=front,
        baselines=baselines,
        reference=ref,
        hypervolume=hypervolume(points, ref),
        baseline_hypervolume=hypervolume(_points(baselines), ref),
        history=hypervolume_history(points, ref),
        fit=fit,
        latency_sources=tuple(sorted(set(feasible.latency_source))),
    )
