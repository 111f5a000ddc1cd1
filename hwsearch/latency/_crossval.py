"""Leave-one-configuration-out cross-validation: how well k points of an unseen configuration predict the rest.

For each configuration group of a family (one board in one runtime setting, with at
least two networks), the family prior is fitted *without* it, the group is calibrated on
``k`` of its points and its other points are predicted. Beside each prediction sits the
MACs line given the same points (k = 1: latency proportional to MACs; k >= 2: an affine
least-squares line in MACs), the baseline every prediction must beat.

This one procedure

* chooses the prior's strength, how much a runtime setting explains and the noise level
  (:func:`choose_hyper`: the :class:`~hwsearch.latency._fitting.Hyper` with the lowest
  cross-validated error),
* gives every prediction its expected error at its number of points
  (:class:`FamilyCheck`, from the nested rows; :mod:`hwsearch.latency._checks`), and
* prints the tables of ``benchmarks/predictor_loo.py`` (:func:`nested_rows`: the
  hyperparameters are chosen again without the held-out configuration, so the table
  is not flattered by the choice).

Which points calibrate: the first ``k`` of :data:`RECIPE` that the group has (the
README's measuring order), then its other networks in the order given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.cost import count_cost
from hwsearch.latency._corpus import ConfigGroup
from hwsearch.latency._features import relative_matrix
from hwsearch.latency._fitting import Hyper, configuration_prior, fit_terms, predict
from hwsearch.stats import spearman

# The order to measure a new board in: 1.0-224 sets the level; 0.25-224 (same resolution,
# a quarter of the width) changes the MACs-to-activation ratio most while the fixed cost
# stays small; 1.0-128 (full width, a third of the pixels) shows the weights term, which
# does not shrink with resolution; 0.25-128 the fixed cost; the rest fill the grid in.
Recipe = tuple[tuple[float, int], ...]
RECIPE: Recipe = ((1.0, 224), (0.25, 224), (1.0, 128), (0.25, 128), (0.5, 160), (0.75, 192),
                                         (0.5, 224), (0.75, 128))  # fmt: skip
CV_KS = (1, 2, 3, 4, 6, 8)
SELECT_KS = (1, 2, 4)  # the k the hyperparameters are chosen for (each weighs the same)
# How much of the spread between configurations their runtime setting explains: none, or most.
SETTING_SHARES = (0.0, 0.9)
# Where no two configurations of a pool share a setting, cross-validation cannot tell the
# share; then the setting is trusted, as across the published grids the shape differs far
# more between runtimes than between boards (the full ARM pool's check chooses it too).
UNTESTED_SETTING_SHARE = 0.9
# From a tight prior (every configuration shaped like the family mean) to a loose one.
HYPER_GRID = tuple(Hyper(sd, sec, noise, share) for sd in (0.5, 1.0, 2.0, 4.0, 8.0) for sec in (1.0, 3.0)
                   for noise in (0.03, 0.1) for share in SETTING_SHARES)  # fmt: skip
# When a family has too few configurations to cross-validate.
DEFAULT_HYPER = Hyper(2.0, 3.0, 0.03, UNTESTED_SETTING_SHARE)
# Structural shares of the reference network's time before any data (the family fit moves them).
STRUCTURAL: dict[str, tuple[float, ...]] = {
    "arm-cpu": (0.6, 0.35, 0.02, 0.005, 0.005),
    "x86-cpu": (0.6, 0.35, 0.02, 0.005, 0.005),
    "nvidia-gpu": (0.45, 0.3, 0.02, 0.05, 0.18),
}


def structural_center(family: str) -> np.ndarray:
    """The log shares the family fit starts from."""
    return np.log(np.array(STRUCTURAL[family]))


def recipe_archs(recipe: Recipe = RECIPE) -> list[Arch]:
    """The networks of ``recipe`` (default :data:`RECIPE`), in measuring order."""
    return [mobilenet_v1(a, r) for a, r in recipe]


def calibration_indices(archs: Sequence[Arch], k: int, recipe: Recipe = RECIPE) -> list[int] | None:
    """Which ``k`` of ``archs`` calibrate: ``recipe`` order first; None if no other network would be left."""
    names = [a.to_str() for a in archs]
    if len(set(names)) <= k:
        return None
    order = [names.index(a.to_str()) for a in recipe_archs(recipe) if a.to_str() in names]
    order += [i for i in range(len(archs)) if i not in order and names[i] not in {names[j] for j in order}]
    chosen = order[:k]
    return chosen


def macs_line_ms(cal_macs: np.ndarray, cal_ms: np.ndarray, macs: np.ndarray) -> np.ndarray:
    """The MACs baseline: proportional from one point, affine least squares from two or more."""
    if len(cal_macs) == 1 or np.ptp(cal_macs) == 0:
        return macs * float(np.mean(cal_ms / cal_macs))
    slope, intercept = np.polyfit(cal_macs, cal_ms, 1)
    return slope * macs + intercept


@dataclass(frozen=True)
class CvRow:
    """One held-out point of one configuration, predicted from ``k`` of its other points."""

    group: str
    family: str
    k: int
    calibrated_on: tuple[Arch, ...]
    arch: Arch
    latency_ms: float
    predicted_ms: float
    macs_line_ms: float

    @property
    def error_pct(self) -> float:
        """Predicted / published - 1, in percent."""
        return 100.0 * (self.predicted_ms / self.latency_ms - 1.0)

    @property
    def macs_error_pct(self) -> float:
        """The MACs line's error, in percent."""
        return 100.0 * (self.macs_line_ms / self.latency_ms - 1.0)


