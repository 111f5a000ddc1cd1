"""A study's trials as a table: every figure needed to rebuild any point, from the study alone."""

from __future__ import annotations

import optuna
import pandas as pd
from optuna.trial import TrialState

from hwsearch.arch import Arch
from hwsearch.search.config import CONFIG_ATTR, RunError, SearchConfig
from hwsearch.search.ladder import Standing, front
from hwsearch.search.records import Record, RecordKey, standings_at

COLUMNS = [
    "number", "state", "baseline", "feasible", "accuracy_pct", "budget", "seeds", "accuracy_std_pct", "on_front",
    "explore_accuracy_pct", "latency_ms", "latency_source", "latency_error_pct", "macs", "params", "alpha",
    "resolution", "depth", "train_seconds", "arch", "violations", "finished", "worker",
]  # fmt: skip


def feasible_latency(study: optuna.Study) -> dict[str, float]:
    """Latency (ms) of every feasible explored network, by architecture string."""
    return {t.user_attrs["arch"]: float(t.user_attrs["latency_ms"])
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("feasible")}  # fmt: skip


def _latency_error_pct(attrs: dict) -> float:
    """An estimate's cross-validated expected error (%), 0 for a measurement; NaN where a trial predates it."""
    recorded = attrs.get("latency", {})
    if "expected_error_pct" not in recorded:
        return 0.0 if attrs.get("latency_source") == "measured" else float("nan")
    return float(recorded["expected_error_pct"])


def rung_standings(config: SearchConfig, records: dict[RecordKey, Record],
                   latency_ms: dict[str, float]) -> dict[str, dict[str, Standing]]:  # fmt: skip
    """For each rung of the ladder, cheapest first: the networks recorded there, by architecture string."""
    return {budget: {s.arch: s for s in standings_at(records, budget, latency_ms)} for budget in config.ladder}


def report_budget(config: SearchConfig, by_rung: dict[str, dict[str, Standing]]) -> str:
    """The rung a run's front is computed at: the highest any network reached.

    One rung for the whole front, so that it never compares a cheap score with a higher fidelity's.
    """
    reached = [budget for budget in config.ladder if by_rung.get(budget)]
    return reached[-1] if reached else config.budget


def trials_frame(study: optuna.Study, records: dict[RecordKey, Record] | None = None) -> pd.DataFrame:
    """One row per finished trial (complete or failed), in trial order.

    ``accuracy_pct`` is the network's score at the highest rung it reached (``budget``),
    the mean of its ``seeds`` there with their standard deviation; ``explore_accuracy_pct``
    is its exploration score. ``on_front`` marks the reported front: the networks that no
    other beats at the report rung (the highest any network reached), each once.
    """
    config = study_config(study)
    by_rung = rung_standings(config, records or {}, feasible_latency(study))
    report = report_budget(config, by_rung)
    at_report = list(by_rung[report].values())
    highest = {arch: (budget, s) for budget, here in by_rung.items() for arch, s in here.items()}  # last rung wins
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = trial.user_attrs
        if "arch" not in attrs:
            continue  # failed before an architecture was drawn
        arch = Arch.from_str(attrs["arch"])
        explored = attrs.get("accuracy_pct", float("nan"))
        budget, standing = highest.get(attrs["arch"], (config.budget, None))
        rows.append({
            "number": trial.number,
            "state": trial.state.name.lower(),
            "baseline": attrs.get("baseline", ""),
            "feasible": bool(attrs.get("feasible", False)) and trial.state == TrialState.COMPLETE,
            "accuracy_pct": standing.accuracy_pct if standing else explored,
            "budget": budget,
            "seeds": standing.seeds if standing else int("accuracy_pct" in attrs),
            "accuracy_std_pct": standing.accuracy_std_pct if standing else 0.0,
            "on_front": False,
            "explore_accuracy_pct": explored,
            "latency_ms": attrs.get("latency_ms", float("nan")),
            "latency_source": attrs.get("latency_source", ""),
            "latency_error_pct": _latency_error_pct(attrs),
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
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not at_report:  # no records (a run older than the ladder): the front is the exploration's own
        feasible = frame[frame.feasible]
        at_report = [Standing(r.arch, r.accuracy_pct, r.latency_ms) for r in feasible.itertuples()]
    on_front = set(front(at_report))
    first = ~frame.duplicated("arch") & frame.feasible
    frame["on_front"] = first & frame.arch.isin(on_front)
    return frame


def study_config(study: optuna.Study) -> SearchConfig:
    """The settings the study was created with."""
    return SearchConfig.from_dict(study.user_attrs[CONFIG_ATTR])


def choose_trial(frame: pd.DataFrame, *, number: int | None = None,
                 max_latency_ms: float | None = None) -> pd.Series:  # fmt: skip
    """A row of :func:`trials_frame`: trial ``number``, else the most accurate feasible trial at the
    front's rung (at most ``max_latency_ms`` slow when given; the faster of equally accurate ones).

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
    reported = frame.loc[frame.on_front, "budget"]
    if len(reported):  # compare like with like: only networks scored at the front's own rung
        feasible = feasible[feasible.budget == reported.iloc[0]]
    if feasible.empty:
        raise RunError("the run has no feasible trial yet", value=len(frame))
    if max_latency_ms is not None:
        fast = feasible[feasible.latency_ms <= max_latency_ms]
        if fast.empty:
            raise RunError(f"no feasible trial within {max_latency_ms} ms", value=max_latency_ms,
                           hint=f"the fastest takes {feasible.latency_ms.min():.3f} ms")  # fmt: skip
        feasible = fast
    return feasible.sort_values(["accuracy_pct", "latency_ms"], ascending=[False, True]).iloc[0]
