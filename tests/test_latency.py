from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from _latency_support import FAST, TINY, write_profile
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import hwsearch.export
from hwsearch.devices import load_device
from hwsearch.errors import (
    CacheError,
    InvalidModelError,
    MeasurementError,
    ProviderUnavailableError,
    SettingsError,
)
from hwsearch.export import export_onnx
from hwsearch.latency import CacheKey, LatencyCache, cache_key, check_onnx_bytes, measure_arch
from hwsearch.latency._measure import drift_reference
from hwsearch.latency._runtime import _provider_list, measure_onnx, reference_session, resolve_threads
from hwsearch.measurement import Measurement, MeasureSettings, summarize

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_bytes() -> bytes:
    return export_onnx(TINY)


@pytest.fixture
def sessions(monkeypatch) -> list[object]:
    """Every onnxruntime session created while the test runs."""
    created: list[object] = []
    real = ort.InferenceSession

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(ort, "InferenceSession", Counting)
    return created


def _record(**changes) -> Measurement:
    base = Measurement.from_times(
        [1.0, 1.1, 0.9, 1.0, 5.0],
        warmup=3,
        provider="cpu",
        threads=2,
        precision="fp32",
        runtime="onnxruntime",
        runtime_version="1.31.1",
        host="test CPU",
        timestamp="2025-01-01T00:00:00+00:00",
        source="measured",
    )
    return replace(base, **changes)


# ----- the record -------------------------------------------------------------------------


def test_summary_statistics_and_outliers():
    stats = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats.median_ms == 3.0
    assert stats.mean_ms == 22.0
    assert stats.p90_ms == pytest.approx(61.6)  # linear interpolation, as numpy.percentile
    assert (stats.min_ms, stats.max_ms, stats.runs) == (1.0, 100.0, 5)
    assert stats.outliers == 1
    assert summarize([2.5]).std_ms == 0.0


def test_measurement_round_trips_through_json():
    record = _record(device="local-cpu", model_sha256="ab" * 32)
    again = Measurement.from_json(record.to_json())
    assert again == record
    assert json.loads(record.to_json())["source"] == "measured"


def test_cv_and_noisy_flag():
    quiet = _record(mean_ms=10.0, std_ms=0.2)
    loud = _record(mean_ms=10.0, std_ms=1.5)
    assert quiet.cv == pytest.approx(0.02)
    assert not quiet.noisy
    assert loud.noisy
    assert _record().noisy  # the 5.0 ms run in the sample makes it noisy


def test_a_prediction_never_passes_for_a_measurement():
    predicted = _record(source="predicted", runs=0)
    assert not predicted.is_measured
    data = predicted.to_dict()
    del data["source"]
    with pytest.raises(MeasurementError, match="missing key 'source'"):
        Measurement.from_dict(data)
    with pytest.raises(MeasurementError, match="source 'guessed' is unknown"):
        _record(source="guessed")
    with pytest.raises(MeasurementError, match="at least one timed run"):
        _record(runs=0)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "does not parse"), ("[]", "JSON object"), ('{"bogus": 1}', "unknown key 'bogus'")],
)
def test_bad_measurement_json_is_refused(text, message):
    with pytest.raises(MeasurementError, match=message):
        Measurement.from_json(text)


# ----- settings -------------------------------------------------------------------------


def test_settings_digest_is_stable_and_sensitive():
    # A fixed value: changing the digest silently would orphan every cached figure.
    assert MeasureSettings().digest() == MeasureSettings().digest()
    assert re.fullmatch(r"[0-9a-f]{16}", MeasureSettings().digest())
    # Raw timing keeps the digest it had before interleaving existed; the interleaved default has its own.
    assert MeasureSettings(interleave=0).digest() == "5dd5cc449da6211d"
    assert MeasureSettings(interleave=1).digest() == "24f205a63f66f8e9"  # single-run pairing, as it was
    # Bursts time differently, so the default's figures never meet single-run pairing's in a cache.
    assert MeasureSettings().digest() not in ("5dd5cc449da6211d", "24f205a63f66f8e9")
    assert MeasureSettings(threads=4).digest() != MeasureSettings().digest()
    assert MeasureSettings(min_time_s=1).digest() == MeasureSettings(min_time_s=1.0).digest()


