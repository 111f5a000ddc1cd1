"""What a run found, computed from its trials table alone (no drawing here).

The table says at which fidelity each accuracy was scored (``budget``) and which rows are
the reported front (``on_front``, decided by the search); this module only summarises, and
never puts a score from one fidelity beside a score from another.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hwsearch.pareto import Point, hypervolume, hypervolume_history, pareto
from hwsearch.report.choices import DEFAULT_WITHIN_PCT, fastest_within_index, knee_index
from hwsearch.report.grid import GridRank, grid_rank
from hwsearch.stats import LinearFit, log_macs_fit


@dataclass(frozen=True, eq=False)
class RunSummary:
    """The explored networks, those scored at the report rung, the front there, hypervolumes and fits.

    ``explore_budget`` is the fidelity every network was explored at, ``report_budget`` the
    one the front is computed at (the same in a single-fidelity run). ``history`` and
    ``explore_front`` are at the exploration budget, every other figure at the report budget.
    """

    feasible: pd.DataFrame
    explore_budget: str
    explore_front: pd.DataFrame
    report_budget: str
    at_report: pd.DataFrame
    front: pd.DataFrame
    baselines: pd.DataFrame
    reference: Point
    hypervolume: float
    baseline_hypervolume: float
    history: list[float]
    fit: LinearFit | None
    front_fit: LinearFit | None
    latency_sources: tuple[str, ...]
    # How far the proxy ranks the paper's grid as ImageNet does, at each fidelity (None: too few baselines).
    explore_grid: GridRank | None = None
    report_grid: GridRank | None = None
    # Suggested rows of ``front``: its knee, and the fastest within ``within_pct`` points of the best.
    knee: pd.Series | None = None
    within: pd.Series | None = None
    within_pct: float = DEFAULT_WITHIN_PCT

    @property
    def multi_fidelity(self) -> bool:
        """True when the front was scored above the exploration fidelity."""
        return self.report_budget != self.explore_budget


def default_reference(rows: pd.DataFrame) -> Point:
    """One point below the worst accuracy, 10% beyond the slowest latency."""
    return (float(rows.accuracy_pct.min()) - 1.0, float(rows.latency_ms.max()) * 1.1)


def _points(frame: pd.DataFrame, column: str = "accuracy_pct") -> list[Point]:
    return list(zip(frame[column].astype(float), frame.latency_ms.astype(float), strict=True))


def _fit(rows: pd.DataFrame) -> LinearFit | None:
    if rows.macs.nunique() < 2:
        return None
    return log_macs_fit(rows.macs.astype(float), rows.accuracy_pct.astype(float))


def _pick(front: pd.DataFrame, index: int | None) -> pd.Series | None:
    return None if index is None else front.iloc[index]


def summarise(frame: pd.DataFrame, explore_budget: str, reference: Point | None = None, *,
              within_pct: float = DEFAULT_WITHIN_PCT) -> RunSummary:  # fmt: skip
    """Fronts, hypervolumes (with ``reference`` or :func:`default_reference`), fits and suggested
    networks of a trials table whose networks were explored at ``explore_budget``."""
    feasible = frame[frame.feasible].sort_values("number").reset_index(drop=True)
    if feasible.empty:
        empty = feasible.iloc[0:0]
        return RunSummary(feasible, explore_budget, empty, explore_budget, empty, empty, empty,
                          reference or (0.0, 0.0), 0.0, 0.0, [], None, None, (), within_pct=within_pct)  # fmt: skip
    front = feasible[feasible.on_front].sort_values("latency_ms").reset_index(drop=True)
    report_budget = str(front.budget.iloc[0]) if not front.empty else explore_budget
    explored = feasible.drop_duplicates("arch")
    at_report = explored[explored.budget == report_budget].reset_index(drop=True)
    ref = reference or default_reference(at_report)
    explore_points = _points(feasible, "explore_accuracy_pct")
    explore_front = feasible.iloc[pareto(explore_points)].drop_duplicates("arch").reset_index(drop=True)
    baselines = explored[explored.baseline != ""].reset_index(drop=True)
    accuracy, latency = front.accuracy_pct.tolist(), front.latency_ms.tolist()
    return RunSummary(
        feasible=feasible,
        explore_budget=explore_budget,
        explore_front=explore_front,
        report_budget=report_budget,
        at_report=at_report,
        front=front,
        baselines=baselines,
        reference=ref,
        hypervolume=hypervolume(_points(at_report), ref),
        baseline_hypervolume=hypervolume(_points(baselines[baselines.budget == report_budget]), ref),
        history=hypervolume_history(explore_points, default_reference(feasible.assign(
            accuracy_pct=feasible.explore_accuracy_pct))),
        fit=_fit(at_report),
        front_fit=_fit(front),
        latency_sources=tuple(sorted(set(feasible.latency_source))),
        explore_grid=grid_rank(baselines, "explore_accuracy_pct", explore_budget),
        report_grid=grid_rank(baselines[baselines.budget == report_budget], "accuracy_pct", report_budget),
        knee=_pick(front, knee_index(accuracy, latency)),
        within=_pick(front, fastest_within_index(accuracy, latency, within_pct)),
        within_pct=within_pct,
    )  # fmt: skip
