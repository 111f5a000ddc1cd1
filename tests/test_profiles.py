from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwsearch.devices import RuntimeSpec, available_devices, load_device, resolve_device
from hwsearch.errors import DeviceError
from hwsearch.latency import direct_points, figure_family, published_points, reference_figures, target_config

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "hwsearch" / "reference"
SHARED = ROOT.parent / "shared" / "reference"
SHIPPED = ("local-cpu", "local-cuda", "raspberry-pi-4", "pixel-3", "pixel-2", "jetson-nano", "jetson-nano-cpu",
           "jetson-tx2")  # fmt: skip
BOARDS = SHIPPED[2:]


def test_every_shipped_profile_loads_with_its_prediction_sections():
    assert set(SHIPPED) <= set(available_devices())
    for name in BOARDS:
        profile = load_device(name)
        assert profile.kind == "remote"
        assert profile.family in ("arm-cpu", "nvidia-gpu")
        assert (profile.runtime is not None) != bool(profile.configurations)  # one runtime, or named ones
        assert profile.hardware.peak_gmacs_fp32 and profile.hardware.memory_bandwidth_gbs
        assert profile.calibration, name
    assert load_device("local-cpu").family == "x86-cpu"
    assert load_device("local-cuda").family == "nvidia-gpu"


def test_every_calibration_point_has_a_resolvable_source():
    for name in BOARDS:
        profile = load_device(name)
        for point in profile.calibration:
            citation = profile.citation(point)
            assert point.source in profile.sources, (name, point)
            # "owner/repo path/to/file.md (details)", as in published_latency.csv (MLPerf: a .txt log)
            assert citation.split()[0].count("/") == 1 and (".md" in citation or ".txt" in citation), citation


def test_measurement_settings_suit_each_board():
    for name in ("raspberry-pi-4", "pixel-3", "pixel-2", "jetson-nano-cpu"):
        profile = load_device(name)
        assert profile.settings.provider == "cpu"
        assert profile.settings.threads == profile.runtime_config.threads  # the published thread count
    for name in ("jetson-nano", "jetson-tx2"):
        settings = load_device(name).settings
        assert (settings.provider, settings.precision) == ("tensorrt", "fp16")


