from __future__ import annotations

import re
from pathlib import Path

import pytest
from _latency_support import FAST_PROFILE, TINY_SPACE, one_error_line

from hwsearch.arch import mobilenet_v1
from hwsearch.cli import main
from hwsearch.devices import load_device
from hwsearch.report.latency_plots import validation_figure


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    monkeypatch.delenv("HWSEARCH_AGENT_TOKEN", raising=False)


@pytest.fixture
def space(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE, encoding="utf-8")
    return str(path)


@pytest.fixture
def calibrated(tmp_path) -> str:
    """A fast local profile with two (made-up) calibration points, so it has a predictor."""
    path = tmp_path / "fast-cpu.yaml"
    points = "".join(
        f"  - {{arch: {mobilenet_v1(a, r, num_classes=10)}, latency_ms: {t}, source: made up for a test}}\n"
        for a, r, t in [(0.25, 32, 0.05), (0.5, 48, 0.12)]
    )
    path.write_text(FAST_PROFILE.format(name="fast-cpu", kind="local", provider="cpu") + "calibration:\n" + points,
                    encoding="utf-8")  # fmt: skip
    return str(path)


def test_devices_lists_profiles_with_sources_points_and_expected_errors(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in ("local-cpu", "raspberry-pi-4", "pixel-3", "pixel-2", "jetson-nano", "jetson-nano-cpu", "jetson-tx2"):
        assert name in out
    assert "measured (this machine)" in out and "predicted" in out
    assert "tflite fp32, 4 threads" in out
    assert "4 (4 + 0)" in out  # pixel-3: 4 points in its configuration, all published
    # One row per configuration, each with its cross-validated error at its number of points.
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith(("raspberry", "jetson"))}
    for config in ("ncnn", "armnn", "tflite-fp32", "tflite-uint8"):
        assert f"raspberry-pi-4:{config}" in rows
    assert re.search(r"predicted ±\d+% \(1 point\)", rows["raspberry-pi-4:ncnn"])
    assert re.search(r"predicted ±\d+% \(16 points\)", rows["raspberry-pi-4:tflite-uint8"])
    assert re.search(r"predicted ±\d+% \(1 point\)", rows["jetson-nano:ncnn-vulkan"])
    assert "cross-validated" in out


def test_calibrate_shows_the_fit_of_a_shipped_profile(capsys):
    assert main(["calibrate", "--device", "pixel-3"]) == 0
    out = capsys.readouterr().out
    assert "predicts tflite fp32, 4 threads" in out
    assert "0.25-128" in out and "residual" in out
    assert "leave-one-out over its own 4 points" in out
    assert re.search(r"expected error of a prediction: ±\d+% \(cross-validated, 4 points", out)


def test_calibrate_with_my_points_refits_the_profile(capsys, calibrated, tmp_path):
    points = tmp_path / "mine.csv"
    points.write_text("alpha,resolution,latency_ms,source\n1.0,224,9.5,bench\n0.5,160,2.1,bench\n", encoding="utf-8")
    assert main(["calibrate", "--device", calibrated, "--points", str(points)]) == 0
    out = capsys.readouterr().out
    assert "2 points from" in out
    assert (tmp_path / "fast-cpu.points.csv").is_file()
    assert "predicts onnxruntime fp32, 1 thread" in out
    # No x86 grid is published: the error is cross-validated on the ARM CPU configurations it borrows.
    assert re.search(r"expected error of a prediction: ±\d+% \(cross-validated, 4 points, over \d+ x86-cpu", out)
    assert "in-sample residuals" in out


def _new_board(tmp_path: Path) -> Path:
    """A renamed copy of raspberry-pi-4, for another board."""
    board = tmp_path / "my-board.yaml"
    board.write_text(load_device("raspberry-pi-4").model_dump_json().replace('"raspberry-pi-4"', '"my-board"'),
                     encoding="utf-8")  # fmt: skip
    return board


def test_calibrate_a_new_board_from_two_recipe_points(capsys, tmp_path):
    # Two of the new board's own points, as the README's recipe says.
    board = _new_board(tmp_path)
    points = tmp_path / "two.csv"
    points.write_text("alpha,resolution,latency_ms\n1.0,224,200\n0.25,224,30\n", encoding="utf-8")
    assert main(["calibrate", "--device", str(board), "--points", str(points)]) == 0
    out = capsys.readouterr().out
    assert "my-board: predicts onnxruntime fp32, 4 threads" in out
    assert re.search(r"expected error of a prediction: ±\d+% \(cross-validated, 2 points, over 5 arm-cpu", out)
    assert "measure next: 1-128" in out
    assert "not the recipe's first" not in out