def _fit_data(group: ConfigGroup) -> tuple[np.ndarray, np.ndarray]:
    return relative_matrix(group.archs), np.array(group.latency_ms)


def holdout_rows(
    held: ConfigGroup,
    others: Sequence[ConfigGroup],
    hyper: Hyper,
    center: np.ndarray,
    *,
    ks: Sequence[int] = CV_KS,
    recipe: Recipe = RECIPE,
) -> list[CvRow]:
    """``held`` predicted at each ``k`` from a prior fitted to ``others`` only (drawn around the
    mean of ``held``'s runtime setting when one of ``others`` shares it)."""
    settings = [g.setting for g in others]
    mu, cov = configuration_prior([_fit_data(g) for g in others], hyper, center, settings, held.setting)
    rel, y = _fit_data(held)
    macs = np.array([count_cost(a).macs for a in held.archs], dtype=float)
    rows = []
    for k in ks:
        idx = calibration_indices(held.archs, k, recipe)
        if idx is None:
            continue
        cal_names = {held.archs[i].to_str() for i in idx}
        rest = [i for i in range(len(held.archs)) if held.archs[i].to_str() not in cal_names]
        z = fit_terms(rel[idx], y[idx], mu, cov, hyper.noise)
        predicted = predict(z, rel[rest])
        baseline = macs_line_ms(macs[idx], y[idx], macs[rest])
        cal = tuple(held.archs[i] for i in idx)
        rows += [CvRow(held.name, held.family, k, cal, held.archs[i], float(y[i]), float(p), float(b))
                 for i, p, b in zip(rest, predicted, baseline, strict=True)]  # fmt: skip
    return rows


def loo_rows(groups: Sequence[ConfigGroup], hyper: Hyper, center: np.ndarray, ks: Sequence[int] = CV_KS,
             recipe: Recipe = RECIPE) -> list[CvRow]:  # fmt: skip
    """Every group held out in turn, the prior fitted to the rest with ``hyper``, calibrated on ``recipe``."""
    rows = []
    for i, held in enumerate(groups):
        rows += holdout_rows(held, [g for j, g in enumerate(groups) if j != i], hyper, center, ks=ks, recipe=recipe)
    return rows


def score(rows: Sequence[CvRow]) -> float:
    """Mean absolute error in percent, each (configuration, k) weighing the same."""
    cells: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        cells.setdefault((r.group, r.k), []).append(abs(r.error_pct))
    return float(np.mean([np.mean(v) for v in cells.values()])) if cells else float("nan")


def settings_shared(groups: Sequence[ConfigGroup]) -> bool:
    """Whether two of ``groups`` share a runtime setting (else no fold can test the setting share)."""
    settings = [g.setting for g in groups if g.setting is not None]
    return len(set(settings)) < len(settings)


