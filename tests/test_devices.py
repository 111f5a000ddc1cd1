from __future__ import annotations

import pytest
from _latency_support import write_profile

from hwsearch.devices import available_devices, load_device, parse_device
from hwsearch.errors import DeviceError
from hwsearch.measurement import MeasureSettings


def test_shipped_profiles_load():
    assert {"local-cpu", "local-cuda"} <= set(available_devices())
    cpu = load_device("local-cpu")
    assert (cpu.kind, cpu.agent_url) == ("local", None)
    assert cpu.settings == MeasureSettings(
        provider="cpu", threads=1, precision="fp32", warmup_runs=10, min_runs=50, min_time_s=0.5, max_runs=10_000
    )
    cuda = load_device("local-cuda")
    assert cuda.settings.provider == "cuda"


def test_a_good_profile_file(tmp_path):
    path = tmp_path / "jetson-nano.yaml"
    path.write_text(
        "name: jetson-nano\n"
        "kind: remote\n"
        "agent_url: http://192.168.1.20:8765\n"
        "measurement: {provider: tensorrt, precision: fp16, threads: 4, min_runs: 20}\n",
        encoding="utf-8",
    )
    profile = load_device(path)
    assert profile.settings == MeasureSettings(provider="tensorrt", precision="fp16", threads=4, min_runs=20)
    assert profile.identity("http://10.0.0.9:8765") == "jetson-nano"  # a board is itself on any address
    assert profile.source == str(path)


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(DeviceError) as caught:
        load_device("no-such-board")
    message = str(caught.value)
    assert "'no-such-board'" in message
    assert "local-cpu" in message
    assert "local-cuda" in message


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("name: b\nkind: local\nspeed: 3\n", "speed", "unknown key"),
        ("name: b\nkind: nearby\n", "kind", "'local' or 'remote'"),
        ("name: b\nkind: local\nmeasurement: {provider: opencl}\n", "measurement.provider", "'cpu'"),
        ("name: b\nkind: local\nmeasurement: {threads: 0}\n", "measurement.threads", "'auto'"),
        ("name: b\nkind: local\nmeasurement: {precision: fp16}\n", "measurement", "fp16 needs provider tensorrt or"),
        ("name: b\nkind: local\nmeasurement: {min_runs: 9, max_runs: 3}\n", "measurement", "below min_runs"),
        ("name: b\nkind: local\nagent_url: board:8765\n", "agent_url", "http://"),
        ("name: b\n", "kind", "the key is required"),
        ("name: [b\n", "<file>", "valid YAML"),
        ("- b\n", "<file>", "a mapping"),
    ],
)
def test_bad_profiles_name_file_key_value_and_what_is_allowed(tmp_path, text, key, expected):
    path = tmp_path / "b.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DeviceError) as caught:
        load_device(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert expected in message
    assert "\n" not in message
    assert caught.value.key == key


def test_profile_name_must_match_its_file(tmp_path):
    path = write_profile(tmp_path, "fast-cpu")
    renamed = path.rename(tmp_path / "other.yaml")
    with pytest.raises(DeviceError, match=r"name: 'fast-cpu' is not allowed.*'other'"):
        load_device(renamed)


def test_parse_without_a_file_and_missing_path():
    profile = parse_device("name: x\nkind: local\n")
    assert profile.settings == MeasureSettings()
    with pytest.raises(DeviceError, match="an existing YAML file"):
        load_device("missing/dir/x.yaml")