def test_settings_travel_as_a_query_string():
    settings = MeasureSettings(provider="tensorrt", precision="fp16", threads=3, min_time_s=0.25)
    query = {key: [value] for key, value in settings.to_query().items()}
    assert MeasureSettings.from_query(query) == settings
    with pytest.raises(SettingsError, match="unknown setting 'speed'"):
        MeasureSettings.from_query({"speed": ["1"]})
    with pytest.raises(SettingsError, match="not a number"):
        MeasureSettings.from_query({"threads": ["two"]})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider": "opencl"}, "provider"),
        ({"threads": -1}, "threads"),
        ({"min_runs": 0}, "min_runs"),
        ({"min_time_s": float("nan")}, "min_time_s"),
        ({"min_runs": 10, "max_runs": 5}, "below min_runs"),
        ({"precision": "fp16"}, "fp16 needs provider tensorrt or torch-cuda"),
    ],
)
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(SettingsError, match=message):
        MeasureSettings(**changes)


def test_tensorrt_provider_options_carry_fp16():
    fp16 = _provider_list(MeasureSettings(provider="tensorrt", precision="fp16"))
    assert fp16[0][0] == "TensorrtExecutionProvider"
    assert fp16[0][1]["trt_fp16_enable"] == "True"
    assert [p if isinstance(p, str) else p[0] for p in fp16][1:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert _provider_list(MeasureSettings(provider="tensorrt"))[0][1]["trt_fp16_enable"] == "False"
    assert _provider_list(MeasureSettings(provider="cuda"))[0][0] == "CUDAExecutionProvider"


# ----- screening the bytes -------------------------------------------------------------------


def test_screen_accepts_an_export_and_refuses_junk(tiny_bytes):
    check_onnx_bytes(tiny_bytes)
    for junk in (b"", b"hello, this is not a model", b"\xff" * 64, tiny_bytes[: len(tiny_bytes) // 2]):
        with pytest.raises(InvalidModelError):
            check_onnx_bytes(junk)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_screen_never_fails_any_other_way(data):
    try:
        check_onnx_bytes(data)
    except InvalidModelError as exc:
        assert "\n" not in str(exc)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=8))
def test_screen_survives_corruption_of_a_real_model(tiny_bytes, position, patch):
    data = bytearray(tiny_bytes[:20_000])  # the graph structure comes first, the weights after
    data[position : position + len(patch)] = patch
    # Whatever the damage, the screen either passes the bytes on or refuses them as a model error.
    with contextlib.suppress(InvalidModelError):
        check_onnx_bytes(bytes(data))


def _external_initializer_model(tmp_path: Path) -> bytes:
    proto = onnx.load_from_string(export_onnx(TINY))
    onnx.save_model(proto, tmp_path / "m.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="w")
    return (tmp_path / "m.onnx").read_bytes()


def test_screen_refuses_external_initializers(tmp_path):
    model = _external_initializer_model(tmp_path)
    with pytest.raises(InvalidModelError, match="external tensor data"):
        check_onnx_bytes(model)


def test_screen_refuses_external_data_inside_a_node_attribute():
    tensor = numpy_helper.from_array(np.zeros((1,), "float32"), name="c")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    node = helper.make_node("Constant", [], ["y"], value=tensor)
    out = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    then = helper.make_graph([node], "then", [], [out])
    cond = helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, [])
    branch = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then)
    model = helper.make_model(helper.make_graph([branch], "g", [cond], [out]))
    with pytest.raises(InvalidModelError, match="external tensor data"):
        check_onnx_bytes(model.SerializeToString())