def choose_hyper(groups: Sequence[ConfigGroup], center: np.ndarray, ks: Sequence[int] = SELECT_KS) -> Hyper:
    """The :data:`HYPER_GRID` entry with the lowest leave-one-configuration-out error over ``groups``
    (with :data:`UNTESTED_SETTING_SHARE` where no two of them share a runtime setting: every
    share then gives the same folds)."""
    if len(groups) < 2:
        return DEFAULT_HYPER
    shared = settings_shared(groups)
    grid = [h for h in HYPER_GRID if shared or h.setting_share == UNTESTED_SETTING_SHARE]
    scored = [(score(loo_rows(groups, h, center, ks)), i) for i, h in enumerate(grid)]
    return grid[min(scored)[1]]


def nested_rows(
    groups: Sequence[ConfigGroup], center: np.ndarray, ks: Sequence[int] = CV_KS, recipe: Recipe = RECIPE
) -> list[CvRow]:
    """Leave-one-configuration-out with the hyperparameters chosen again inside each fold
    (always for :data:`RECIPE`; ``recipe`` only says which points calibrate the held-out one)."""
    rows = []
    for i, held in enumerate(groups):
        others = [g for j, g in enumerate(groups) if j != i]
        rows += holdout_rows(held, others, choose_hyper(others, center), center, ks=ks, recipe=recipe)
    return rows


@dataclass(frozen=True)
class Summary:
    """Cross-validated accuracy at one ``k``, averaged over configurations (each weighs the same)."""

    k: int
    configurations: int
    points: int
    within10: float
    within20: float
    mae_pct: float
    spearman: float
    macs_within10: float
    macs_within20: float
    macs_mae_pct: float
    macs_spearman: float


def summarize(rows: Sequence[CvRow], k: int) -> Summary | None:
    """The :class:`Summary` of ``rows`` at ``k`` (None when none has that ``k``)."""
    by_group: dict[str, list[CvRow]] = {}
    for r in rows:
        if r.k == k:
            by_group.setdefault(r.group, []).append(r)
    if not by_group:
        return None

    def mean_of(metric: Callable[[list[CvRow]], float]) -> float:
        values = [metric(g) for g in by_group.values()]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    def err(g: list[CvRow], macs: bool) -> np.ndarray:
        return np.abs([r.macs_error_pct if macs else r.error_pct for r in g])

    def rho(g: list[CvRow], macs: bool) -> float:
        if len(g) < 3:  # a rank correlation of two points says nothing
            return float("nan")
        return spearman([r.latency_ms for r in g], [r.macs_line_ms if macs else r.predicted_ms for r in g])

    return Summary(
        k, len(by_group), sum(len(g) for g in by_group.values()),
        mean_of(lambda g: np.mean(err(g, False) <= 10)), mean_of(lambda g: np.mean(err(g, False) <= 20)),
        mean_of(lambda g: np.mean(err(g, False))), mean_of(lambda g: rho(g, False)),
        mean_of(lambda g: np.mean(err(g, True) <= 10)), mean_of(lambda g: np.mean(err(g, True) <= 20)),
        mean_of(lambda g: np.mean(err(g, True))), mean_of(lambda g: rho(g, True)),
    )  # fmt: skip


@dataclass(frozen=True)
class FamilyCheck:
    """A family's chosen hyperparameters and the cross-validated mean error at each ``k``."""

    family: str
    hyper: Hyper
    mae_pct: dict[int, float]
    configurations: int

    def expected_error(self, points: int) -> tuple[float, str]:
        """``(percent, basis)`` for a device calibrated on ``points`` points."""
        plural = "s" if points != 1 else ""
        done = [k for k in sorted(self.mae_pct) if k <= points]
        if not done:
            return 0.0, "not cross-validated: the family has no configuration to check against"
        k = done[-1]
        where = f"over {self.configurations} {self.family} configurations"
        if k == points:
            return self.mae_pct[k], f"cross-validated, {points} point{plural}, {where}"
        return self.mae_pct[k], f"cross-validated at {k} points {where}; {points} point{plural} fitted"
