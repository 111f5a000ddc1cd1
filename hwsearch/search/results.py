"""A study's trials as a table: every figure needed to rebuild any point, from the study alone."""

from __future__ import annotations

import optuna
import pandas as pd
from optuna.trial import TrialState

from hwsearch.arch import Arch
from hwsearch.search.config import CONFIG_ATTR, RunError, SearchConfig

COLUMNS = [
    "number", "state", "baseline", "feasible", "accuracy_pct", "latency_ms", "latency_source",
    "macs", "params", "alpha", "resolution", "depth", "train_seconds", "arch", "violations",
    "finished", "worker",
]  # fmt: skip


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per finished trial (complete or failed), in trial order."""
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = trial.user_attrs
        if "arch" not in attrs:
            continue  # failed before an architecture was drawn
        arch = Arch.from_str(attrs["arch"])
        rows.append({
            "number": trial.number,
            "state": trial.state.name.lower(),
            "baseline": attrs.get("baseline", ""),
            "feasible": bool(attrs.get("feasible", False)) and trial.state == TrialState.COMPLETE,
            "accuracy_pct": attrs.get("accuracy_pct", float("nan")),
            "latency_ms": attrs.get("latency_ms", float("nan")),
            "latency_source": attrs.get("latency_source", ""),
            "macs": attrs.get("macs"),
            "params": attrs.get("params"),
            "alpha": arch.alpha,
            "resolution": arch.resolution,
            "depth": arch.depth,
            "train_seconds": attrs.get("train_seconds", 0.0),
            "arch": attrs["arch"],
            "violations": "; ".join(attrs.get("violations", [])),
            "finished": trial.datetime_complete.isoformat(timespec="seconds") if trial.datetime_complete else "",
            "worker": attrs.get("worker", ""),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def study_config(study: optuna.Study) -> SearchConfig:
    """The settings the study was created with."""
    return SearchConfig.from_dict(study.user_attrs[CONFIG_ATTR])


def choose_trial(frame: pd.DataFrame, *, number: int | None = None,
                 max_latency_ms: float | None = None) -> pd.Series:  # fmt: skip
    """A row of :func:`trials_frame`: trial ``number``, else the most accurate feasible trial
    (at most ``max_latency_ms`` slow when given; the faster of equally accurate ones).

    Raises :class:`~hwsearch.search.config.RunError`, naming what the run does hold, when
    there is no such trial.
    """
    if number is not None:
        rows = frame[frame.number == number]
        if rows.empty:
            known = f"trials {frame.number.min()}-{frame.number.max()}" if len(frame) else "none finished"
            raise RunError(f"no finished trial {number}", value=number, hint=known)
        return rows.iloc[0]
    feasible = frame[frame.feasible]
    if feasible.empty:
        raise RunError("the run has no feasible trial yet", value=len(frame))
    if max_latency_ms is not None:
        fast = feasible[feasible.latency_ms <= max_latency_ms]
        if fast.empty:
            raise RunError(f"no feasible trial within {max_latency_ms} ms", value=max_latency_ms,
                           hint=f"the fastest takes {feasible.latency_ms.min():.3f} ms")  # fmt: skip
        feasible = fast
    return feasible.sort_values(["accuracy_pct", "latency_ms"], ascending=[False, True]).iloc[0]