# ----- real measurements ---------------------------------------------------------------------


def test_measure_onnx_times_a_real_session(tiny_bytes, sessions):
    m = measure_onnx(tiny_bytes, FAST)
    assert len(sessions) == 1
    assert m.source == "measured"
    assert FAST.min_runs <= m.runs <= FAST.max_runs
    assert m.warmup == FAST.warmup_runs
    assert 0 < m.min_ms <= m.median_ms <= m.p90_ms <= m.max_ms
    assert (m.provider, m.threads, m.precision, m.runtime) == ("cpu", 1, "fp32", "onnxruntime")
    assert m.runtime_version == ort.__version__
    assert m.host
    assert m.model_sha256 == hashlib.sha256(tiny_bytes).hexdigest()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", m.timestamp)


def test_stopping_rule_needs_both_count_and_time(tiny_bytes):
    capped = measure_onnx(tiny_bytes, replace(FAST, min_runs=7, max_runs=7, min_time_s=60.0))
    assert capped.runs == 7  # max_runs ends it long before 60 s
    timed = measure_onnx(tiny_bytes, replace(FAST, min_runs=3, max_runs=100_000, min_time_s=0.2))
    assert timed.runs > 3
    assert timed.runs * timed.max_ms >= 200.0  # at least 0.2 s of timed runs


def test_threads_zero_means_every_available_core(tiny_bytes):
    assert measure_onnx(tiny_bytes, replace(FAST, threads=0)).threads == resolve_threads(0) >= 1


def test_onnxruntime_refusing_a_model_is_an_invalid_model_error():
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    with pytest.raises(InvalidModelError, match="onnxruntime refused the model"):
        measure_onnx(helper.make_model(graph).SerializeToString(), FAST)


@pytest.mark.parametrize("settings", [MeasureSettings(provider="cuda"), MeasureSettings(provider="tensorrt")])
def test_gpu_provider_unavailable_is_a_clear_error(tiny_bytes, sessions, settings):
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this machine has no GPU build
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu"):
        measure_onnx(tiny_bytes, settings)
    assert sessions == []


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_silent_fallback_to_cpu_is_caught(tiny_bytes, monkeypatch):
    # Pretend onnxruntime-gpu is installed: the real session then falls back to the CPU.
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ProviderUnavailableError, match="fell back to CPUExecutionProvider"):
        measure_onnx(tiny_bytes, MeasureSettings(provider="cuda", min_runs=1, warmup_runs=0, min_time_s=0))


# ----- measure_arch and the cache ------------------------------------------------------------


@pytest.fixture
def fast_device(tmp_path):
    device = load_device(write_profile(tmp_path))
    # The drift reference's session is built once per process; build it now, so that the
    # session counts below are the candidate's whatever ran before.
    model, label = drift_reference()
    reference_session(model, device.settings, label)
    return device


def test_cache_hit_runs_no_session_and_no_export(tmp_path, fast_device, sessions, monkeypatch):
    cache = LatencyCache(tmp_path / "cache.sqlite")
    first = measure_arch(TINY, fast_device, cache=cache)
    assert len(sessions) == 1
    assert first.device == "fast-cpu"

    def no_export(*args, **kwargs):
        raise AssertionError("a cached latency must not export the model")

    monkeypatch.setattr(hwsearch.export, "export_onnx", no_export)
    again = LatencyCache(tmp_path / "cache.sqlite")  # a new run, same file
    second = measure_arch(TINY, fast_device, cache=again)
    assert len(sessions) == 1
    assert second == first
    assert (again.hits, again.misses) == (1, 0)


def test_remeasure_measures_again_and_replaces(tmp_path, fast_device, sessions):
    cache = LatencyCache(tmp_path / "cache.sqlite")
    first = measure_arch(TINY, fast_device, cache=cache)
    second = measure_arch(TINY, fast_device, cache=cache, remeasure=True)
    assert len(sessions) == 2
    assert cache.get(cache_key(TINY, fast_device)) == second
    assert second.model_sha256 == first.model_sha256
    assert len(cache) == 1


