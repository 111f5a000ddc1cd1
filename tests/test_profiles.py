from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwsearch.devices import RuntimeSpec, available_devices, load_device
from hwsearch.errors import DeviceError
from hwsearch.latency import published_points

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT.parent / "shared" / "reference" / "published_latency.csv"
SHIPPED = ("local-cpu", "local-cuda", "raspberry-pi-4", "pixel-3", "pixel-2", "jetson-nano", "jetson-nano-cpu",
           "jetson-tx2")  # fmt: skip
BOARDS = SHIPPED[2:]


def test_every_shipped_profile_loads_with_its_prediction_sections():
    assert set(SHIPPED) <= set(available_devices())
    for name in BOARDS:
        profile = load_device(name)
        assert profile.kind == "remote"
        assert profile.family in ("arm-cpu", "nvidia-gpu")
        assert profile.runtime is not None
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
            # "owner/repo path/to/file.md (details)", as in published_latency.csv
            assert citation.split()[0].count("/") == 1 and ".md" in citation, citation


def test_measurement_settings_suit_each_board():
    for name in ("raspberry-pi-4", "pixel-3", "pixel-2", "jetson-nano-cpu"):
        profile = load_device(name)
        assert profile.settings.provider == "cpu"
        assert profile.settings.threads == profile.runtime.threads  # the published thread count
    for name in ("jetson-nano", "jetson-tx2"):
        settings = load_device(name).settings
        assert (settings.provider, settings.precision) == ("tensorrt", "fp16")


@pytest.mark.skipif(not PUBLISHED.is_file(), reason="the shared reference folder is not checked out")
def test_calibration_points_copy_the_published_figures_exactly():
    lines = [line for line in PUBLISHED.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    published = list(csv.DictReader(lines))
    shipped = {
        (p.device, round(p.arch.alpha, 3), p.arch.resolution, p.config.name, p.config.threads, p.latency_ms)
        for name in BOARDS
        for p in published_points(load_device(name))
    }
    expected = {
        (row["device"], round(float(row["alpha"]), 3), int(row["resolution"]), row["runtime"],
         int(row["threads"]) if row["threads"] else None, float(row["latency_ms"]))
        for row in published
    }  # fmt: skip
    assert shipped == expected
    assert len(published) == sum(len(load_device(name).calibration) for name in BOARDS)


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
