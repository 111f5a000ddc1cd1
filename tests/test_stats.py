from __future__ import annotations

import math

import numpy as np
import pytest

from hwsearch.stats import linear_fit, log_macs_fit, partial_spearman, spearman


def test_spearman_closed_forms():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swapped adjacent pair among 4: 1 - 6*2/(4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties take the average rank
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    with pytest.raises(ValueError):
        spearman([1], [1])


def test_partial_spearman_removes_what_the_control_explains():
    rng = np.random.default_rng(0)
    control = rng.normal(size=2000)
    # both follow the control, with independent noise: strongly correlated, but not beyond the control
    a, b = control + 0.3 * rng.normal(size=2000), control + 0.3 * rng.normal(size=2000)
    assert spearman(a, b) > 0.8
    assert abs(partial_spearman(a, b, control)) < 0.1
    # a shared signal the control does not carry survives
    shared = rng.normal(size=2000)
    assert partial_spearman(control + shared, control + shared + 0.1 * rng.normal(size=2000), control) > 0.9
    assert partial_spearman([2, 1, 4, 3, 6, 5], [2, 1, 4, 3, 6, 5], [1, 2, 3, 4, 5, 6]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        partial_spearman([1, 2], [1, 2], [1, 2])


def test_linear_fit_recovers_a_line():
    fit = linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((2.0, 1.0, 1.0))
    assert fit(10) == pytest.approx(21.0)
    noisy = linear_fit([0, 1, 2, 3], [0, 1, 0, 1])
    assert noisy.r2 == pytest.approx(0.2)


def test_log_macs_fit_slope_is_per_decade():
    fit = log_macs_fit([1e6, 1e7, 1e8], [50.0, 60.0, 70.0])
    assert fit.slope == pytest.approx(10.0) and fit.r2 == pytest.approx(1.0)
