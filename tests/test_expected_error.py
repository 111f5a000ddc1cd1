"""Every estimate carries its cross-validated expected error; measured figures say they are measured."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hwsearch.arch import mobilenet_v1
from hwsearch.devices import load_device
from hwsearch.errors import MeasurementError
from hwsearch.latency import CacheKey, LatencyCache, fit_predictor
from hwsearch.measurement import Measurement


def _measured(**changes: object) -> Measurement:
    fields = dict(median_ms=2.0, p90_ms=2.2, mean_ms=2.0, std_ms=0.024, min_ms=1.9, max_ms=2.3, outliers=0, runs=50,
                  warmup=10, provider="cpu", threads=1, precision="fp32", runtime="onnxruntime",
                  runtime_version="1.17", host="test host", timestamp="2026-01-01T00:00:00+00:00",
                  source="measured")  # fmt: skip
    fields.update(changes)
    return Measurement(**fields)


def test_a_prediction_to_dict_carries_the_expected_error_and_round_trips():
    m = fit_predictor(load_device("jetson-nano")).predict(mobilenet_v1(0.5, 160))
    data = m.to_dict()
    assert data["expected_error_pct"] == m.expected_error_pct > 0
    assert data["error_basis"] == "cross-validated, 1 point, over 3 nvidia-gpu configurations"
    assert "fit_residual_rms_pct" in data and "fit_rms_pct" not in data
    assert "uncertainty" not in data  # derived, not stored
    assert Measurement.from_dict(data) == m
    assert m.uncertainty == f"±{m.expected_error_pct:.0f}% (cross-validated, 1 point, over 3 nvidia-gpu configurations)"


def test_a_measurement_says_it_is_measured():
    m = _measured()
    assert (m.expected_error_pct, m.error_basis) == (0.0, "")
    assert m.uncertainty == "measured, 50 runs, cv 1.2%"
    assert _measured(runs=1, std_ms=0.0).uncertainty == "measured, 1 run, cv 0.0%"


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "5%"])
def test_an_invalid_expected_error_is_refused(bad):
    with pytest.raises(MeasurementError, match="expected_error_pct"):
        _measured(source="predicted", runs=0, expected_error_pct=bad)


def test_records_written_before_the_rename_still_read():
    old = _measured().to_dict()
    old["fit_rms_pct"] = old.pop("fit_residual_rms_pct")
    old["fit_max_pct"] = old.pop("fit_residual_max_pct")
    del old["expected_error_pct"], old["error_basis"]
    assert Measurement.from_dict(old) == _measured()


def test_the_latency_cache_reads_an_entry_in_the_old_format(tmp_path):
    cache = LatencyCache(tmp_path / "cache.sqlite")
    key = CacheKey("mbv1_test", "local-cpu", "0" * 16)
    cache.put(key, _measured())
    old = _measured().to_dict()
    old["fit_rms_pct"], old["fit_max_pct"] = old.pop("fit_residual_rms_pct"), old.pop("fit_residual_max_pct")
    del old["expected_error_pct"], old["error_basis"]
    with sqlite3.connect(cache.path) as conn:  # as an earlier hwsearch wrote it
        conn.execute("UPDATE latency SET measurement = ?", (json.dumps(old),))
    assert LatencyCache(cache.path).get(key) == _measured()
