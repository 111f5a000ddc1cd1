"""The few-shot predictor on synthetic families whose parameters are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwsearch.arch import Arch, Stage, Stem, mobilenet_v1
from hwsearch.latency import family_pool, family_profiles
from hwsearch.latency._checks import compute_check, digest, family_check, shipped_checks
from hwsearch.latency._corpus import ConfigGroup, runtime_setting
from hwsearch.latency._crossval import CV_KS, choose_hyper, holdout_rows, loo_rows, structural_center, summarize
from hwsearch.latency._features import TERMS, relative_matrix
from hwsearch.latency._fitting import Hyper, configuration_prior, fit_hierarchy, fit_terms, log_model, predict, spread

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


def _family(n_configs: int, spread_sd: float, seed: int, noise: float = 0.0,
            true_ms: np.ndarray = TRUE_MS, setting: str | None = None) -> list[ConfigGroup]:  # fmt: skip
    """Configurations drawn around ``true_ms`` (log sd ``spread_sd``), each at its own level, timed on the grid."""
    rng = np.random.default_rng(seed)
    archs = GRID + _deeper()
    rel = relative_matrix(archs)
    groups = []
    for g in range(n_configs):
        z = np.log(true_ms) + rng.normal(0.0, spread_sd, len(TERMS)) + rng.normal(0.0, 1.0)
        ms = predict(z, rel) * np.exp(rng.normal(0.0, noise, len(archs)))
        sources = ("synthetic",) * len(archs)
        name = f"synthetic-{setting}-{g}"
        groups.append(ConfigGroup(name, "arm-cpu", tuple(archs), tuple(ms.tolist()), sources, setting))
    return groups


def _shares(z: np.ndarray) -> np.ndarray:
    t = np.exp(z)
    return t / t.sum()


def test_a_synthetic_family_with_known_parameters_is_recovered():
    groups = _family(8, spread_sd=0.05, seed=1)
    hyper = Hyper(0.05, 1.0, 0.01, 0.0)
    mean, _ = fit_hierarchy([(relative_matrix(g.archs), np.array(g.latency_ms)) for g in groups], hyper,
                            structural_center("arm-cpu"))  # fmt: skip
    recovered, truth = _shares(mean), _shares(np.log(TRUE_MS))
    # Every term's share of the reference network's time, within a tenth of its own size.
    assert np.allclose(recovered, truth, rtol=0.1), dict(zip(TERMS, np.round(recovered / truth, 3), strict=True))


def test_a_per_layer_floor_that_binds_on_small_networks_is_recovered():
    # 0.2 ms per layer: more than the smallest layers' work, as on a multi-threaded CPU runtime.
    floor_ms = TRUE_MS * np.array([1.0, 1.0, 1.0, 10.0, 1.0])
    groups = _family(8, spread_sd=0.05, seed=5, true_ms=floor_ms)
    rel = relative_matrix([mobilenet_v1(0.25, 128)])
    work_only = predict(np.log(floor_ms * np.array([1.0, 1.0, 1.0, 1e-6, 1.0])), rel)
    assert predict(np.log(floor_ms), rel) > 1.3 * work_only  # the floor binds on the smallest network
    data = [(relative_matrix(g.archs), np.array(g.latency_ms)) for g in groups]
    mean, _ = fit_hierarchy(data, Hyper(0.05, 1.0, 0.01, 0.0), structural_center("arm-cpu"))
    assert np.allclose(_shares(mean), _shares(np.log(floor_ms)), rtol=0.1)


def test_the_model_gradient_matches_finite_differences():
    rel = relative_matrix(GRID[:4] + _deeper()[:4])
    z = np.log(TRUE_MS * np.array([1.0, 1.0, 1.0, 10.0, 1.0]))
    _, grad = log_model(z, rel)
    step = 1e-6
    numeric = np.stack([(log_model(z + step * e, rel)[0] - log_model(z - step * e, rel)[0]) / (2 * step)
                        for e in np.eye(len(TERMS))], axis=1)  # fmt: skip
    assert np.allclose(grad, numeric, atol=1e-6)


def test_layers_of_padding_cost_nothing():
    shallow, deep = mobilenet_v1(0.5, 160), _deeper()[-1]
    z = np.log(TRUE_MS * np.array([1.0, 1.0, 1.0, 10.0, 1.0]))
    together = predict(z, relative_matrix([shallow, deep]))  # the shallow one padded to the deep one's layers
    alone = [predict(z, relative_matrix([a]))[0] for a in (shallow, deep)]
    assert np.allclose(together, alone, rtol=1e-12)


def test_one_point_calibrates_the_level_of_a_known_shape():
    groups = _family(8, spread_sd=0.05, seed=2)
    hyper = Hyper(0.05, 1.0, 0.01, 0.0)
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
    summary = summarize(loo_rows(groups, Hyper(1.0, 3.0, 0.03, 0.0), center, ks=(k,)), k)
    assert summary.mae_pct < summary.macs_mae_pct


@pytest.mark.parametrize(
    ("runtime", "precision", "threads", "setting"),
    [("ArmNN 19.08 Neon (TFLite model)", "fp32", "4 (all cores)", "armnn fp32"),
     ("TFLite 1.15 (no XNNPACK)", "uint8", "4 (all cores)", "tflite int8"),
     ("TFLite + XNNPACK", "fp32", 4, "xnnpack fp32"), ("tflite-1.15", "fp32", None, "tflite fp32"),
     ("ncnn benchncnn (2023)", "fp32", "1", "ncnn fp32, 1 thread"), ("tf-trt-1.8", "fp16", None, "tf-trt fp16"),
     ("Paddle Inference v2.3 + TensorRT 8.0.3", "fp16", "GPU", "tensorrt fp16"),
     ("my-own-runtime", "fp32", 4, None), ("TFLite GPU delegate", "fp32/fp16", "GPU", None)],
)  # fmt: skip
def test_a_runtime_setting_is_read_from_the_configuration_words(runtime, precision, threads, setting):
    assert runtime_setting(runtime, precision, threads) == setting


def _two_settings(seed: int) -> tuple[list[ConfigGroup], ConfigGroup]:
    """Two runtime settings whose shapes differ (one streams its weights, one has a floor), and
    a held-out configuration of the first; the first setting has a single other configuration."""
    streams = TRUE_MS * np.array([1.0, 0.6, 8.0, 1.0, 1.0])
    floors = TRUE_MS * np.array([1.0, 1.4, 0.1, 12.0, 1.0])
    first = _family(2, spread_sd=0.05, seed=seed, noise=0.01, true_ms=streams, setting="a fp32")
    others = _family(3, spread_sd=0.05, seed=seed + 1, noise=0.01, true_ms=floors, setting="b fp32")
    return [first[0], *others], first[1]


def test_a_configuration_in_a_shared_setting_borrows_that_settings_shape():
    others, held = _two_settings(seed=6)
    center = structural_center("arm-cpu")

    def error(share: float) -> float:
        return summarize(holdout_rows(held, others, Hyper(1.0, 3.0, 0.01, share), center, ks=(2,)), 2).mae_pct

    assert error(0.9) < 0.5 * error(0.0)


def test_settings_change_nothing_when_ignored_or_unknown():
    others, _ = _two_settings(seed=7)
    data = [(relative_matrix(g.archs), np.array(g.latency_ms)) for g in others]
    center = structural_center("arm-cpu")
    ignored = configuration_prior(data, Hyper(1.0, 3.0, 0.01, 0.0), center, [g.setting for g in others], "a fp32")
    unknown = configuration_prior(data, Hyper(1.0, 3.0, 0.01, 0.9), center, [None] * len(data), None)
    assert np.allclose(ignored[0], unknown[0]) and np.allclose(ignored[1], unknown[1])


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
