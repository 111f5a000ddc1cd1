"""The few-shot predictor on synthetic families whose parameters are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwsearch.arch import Arch, Stage, Stem, mobilenet_v1
from hwsearch.latency import family_pool, family_profiles
from hwsearch.latency._checks import compute_check, digest, family_check, shipped_checks
from hwsearch.latency._corpus import ConfigGroup
from hwsearch.latency._crossval import CV_KS, choose_hyper, loo_rows, structural_center, summarize
from hwsearch.latency._features import TERMS, relative_matrix
from hwsearch.latency._fitting import Hyper, fit_hierarchy, fit_terms, predict, spread

GRID = [mobilenet_v1(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)]
# The family's true shape: ms of each term on 1.0-224 (MACs, activations, weights, layers, network).
TRUE_MS = np.array([40.0, 18.0, 3.0, 0.6, 1.5])


def _deeper() -> list[Arch]:
    """Networks of other depths and heads, so that layers and network costs come apart."""
    out = []
    for alpha, res, depth, classes in itertools.product((0.5, 1.0), (128, 224), (1, 4), (10, 1000)):
        stages = (Stage(64, 1, 1, "ds"), Stage(128, depth, 2, "ds"), Stage(256, depth, 2, "ds"), Stage(512, 2, 2))
        out.append(Arch(alpha, res, stages, Stem(32, 2), 3, classes))
    return out


def _family(n_configs: int, spread_sd: float, seed: int, noise: float = 0.0) -> list[ConfigGroup]:
    """Configurations drawn around TRUE_MS (log sd ``spread_sd``), each at its own level, timed on the grid."""
    rng = np.random.default_rng(seed)
    archs = GRID + _deeper()
    rel = relative_matrix(archs)
    groups = []
    for g in range(n_configs):
        z = np.log(TRUE_MS) + rng.normal(0.0, spread_sd, len(TERMS)) + rng.normal(0.0, 1.0)
        ms = predict(z, rel) * np.exp(rng.normal(0.0, noise, len(archs)))
        sources = ("synthetic",) * len(archs)
        groups.append(ConfigGroup(f"synthetic-{g}", "arm-cpu", tuple(archs), tuple(ms.tolist()), sources))
    return groups


def _shares(z: np.ndarray) -> np.ndarray:
    t = np.exp(z)
    return t / t.sum()


def test_a_synthetic_family_with_known_parameters_is_recovered():
    groups = _family(8, spread_sd=0.05, seed=1)
    hyper = Hyper(0.05, 1.0, 0.01)
    mean, _ = fit_hierarchy([(relative_matrix(g.archs), np.array(g.latency_ms)) for g in groups], hyper,
                            structural_center("arm-cpu"))  # fmt: skip
    recovered, truth = _shares(mean), _shares(np.log(TRUE_MS))
    # Every term's share of the reference network's time, within a tenth of its own size.
    assert np.allclose(recovered, truth, rtol=0.1), dict(zip(TERMS, np.round(recovered / truth, 3), strict=True))


def test_one_point_calibrates_the_level_of_a_known_shape():
    groups = _family(8, spread_sd=0.05, seed=2)
    hyper = Hyper(0.05, 1.0, 0.01)
    mean, mean_cov = fit_hierarchy([(relative_matrix(g.archs), np.array(g.latency_ms)) for g in groups], hyper,
                                   structural_center("arm-cpu"))  # fmt: skip
    slower = np.log(TRUE_MS * 2.3)  # the family's shape on a board 2.3x slower
    one = relative_matrix([mobilenet_v1(1.0, 224)])
    z = fit_terms(one, predict(slower, one), mean, spread(hyper) + mean_cov, hyper.noise)
    rel = relative_matrix(GRID + _deeper())
    assert np.allclose(predict(z, rel), predict(slower, rel), rtol=0.08)


def test_adding_a_point_never_raises_the_cross_validated_error():
    groups = _family(6, spread_sd=0.5, seed=3, noise=0.02)
    center = structural_center("arm-cpu")
    rows = loo_rows(groups, choose_hyper(groups, center), center)
    errors = [summarize(rows, k).mae_pct for k in CV_KS]
    assert all(later <= earlier for earlier, later in itertools.pairwise(errors)), errors
    assert errors[0] > 2 * errors[-1]  # and the points do help: a shape that varies is learnt


@pytest.mark.parametrize("k", [1, 2, 4])
def test_the_predictor_beats_the_macs_line_on_a_family_unlike_macs(k):
    groups = _family(6, spread_sd=0.5, seed=4, noise=0.02)
    center = structural_center("arm-cpu")
    summary = summarize(loo_rows(groups, Hyper(1.0, 3.0, 0.03), center, ks=(k,)), k)
    assert summary.mae_pct < summary.macs_mae_pct


@pytest.mark.parametrize("family", ["arm-cpu", "nvidia-gpu"])
def test_the_shipped_check_is_current(family):
    # hwsearch/reference/predictor_checks.json must match the data and the method: rerun
    # `python benchmarks/predictor_loo.py --write-checks` when this fails.
    groups = tuple(family_pool(family, family_profiles())[0])
    entry = shipped_checks()[family]
    assert entry["digest"] == digest(family, groups)
    fresh = compute_check(family, groups)
    assert fresh.hyper == family_check(family, groups).hyper
    assert fresh.mae_pct == pytest.approx({int(k): v for k, v in entry["mae_pct"].items()}, abs=0.01)
