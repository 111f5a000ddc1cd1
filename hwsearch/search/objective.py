"""The two-objective score of one candidate: proxy accuracy (max) and device latency (min).

Hard constraints (space validity, latency budget, MAC budget) are checked before any
training and recorded with Optuna's ``Trial.set_constraint``. An infeasible candidate gets
an accuracy of 0 without being trained, and the samplers steer away from it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.measurement import Measurement
from hwsearch.proxy.records import EpochCallback, ProxyResult
from hwsearch.space import SearchSpace

LatencyFn = Callable[[Arch], Measurement]
AccuracyFn = Callable[[Arch, EpochCallback | None], ProxyResult]


@dataclass(frozen=True)
class Scored:
    """What one evaluated trial produced, for progress lines."""

    number: int
    arch: str
    accuracy_pct: float
    latency: Measurement
    macs: int
    feasible: bool
    train_seconds: float
    baseline: str | None


class Objective:
    """Callable for ``study.optimize``: samples an arch, checks constraints, measures, trains."""

    def __init__(self, space: SearchSpace, latency_fn: LatencyFn, accuracy_fn: AccuracyFn, *,
                 latency_budget_ms: float | None = None, macs_budget: float | None = None,
                 on_scored: Callable[[Scored], None] | None = None,
                 on_trained: Callable[[Arch, ProxyResult], None] | None = None) -> None:  # fmt: skip
        self.space = space
        self.latency_fn = latency_fn
        self.accuracy_fn = accuracy_fn
        self.latency_budget_ms = latency_budget_ms
        self.macs_budget = macs_budget
        self.on_scored = on_scored
        # Told of each training before the trial finishes, so its records are kept even if the process dies next.
        self.on_trained = on_trained

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        # Which process ran a trial, so that a dead worker's trials can be told apart.
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        arch = self.space.sample(trial)
        cost = count_cost(arch)
        violations = self.space.violations(arch)
        latency = self.latency_fn(arch)
        constraints = {
            "space_rules": float(len(violations)),
            "latency_ms": 0.0 if self.latency_budget_ms is None else latency.latency_ms - self.latency_budget_ms,
            "macs": 0.0 if self.macs_budget is None else cost.macs - self.macs_budget,
        }
        assert tuple(constraints) == CONSTRAINT_NAMES  # the dashboard's list is read in this order
        feasible = all(c <= 0 for c in constraints.values())
        for name, value in constraints.items():
            trial.set_constraint(name, value)
        # optuna-dashboard (0.21) reads only the pre-Optuna-5 list; the names are in the study's
        # CONSTRAINT_NAMES_ATTR, in the same order.
        trial.storage.set_trial_system_attr(trial._trial_id, DASHBOARD_CONSTRAINTS_KEY, list(constraints.values()))
        attrs = {
            "arch": arch.to_str(),
            "macs": cost.macs,
            "params": cost.params,
            "latency_ms": latency.latency_ms,
            "latency_source": latency.source,
            # How sure the figure is: a measurement's spread, or an estimate's cross-validated expected error.
            "latency_uncertainty": latency.uncertainty,
            "latency": latency.to_dict(),
            "violations": violations,
            "feasible": feasible,
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        accuracy_pct, train_seconds = 0.0, 0.0
        if feasible:
            earlier = _trained_before(trial, attrs["arch"])
            if earlier is not None:
                # Same study, so same data and budget: the deterministic proxy would repeat itself.
                for key in ("accuracy_pct", "epoch_accuracy_pct", "proxy_arch"):
                    trial.set_user_attr(key, earlier.user_attrs[key])
                trial.set_user_attr("train_seconds", 0.0)
                trial.set_user_attr("accuracy_from_trial", earlier.number)
                accuracy_pct = float(earlier.user_attrs["accuracy_pct"])
            else:
                result = self.accuracy_fn(arch, None)
                accuracy_pct, train_seconds = result.accuracy_pct, result.train_seconds
                trial.set_user_attr("accuracy_pct", accuracy_pct)
                trial.set_user_attr("epoch_accuracy_pct", list(result.epoch_accuracy_pct))
                trial.set_user_attr("train_seconds", train_seconds)
                trial.set_user_attr("proxy_arch", result.proxy_arch)
                if self.on_trained is not None:
                    self.on_trained(arch, result)
        if self.on_scored is not None:
            baseline = trial.user_attrs.get("baseline")
            self.on_scored(Scored(trial.number, arch.to_str(), accuracy_pct, latency, cost.macs, feasible,
                                  train_seconds, baseline))  # fmt: skip
        return accuracy_pct, latency.latency_ms


def _trained_before(trial: optuna.Trial, arch: str) -> optuna.trial.FrozenTrial | None:
    """A finished trial of the same study (any worker's, any earlier session's) that trained ``arch``."""
    done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return next((t for t in done if t.user_attrs.get("arch") == arch and "accuracy_pct" in t.user_attrs), None)


DASHBOARD_CONSTRAINTS_KEY = "constraints"
CONSTRAINT_NAMES = ("space_rules", "latency_ms", "macs")  # the order of the dashboard's list
CONSTRAINT_NAMES_ATTR = "hwsearch_constraint_names"


def constraints_of(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    """Constraint values recorded by :class:`Objective` (<= 0 means satisfied)."""
    # The dashboard's copy comes back from Optuna as constraints "0", "1", ...: the named ones say it all.
    return {name: value for name, value in trial.constraints.items() if not name.isdigit()}