def _rows(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def test_calibration_points_copy_the_published_figures_exactly():
    published = _rows(REFERENCE / "published_latency.csv")
    first_table = {
        (row["device"], round(float(row["alpha"]), 3), int(row["resolution"]), row["runtime"],
         int(row["threads"]) if row["threads"] else None, float(row["latency_ms"]))
        for row in published
    }  # fmt: skip
    # Every row of the first table is a profile point with its device, runtime and threads.
    points = [p for name in BOARDS for p in published_points(load_device(name))]
    shipped = {(p.device, round(p.arch.alpha, 3), p.arch.resolution, p.config.name, p.config.threads, p.latency_ms)
               for p in points}  # fmt: skip
    assert first_table <= shipped
    # Every profile point is a figure of the shipped tables (same network, same number).
    figures = {(f.arch.to_str(), f.latency_ms) for f in reference_figures()}
    assert {(p.arch.to_str(), p.latency_ms) for p in points} <= figures
    assert sum(p.device == "raspberry-pi-4" for p in points) == 3 + 48  # ncnn, XNNPACK, three MLPerf grids


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared reference folder is not checked out")
@pytest.mark.parametrize("name", ["published_latency.csv", "published_latency_more.csv"])
def test_the_shipped_reference_tables_are_verbatim_copies(name):
    assert (REFERENCE / name).read_bytes() == (SHARED / name).read_bytes()


def test_reference_rows_fall_into_the_expected_families():
    families = {}
    for f in reference_figures():
        families.setdefault(figure_family(f.device, f.processor, f.threads), set()).add(f.device)
    assert {"NVIDIA Jetson AGX Xavier", "NVIDIA Jetson TX2", "jetson-tx2", "jetson-nano", "Desktop",
            "Desktop/server"} <= families["nvidia-gpu"]  # fmt: skip
    assert {"raspberry-pi-4", "Google Pixel 4", "Apple iPhone 8", "Redmi 6 Pro (SD625)"} <= families["arm-cpu"]
    assert families["x86-cpu"] == {"Desktop/server"}  # the Xeon rows
    assert "Qualcomm SDM855 reference device" in families[None]  # a DSP: no family
    # Phone GPUs, NNAPI and DSPs are left out, not mistaken for NVIDIA GPUs or CPUs.
    others = [f for f in reference_figures() if f.threads in ("NNAPI", "DSP") or "Adreno" in f.processor
              or "Mali" in f.processor or "A12 GPU" in f.processor]  # fmt: skip
    assert len(others) == 15
    assert all(figure_family(f.device, f.processor, f.threads) is None for f in others)


def test_configurations_are_chosen_by_name_with_a_one_line_error():
    pi = load_device("raspberry-pi-4")
    assert list(pi.configurations) == ["ncnn", "armnn", "tflite-fp32", "tflite-uint8", "ncnn-1thread", "xnnpack"]
    assert (pi.configuration, pi.label, pi.runtime_config.name) == (None, "raspberry-pi-4", "ncnn")
    uint8 = load_device("raspberry-pi-4:tflite-uint8")
    assert uint8.label == "raspberry-pi-4:tflite-uint8"
    assert target_config(uint8) == RuntimeSpec(name="tflite-1.15", precision="int8", threads=4)
    assert len(direct_points(uint8)) == 16
    with pytest.raises(DeviceError) as caught:
        load_device("raspberry-pi-4:tflite-int8")
    message = str(caught.value)
    assert "configuration: 'tflite-int8' is not allowed" in message and "\n" not in message
    assert "ncnn, armnn, tflite-fp32, tflite-uint8, ncnn-1thread, xnnpack" in message
    with pytest.raises(DeviceError, match="single runtime"):
        load_device("pixel-3:tflite")
    assert resolve_device("jetson-tx2:tf-trt") == resolve_device("jetson-tx2")


GOOD = """\
name: my-board
kind: remote
family: arm-cpu
hardware: {processor: Cortex-A72, cores: 4, clock_ghz: 1.5, peak_gmacs_fp32: 24.0, memory_bandwidth_gbs: 12.8}
runtime: {name: ncnn, precision: fp32, threads: 4}
measurement: {provider: cpu, threads: 4}
sources:
  S3: Tencent/ncnn benchmark/README.md
calibration:
  - {alpha: 1.0, resolution: 224, latency_ms: 61.17, source: S3}
  - {alpha: 1.0, resolution: 224, latency_ms: 124.32, threads: 1, source: S3}
  - {arch: mbv1_a0.5_r160_in3_cls1000_floor8_stem32s2_ds64x1s1_ds128x2s2, latency_ms: 5.5, runtime: xnnpack,
     source: measured on my bench}
"""


def test_a_good_profile_with_every_section(tmp_path):
    path = tmp_path / "my-board.yaml"
    path.write_text(GOOD, encoding="utf-8")
    profile = load_device(path)
    ncnn4 = RuntimeSpec(name="ncnn", precision="fp32", threads=4)
    first, one_thread, other = profile.calibration
    assert profile.point_config(first) == ncnn4
    assert profile.point_config(one_thread) == RuntimeSpec(name="ncnn", precision="fp32", threads=1)
    assert profile.point_config(other) == RuntimeSpec(name="xnnpack", precision="fp32", threads=None)
    assert profile.citation(first) == "Tencent/ncnn benchmark/README.md"
    assert profile.citation(other) == "measured on my bench"
    assert profile.sidecar(".lut.csv") == tmp_path / "my-board.lut.csv"
    assert profile.runtime_config.label() == "ncnn fp32, 4 threads"


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (("family: arm-cpu", "family: risc-v"), "family", "'arm-cpu'"),
        (("clock_ghz: 1.5", "clock_ghz: -1"), "hardware.clock_ghz", "greater than 0"),
        (("cores: 4,", "cores: four,"), "hardware.cores", "integer"),
        (("precision: fp32, threads: 4}\nmeasurement", "precision: fp64, threads: 4}\nmeasurement"),
         "runtime.precision", "'fp32'"),
        (("latency_ms: 61.17", "latency_ms: 0"), "calibration.0.latency_ms", "greater than 0"),
        (("latency_ms: 61.17, source: S3", "source: S3"), "calibration.0.latency_ms", "the key is required"),
        (("resolution: 224, latency_ms: 61.17", "latency_ms: 61.17"), "calibration.0", "both alpha and resolution"),
        (("latency_ms: 61.17, source: S3", "latency_ms: 61.17, source: S9"), "calibration", "'S9' is not a key"),
        (("mbv1_a0.5_r160", "mbv9_a0.5_r160"), "calibration.2", "not a valid architecture"),
        (("latency_ms: 61.17, source: S3}", "latency_ms: 61.17, source: S3, speed: 3}"), "calibration.0.speed",
         "unknown key"),
    ],
)  # fmt: skip
def test_bad_profiles_name_the_key(tmp_path, edit, key, expected):
    old, new = edit
    assert old in GOOD
    path = tmp_path / "my-board.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DeviceError) as caught:
        load_device(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
    assert "\n" not in message