def test_calibrate_says_when_its_points_are_off_the_recipe(capsys, tmp_path):
    board = _new_board(tmp_path)
    points = tmp_path / "two.csv"
    points.write_text("alpha,resolution,latency_ms\n1.0,224,200\n1.0,192,150\n", encoding="utf-8")
    assert main(["calibrate", "--device", str(board), "--points", str(points)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "note: these 2 networks are not the recipe's first 2 (1-224, 0.25-224)" in out
    assert "measure next: 0.25-224" in out


def test_calibrate_shows_a_chosen_configuration(capsys):
    assert main(["calibrate", "--device", "raspberry-pi-4:tflite-uint8"]) == 0
    out = capsys.readouterr().out
    assert "raspberry-pi-4:tflite-uint8: predicts tflite-1.15 int8, 4 threads" in out
    assert "leave-one-out over its own 16 points" in out
    assert "cross-validated at 8 points over 5 arm-cpu configurations; 16 points fitted" in out


def test_calibrate_with_a_bad_points_file_is_one_line(capsys, calibrated, tmp_path):
    points = tmp_path / "bad.csv"
    points.write_text("alpha,resolution,latency_ms\n0.5,160,fast\n", encoding="utf-8")
    assert main(["calibrate", "--device", calibrated, "--points", str(points)]) == 2
    assert "row 2.latency_ms: 'fast' is not allowed" in one_error_line(capsys)
    assert main(["calibrate", "--device", calibrated, "--points", str(tmp_path / "none.csv")]) == 2
    assert "readable UTF-8 CSV" in one_error_line(capsys)


def test_validate_predicts_measures_and_plots(capsys, calibrated, space, tmp_path):
    out_dir = tmp_path / "val"
    args = ["validate", "--device", calibrated, "--space", space, "--n", "3", "--out", str(out_dir), "--feed-back"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "validating predicted latency of fast-cpu on 3 architectures" in out
    assert "within ±10%:" in out and "mean absolute percentage error" in out and "Spearman" in out
    assert (out_dir / "validation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out_dir / "validation.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("arch,macs,predicted_ms,measured_ms,error_pct") and len(rows) == 4
    assert "3 measurements added to" in out
    assert len((tmp_path / "fast-cpu.points.csv").read_text(encoding="utf-8").splitlines()) == 2 + 3


def test_validation_figure_draws_points_band_and_identity():
    fig = validation_figure([1.0, 2.0, 4.0], [1.05, 2.5, 3.9], title="t")
    ax = fig.axes[0]
    inside, outside = ax.collections[-2:]
    assert len(inside.get_offsets()) == 2 and len(outside.get_offsets()) == 1
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["predicted = measured"]


def test_latency_of_a_board_without_agent_is_a_labelled_prediction(capsys):
    assert main(["latency", "--alpha", "0.5", "--resolution", "160", "--device", "pixel-3"]) == 0
    out = capsys.readouterr().out
    assert "NOT measured" in out and "source: predicted" in out
    assert "tflite, fp32, 4 threads" in out
    assert "residuals rms" in out
    assert re.search(r"latency: [\d.]+ ms ±\d+% \(cross-validated, 4 points, over \d+ arm-cpu configurations\)", out)


def test_latency_of_a_chosen_configuration_names_it_and_its_error(capsys):
    assert main(["latency", "--alpha", "0.5", "--resolution", "160", "--device", "jetson-nano:tf-trt"]) == 0
    out = capsys.readouterr().out
    assert "device: jetson-nano:tf-trt" in out and "tf-trt, fp16" in out
    assert re.search(r"±\d+% \(cross-validated, 1 point, over 3 nvidia-gpu configurations\)", out)
    assert main(["latency", "--alpha", "0.5", "--device", "jetson-nano:tensorrt"]) == 2
    assert "'tensorrt' is not allowed (a configuration of jetson-nano: ncnn-vulkan, tf-trt)" in one_error_line(capsys)


def test_profile_dry_run_and_a_short_build(capsys, calibrated, space, tmp_path):
    assert main(["profile", "--device", calibrated, "--space", space, "--dry-run"]) == 0
    assert "50 distinct blocks + 16 lead-ins" in capsys.readouterr().out
    assert main(["profile", "--device", calibrated, "--space", space, "--limit", "5"]) == 0
    assert "5 entries measured" in capsys.readouterr().out
    assert (tmp_path / "fast-cpu.lut.csv").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "--device", "pixel-3", "--n", "2"], "--agent URL"),
        (["validate", "--device", "local-cpu", "--n", "0"], "--n = 0 is invalid"),
        (["validate", "--device", "local-cpu", "--n", "2"], "hwsearch profile --device local-cpu"),
        (["profile", "--device", "pixel-3"], "--agent URL"),
        (["profile", "--device", "local-cpu", "--min-time-s", "-1"], "--min-time-s = -1.0 is invalid"),
        (["calibrate", "--device", "no-such-board"], "'no-such-board'"),
        (["calibrate", "--device", "local-cpu"], "hwsearch calibrate --device local-cpu --points"),
        (["latency", "--alpha", "0.5", "--device", "local-cpu", "--source", "lut"], "has no lookup table"),
    ],
)
def test_bad_requests_are_one_line_and_exit_2(capsys, args, expected, tmp_path, monkeypatch):
    # A copy of local-cpu found first in ./device_profiles, without the table or points this
    # machine may have built beside the project's profile.
    import shutil

    import hwsearch

    (tmp_path / "device_profiles").mkdir()
    shipped = Path(hwsearch.__file__).resolve().parents[1] / "device_profiles" / "local-cpu.yaml"
    shutil.copy(shipped, tmp_path / "device_profiles")
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert expected in one_error_line(capsys)
