"""Small statistics used to judge proxies and fronts: rank correlation and log-linear fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks (ties share a rank)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"spearman needs two equal-length sequences of at least 2, got {len(a)} and {len(b)}")
    return float(pd.Series(a, dtype=float).rank().corr(pd.Series(b, dtype=float).rank()))


def partial_spearman(a: Sequence[float], b: Sequence[float], control: Sequence[float]) -> float:
    """Spearman correlation of ``a`` and ``b`` once the ranks of ``control`` are regressed out of both.

    What a score knows about a target beyond ``control``: for a proxy, beyond MACs, which a
    search's latency objective already follows.
    """
    if not len(a) == len(b) == len(control) or len(a) < 3:
        raise ValueError(f"partial_spearman needs three equal-length sequences of at least 3, got "
                         f"{len(a)}, {len(b)} and {len(control)}")  # fmt: skip
    ranks = [pd.Series(v, dtype=float).rank().to_numpy() for v in (a, b, control)]
    design = np.column_stack([ranks[2], np.ones(len(a))])
    residuals = [y - design @ np.linalg.lstsq(design, y, rcond=None)[0] for y in ranks[:2]]
    return float(np.corrcoef(*residuals)[0, 1])


@dataclass(frozen=True)
class LinearFit:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination."""

    slope: float
    intercept: float
    r2: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.slope * np.asarray(x) + self.intercept


def linear_fit(x: Sequence[float], y: Sequence[float]) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x``."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.size < 2 or np.ptp(xs) == 0:
        raise ValueError("linear_fit needs at least two points with distinct x")
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = ys - (slope * xs + intercept)
    total = ((ys - ys.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / total if total > 0 else 1.0
    return LinearFit(float(slope), float(intercept), float(r2))


def log_macs_fit(macs: Sequence[float], accuracy: Sequence[float]) -> LinearFit:
    """Accuracy against log10(MACs): the slope is in accuracy units per decade of MACs."""
    return linear_fit(np.log10(np.asarray(macs, dtype=float)), accuracy)