def test_cache_key_separates_settings_and_agent_targets(fast_device):
    key = cache_key(TINY, fast_device)
    assert key == CacheKey(TINY.to_str(), "fast-cpu", fast_device.settings.digest())
    slower = fast_device.model_copy(update={"measurement": fast_device.measurement.model_copy(update={"min_runs": 9})})
    assert cache_key(TINY, slower).settings_digest != key.settings_digest
    assert fast_device.identity("http://board:8765/") == "fast-cpu@http://board:8765"


def test_local_cuda_without_gpu_says_so_before_exporting(tmp_path, sessions, monkeypatch):
    monkeypatch.setattr(hwsearch.export, "export_onnx", lambda *a, **k: pytest.fail("exported needlessly"))
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu"):
        measure_arch(TINY, load_device("local-cuda"), cache=LatencyCache(tmp_path / "c.sqlite"))
    assert sessions == []


def test_remote_board_without_agent_asks_for_one_unless_cached(tmp_path):
    board = load_device(write_profile(tmp_path, "some-board", kind="remote"))
    cache = LatencyCache(tmp_path / "c.sqlite")
    with pytest.raises(MeasurementError, match="--agent URL"):
        measure_arch(TINY, board, cache=cache)
    earlier = _record(device="some-board")
    cache.put(cache_key(TINY, board), earlier)
    assert measure_arch(TINY, board, cache=cache) == earlier  # the board need not be on-line to read its figures


def test_cache_uses_wal_and_reports_a_corrupt_file(tmp_path):
    cache = LatencyCache(tmp_path / "c.sqlite")
    assert cache.get(CacheKey("a", "d", "s")) is None
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=r"bad\.sqlite"):
        LatencyCache(bad).get(CacheKey("a", "d", "s"))


def test_cache_is_safe_for_several_processes(tmp_path):
    path = tmp_path / "shared.sqlite"
    record = _record().to_json()
    code = (
        "import sys\n"
        "from hwsearch.latency import CacheKey, LatencyCache\n"
        "from hwsearch.measurement import Measurement\n"
        "cache = LatencyCache(sys.argv[1]); m = Measurement.from_json(sys.argv[3])\n"
        "for i in range(40): cache.put(CacheKey(f'{sys.argv[2]}-{i}', 'd', 's'), m)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), name, record], cwd=ROOT) for name in ("p", "q", "r")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert len(LatencyCache(path)) == 120


def test_only_the_latency_package_imports_onnxruntime():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "hwsearch").rglob("*.py")
        if "latency" not in path.parts and re.search(r"^\s*(import|from)\s+onnxruntime", path.read_text(), re.M)
    ]
    assert offenders == []
    code = "import sys, hwsearch.latency; print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_batch_one_fixes_only_a_symbolic_batch_axis():
    import onnx
    from onnx import TensorProto, helper

    from hwsearch.arch import mobilenet_v1
    from hwsearch.export import export_onnx
    from hwsearch.latency import batch_one

    arch = mobilenet_v1(0.25, 32, num_classes=10)
    fixed, changed = batch_one(export_onnx(arch, dynamic_batch=True))
    model = onnx.load_from_string(fixed)
    values = (*model.graph.input, *model.graph.output)
    dims = [[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in values]
    assert changed and dims == [[1, 3, 32, 32], [1, 10]]
    static = export_onnx(arch)
    assert batch_one(static) == (static, False)
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "h"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "h"])])  # fmt: skip
    odd = helper.make_model(graph).SerializeToString()
    assert batch_one(odd) == (odd, False)  # a symbolic axis other than the batch stays, to be refused by name
    assert batch_one(b"not onnx") == (b"not onnx", False)
