from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from hwsearch.arch import Arch, Stage, Stem, mobilenet_v1
from hwsearch.devices import RuntimeSpec, load_device, parse_device
from hwsearch.errors import DeviceError, MeasurementError
from hwsearch.latency import Point, device_loo, read_points_csv, target_config, write_measured_points, zero_shot
from hwsearch.latency._predictor import (
    PARAMS,
    SPEED_MASK,
    family_profiles,
    features,
    fit_device,
    fit_family,
    fit_predictor,
    hardware_scale,
    samples_of,
)
from hwsearch.measurement import Measurement

SYNTH = """\
name: synth
kind: remote
family: arm-cpu
hardware: {cores: 4, peak_gmacs_fp32: 20.0, memory_bandwidth_gbs: 10.0}
runtime: {name: tflite, precision: fp32, threads: 4}
"""
TRUE = np.array([6.0, 10.0, 3.0, 2.0, 1.5, 0.01, 0.3])  # a_stem, a_dw, a_pw, a_fc, a_mem, o_layer_ms, c_net_ms
PAPER_GRID = [mobilenet_v1(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)]


def _design() -> list[Arch]:
    """Networks that pull the parameters apart: widths, sizes, heads, block kinds and depths."""
    archs = []
    for alpha, res, classes, kind, depth in itertools.product((0.25, 1.0, 2.0), (32, 224), (10, 20000),
                                                              ("ds", "conv"), (1, 4)):  # fmt: skip
        stages = (Stage(64, depth, 1, kind), Stage(128, 1, 2, "ds"), Stage(256, depth, 2, "ds"))
        archs.append(Arch(alpha, res, stages, Stem(32, 2), 3, classes))
    return archs


def _synthetic_points(profile, weights, archs):
    config = profile.runtime_config
    scale = hardware_scale(profile, config)
    return [Point(profile.name, a, float(features(a, scale) @ weights), config, "synthetic", "measured") for a in archs]


def test_fitting_synthetic_points_recovers_the_generating_parameters():
    profile = parse_device(SYNTH)
    fam = fit_family("arm-cpu", samples_of(profile, _synthetic_points(profile, TRUE, _design())))
    (log_speed,) = fam.group_log_scales.values()
    recovered = np.exp(fam.theta + log_speed * SPEED_MASK)
    error = dict(zip(PARAMS, np.abs(recovered / TRUE - 1), strict=True))
    # a_fc is the weakest: an FC layer's MACs and bytes grow together, only its share of time separates them.
    assert all(e < 0.05 for name, e in error.items() if name != "a_fc"), error
    assert error["a_fc"] < 0.25, error


def test_one_point_calibrates_the_speed_of_a_known_shape():
    profile = parse_device(SYNTH)
    shape = fit_family("arm-cpu", samples_of(profile, _synthetic_points(profile, TRUE, _design())))
    slower = TRUE * np.where(SPEED_MASK > 0, 1.7, 1.0)  # the same kind of device, 1.7x slower at compute
    (one,) = _synthetic_points(profile, slower, [mobilenet_v1(1.0, 224)])
    model = fit_device(profile, [one], profile.runtime_config, shape)
    assert model.predict_ms(one.arch) == pytest.approx(one.latency_ms, rel=0.01)
    for arch in PAPER_GRID:
        truth = float(features(arch, model.scale) @ slower)
        assert model.predict_ms(arch) == pytest.approx(truth, rel=0.05), arch


def test_family_prior_gives_a_sensible_curve_from_one_published_point():
    nano = load_device("jetson-nano")  # one point: 1.0-224 at 16.09 ms
    model = fit_predictor(nano)
    assert len(model.points) == 1
    assert model.predict_ms(mobilenet_v1(1.0, 224)) == pytest.approx(16.09, rel=0.05)
    smallest = model.predict_ms(mobilenet_v1(0.25, 128))
    assert 16.09 / 40 < smallest < 16.09 / 2  # 14x fewer MACs, but launches and copies stay


