from __future__ import annotations

import pytest

from hwsearch.arch import mobilenet_v1
from hwsearch.devices import RuntimeSpec, load_device
from hwsearch.errors import DeviceError, MeasurementError
from hwsearch.latency import device_loo, published_points, read_points_csv, target_config, write_measured_points
from hwsearch.latency._predictor import family_profiles, fit_family, fit_predictor
from hwsearch.measurement import Measurement

PAPER_GRID = [mobilenet_v1(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)]


def test_family_prior_gives_a_sensible_curve_from_one_published_point():
    nano = load_device("jetson-nano")  # one point: 1.0-224 at 16.09 ms
    model = fit_predictor(nano)
    assert len(model.points) == 1
    assert model.predict_ms(mobilenet_v1(1.0, 224)) == pytest.approx(16.09, rel=0.05)
    smallest = model.predict_ms(mobilenet_v1(0.25, 128))
    assert 16.09 / 40 < smallest < 16.09 / 2  # 14x fewer MACs, but launches and copies stay


@pytest.mark.parametrize(
    "name",
    ["pixel-3", "pixel-2", "raspberry-pi-4", "raspberry-pi-4:armnn", "raspberry-pi-4:tflite-fp32",
     "raspberry-pi-4:tflite-uint8", "jetson-nano-cpu", "jetson-nano", "jetson-tx2", "jetson-tx2:tensorflow"],
)  # fmt: skip
def test_predictions_grow_with_width_and_resolution(name):
    model = fit_predictor(load_device(name))
    for alpha in (0.25, 0.5, 0.75, 1.0):
        times = [model.predict_ms(mobilenet_v1(alpha, r)) for r in (128, 160, 192, 224)]
        assert times == sorted(times) and len(set(times)) == 4, (alpha, times)
    for res in (128, 224):
        times = [model.predict_ms(mobilenet_v1(a, res)) for a in (0.25, 0.5, 0.75, 1.0)]
        assert times == sorted(times), (res, times)


def test_a_prediction_is_labelled_predicted_and_carries_its_expected_error():
    model = fit_predictor(load_device("pixel-3"))
    m = model.predict(mobilenet_v1(0.5, 160))
    assert m.source == "predicted" and not m.is_measured
    assert (m.runs, m.runtime, m.threads, m.device) == (0, "tflite", 4, "pixel-3")
    assert m.fit_points == 4
    assert m.fit_residual_rms_pct == pytest.approx(model.fit_residual_rms_pct)
    assert m.fit_residual_max_pct >= m.fit_residual_rms_pct > 0
    assert "4 published points" in m.basis
    assert m.expected_error_pct == model.expected_error_pct > 0
    assert m.error_basis.startswith("cross-validated, 4 points")
    assert m.uncertainty == f"±{m.expected_error_pct:.0f}% ({m.error_basis})"
    assert Measurement.from_json(m.to_json()) == m
    assert all(abs(r) < 10 for r in model.residuals_pct)


def test_one_point_is_cross_validated_at_one_point_and_is_no_residual():
    model = fit_predictor(load_device("jetson-nano"))
    m = model.predict(mobilenet_v1(1.0, 224))
    assert m.fit_residual_max_pct < 0.1  # a single point fits exactly...
    assert m.expected_error_pct > 5 and "cross-validated, 1 point" in m.error_basis  # ...but predicts others less well


def test_each_configuration_is_fitted_without_itself_in_its_prior():
    uint8 = load_device("raspberry-pi-4:tflite-uint8")
    model = fit_predictor(uint8)
    assert len(model.points) == 16 and {p.config.precision for p in model.points} == {"int8"}
    assert not any("uint8" in g for g in model.prior.groups)
    assert any("ArmNN" in g for g in model.prior.groups)  # the board's other runtimes do shape it
    assert model.fit_residual_rms_pct < 5  # three terms explain this grid
    default = fit_predictor(load_device("raspberry-pi-4"))
    assert default.config.name == "ncnn" and len(default.points) == 1


def test_a_prior_is_drawn_toward_other_boards_in_the_same_runtime_setting():
    pixel3 = fit_predictor(load_device("pixel-3")).prior  # TFLite fp32 on 4 threads
    assert pixel3.setting == "tflite fp32"
    assert pixel3.mates == ("raspberry-pi-4 / TFLite 1.15 (no XNNPACK) fp32, 4 (all cores) threads",)
    assert "drawn toward 1 configuration in its runtime setting (tflite fp32)" in pixel3.describe()
    pixel2 = fit_predictor(load_device("pixel-2")).prior  # one thread: a regime of its own
    assert (pixel2.setting, pixel2.mates) == ("tflite fp32, 1 thread", ())
    assert fit_predictor(load_device("raspberry-pi-4:armnn")).prior.mates == ()


def test_the_nvidia_prior_draws_on_every_published_nvidia_point():
    prior = fit_family("nvidia-gpu", family_profiles())
    assert len(prior.groups) == 3  # the TX2's TensorRT, TF-TRT and TensorFlow configurations shape it
    assert prior.level_only >= 6  # Xavier, desktop GPUs, Nano: one network each, so they fix only their level
    assert "single-network configurations fix only their own level" in prior.describe()


def test_a_device_without_points_in_its_configuration_says_how_to_calibrate():
    with pytest.raises(MeasurementError, match="hwsearch calibrate --device local-cpu"):
        fit_predictor(load_device("local-cpu"))


def test_leave_one_out_holds_each_point_out():
    profiles = family_profiles()
    pixel3 = load_device("pixel-3")
    rows = [r for r in device_loo(pixel3, profiles) if r.view == "device"]
    assert len(rows) == 4
    assert all(abs(r.error_pct) < 25 for r in rows)
    assert sorted(r.point.arch.to_str() for r in rows) == sorted(p.arch.to_str() for p in published_points(pixel3))


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