@pytest.mark.parametrize(
    "name", ["pixel-3", "pixel-2", "raspberry-pi-4", "jetson-nano-cpu", "jetson-nano", "jetson-tx2"]
)
def test_predictions_grow_with_width_and_resolution(name):
    model = fit_predictor(load_device(name))
    for alpha in (0.25, 0.5, 0.75, 1.0):
        times = [model.predict_ms(mobilenet_v1(alpha, r)) for r in (128, 160, 192, 224)]
        assert times == sorted(times) and len(set(times)) == 4, (alpha, times)
    for res in (128, 224):
        times = [model.predict_ms(mobilenet_v1(a, res)) for a in (0.25, 0.5, 0.75, 1.0)]
        assert times == sorted(times), (res, times)


def test_a_prediction_is_labelled_predicted_and_carries_its_residuals():
    model = fit_predictor(load_device("pixel-3"))
    m = model.predict(mobilenet_v1(0.5, 160))
    assert m.source == "predicted" and not m.is_measured
    assert (m.runs, m.runtime, m.threads, m.device) == (0, "tflite", 4, "pixel-3")
    assert m.fit_points == 4
    assert m.fit_rms_pct == pytest.approx(model.fit_rms_pct) and m.fit_max_pct >= m.fit_rms_pct > 0
    assert "4 published points" in m.basis
    assert Measurement.from_json(m.to_json()) == m
    assert all(abs(r) < 10 for r in model.residuals_pct)


def test_predictions_are_fast():
    model = fit_predictor(load_device("pixel-3"))
    archs = [mobilenet_v1(a, r) for a in np.linspace(0.25, 1.0, 25) for r in range(128, 228, 4)]
    started = time.perf_counter()
    for arch in archs:
        model.predict(arch)
    assert len(archs) / (time.perf_counter() - started) > 1000


def test_a_device_without_points_in_its_configuration_says_how_to_calibrate():
    with pytest.raises(MeasurementError, match="hwsearch calibrate --device local-cpu"):
        fit_predictor(load_device("local-cpu"))


def test_leave_one_out_holds_each_point_out():
    profiles = family_profiles()
    pixel3 = load_device("pixel-3")
    rows = [r for r in device_loo(pixel3, profiles) if r.view == "device"]
    assert len(rows) == 4
    assert all(abs(r.error_pct) < 25 for r in rows)
    assert [r.view for r in zero_shot(pixel3, profiles)] == ["zero-shot"] * 4


def test_user_points_switch_the_predicted_configuration(tmp_path):
    path = tmp_path / "pixel-3.yaml"
    path.write_text(load_device("pixel-3").model_dump_json(), encoding="utf-8")  # JSON is YAML
    profile = load_device(path)
    assert target_config(profile).name == "tflite"
    points_csv = tmp_path / "mine.csv"
    points_csv.write_text("arch,latency_ms\n" + "\n".join(
        f"{mobilenet_v1(a, r)},{t}" for a, r, t in [(1.0, 224, 40.0), (0.5, 160, 9.0), (0.25, 128, 2.5)]
    ) + "\n", encoding="utf-8")  # fmt: skip
    onnx4 = RuntimeSpec(name="onnxruntime", precision="fp32", threads=4)
    write_measured_points(profile, read_points_csv(points_csv, profile, default=profile.measurement_config))
    assert target_config(profile) == onnx4
    model = fit_predictor(profile)
    assert model.config == onnx4 and len(model.points) == 3
    assert model.predict_ms(mobilenet_v1(1.0, 224)) == pytest.approx(40.0, rel=0.1)


def test_bad_points_files_name_the_row_and_column(tmp_path):
    profile = load_device("pixel-3")
    path = tmp_path / "bad.csv"
    for body, key in [
        ("arch,latency_ms\nmbv1_nonsense,3\n", "row 2.arch"),
        ("alpha,resolution,latency_ms\n0.5,160,-1\n", "row 2.latency_ms"),
        ("alpha,resolution,latency_ms,threads\n0.5,160,3,two\n", "row 2.threads"),
        ("latency_ms\n3\n", "<header>"),
    ]:
        path.write_text(body, encoding="utf-8")
        with pytest.raises(DeviceError) as caught:
            read_points_csv(path, profile, default=profile.measurement_config)
        assert str(caught.value).startswith(f"{path}: {key}: "), str(caught.value)
