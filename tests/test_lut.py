from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from _latency_support import TINY_SPACE, running_agent, write_profile

from hwsearch.arch import Arch
from hwsearch.devices import load_device
from hwsearch.latency import (
    AgentClient,
    build_table,
    default_anchors,
    estimator_for,
    latency_for,
    layer_onnx,
    plan_jobs,
)
from hwsearch.latency._lut import COLUMNS, LayerKey, LayerTable, LookupTableError, space_layer_keys, with_boundaries
from hwsearch.space import load_space, parse_space


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE, encoding="utf-8")
    return load_space(path)


def test_enumerated_layers_are_exactly_those_of_the_valid_grid(tiny):
    brute = {LayerKey.of(layer) for arch in tiny.grid() for layer in arch.layers()}
    assert space_layer_keys(tiny) == brute
    keys = with_boundaries(brute)
    assert {k.kind for k in keys} == {"stem", "dw", "pw", "conv", "pool", "fc", "null"}
    assert LayerKey.null(16, 16) in keys  # the stem's output


def test_the_default_space_has_2603_distinct_layers():
    assert len(space_layer_keys(load_space())) == 2603


@pytest.mark.parametrize("kind", ["stem", "dw", "pw", "conv", "pool", "fc", "null"])
def test_one_layer_models_run_with_the_layer_shapes(tiny, kind):
    key = next(k for k in sorted(with_boundaries(space_layer_keys(tiny))) if k.kind == kind)
    session = ort.InferenceSession(layer_onnx(key), providers=["CPUExecutionProvider"])
    shape = [1, key.in_channels] if kind == "fc" else [1, key.in_channels, key.in_size, key.in_size]
    (out,) = session.run(None, {"input": np.ones(shape, dtype=np.float32)})
    expected = (1, key.out_channels) if kind in ("fc", "pool") else (1, key.out_channels, key.out_size, key.out_size)
    assert out.shape == expected
    assert layer_onnx(key) == layer_onnx(key)  # deterministic bytes


def test_build_measures_for_real_resumes_and_predicts(tmp_path, tiny):
    device = load_device(write_profile(tmp_path))
    jobs = plan_jobs(tiny, anchors=3)
    first = build_table(device, tiny, anchors=3, limit=10)
    assert (first.measured, first.already, first.remaining) == (10, 0, len(jobs) - 10)
    path = first.path
    assert path == tmp_path / "fast-cpu.lut.csv"
    # An interrupted write leaves a torn row; resuming drops it and measures the rest once.
    with path.open("a", encoding="utf-8") as handle:
        handle.write("pw,8,16,12,1,12,18")
    second = build_table(device, tiny, anchors=3)
    assert (second.already, second.measured, second.remaining) == (10, len(jobs) - 10, 0)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 1 + len(jobs)
    assert build_table(device, tiny, anchors=3).measured == 0
    header = path.read_text(encoding="utf-8")
    for field in ("# device: fast-cpu", "# host: ", "# runtime_version: ", "# settings_digest: ", "# created: "):
        assert field in header

    table = LayerTable.load(path)
    assert len(table.nets) == 3 and len(table.overhead.residuals_pct) == 3
    arch = next(a for a in tiny.grid() if a.to_str() not in table.nets)
    total, boundary, n, scaled = table.sums(arch)
    assert (n, scaled) == (len(arch.layers()), 0)
    assert total == pytest.approx(sum(table.entries[LayerKey.of(layer)] for layer in arch.layers()))
    fit = table.overhead
    m = table.predict(arch, "fast-cpu")
    assert m.median_ms == pytest.approx(fit.a * total - fit.phi * boundary + fit.c_ms)
    assert (m.source, m.runs, m.fit_points, m.device) == ("lut", 0, 3, "fast-cpu")
    assert not m.is_measured and "lookup table fast-cpu.lut.csv" in m.basis
    # The expected error is each anchor predicted by the fit to the other two, not the in-sample residual.
    assert len(fit.loo_errors_pct) == 3
    assert m.expected_error_pct == pytest.approx(np.mean(np.abs(fit.loo_errors_pct)))
    assert m.error_basis == "cross-validated, leave-one-out over 3 anchor networks"
    assert m.uncertainty.startswith("±") and m.fit_residual_rms_pct == pytest.approx(fit.rms_pct)

    # The device is local, so the best source is a measurement; the table on request.
    assert latency_for(arch, device).source == "measured"
    assert latency_for(arch, device, source="lut").median_ms == pytest.approx(m.median_ms)
    assert estimator_for(device).available() == ["lut"]


def test_a_board_table_is_measured_through_the_agent(tmp_path, tiny):
    board = load_device(write_profile(tmp_path, "board", kind="remote"))
    with running_agent() as server:
        result = build_table(board, tiny, agent=AgentClient(server.url), anchors=0, limit=3)
    assert result.measured == 3
    assert f"# measured_by: agent {server.url}" in result.path.read_text(encoding="utf-8")


def test_a_table_built_with_other_settings_is_refused(tmp_path, tiny):
    device = load_device(write_profile(tmp_path))
    build_table(device, tiny, anchors=0, limit=2)
    with pytest.raises(LookupTableError, match=r"settings_digest.*--restart"):
        build_table(device, tiny, anchors=0, limit=2, min_time_s=0.01)
    assert build_table(device, tiny, anchors=0, limit=2, min_time_s=0.01, restart=True).already == 0


def _synthetic_table(tmp_path, a, phi, c_ms, anchors):
    rng = np.random.default_rng(0)
    keys = sorted(with_boundaries({LayerKey.of(layer) for arch in anchors for layer in arch.layers()}))
    entries = {k: float(rng.uniform(0.01, 1.0)) for k in keys}
    rows = [",".join(map(str, [k.kind, k.in_channels, k.out_channels, k.in_size, k.stride, k.out_size, k.macs,
                               entries[k], entries[k], 0.01, 10, "", "t"])) for k in keys]  # fmt: skip
    probe = LayerTable(tmp_path / "x.lut.csv", {}, [])
    probe.entries = entries
    for arch in anchors:
        total, boundary, _, _ = probe.sums(arch)
        net = a * total - phi * boundary + c_ms
        rows.append(f"net,0,0,{arch.resolution},0,0,0,{net},{net},0.01,10,{arch},t")
    path = tmp_path / "synthetic.lut.csv"
    path.write_text("# device: synthetic\n" + ",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return LayerTable.load(path)


def test_the_overhead_fit_recovers_a_known_correction(tmp_path, tiny):
    anchors = default_anchors(tiny, 8)
    table = _synthetic_table(tmp_path, 1.0, 0.8, 0.02, anchors)
    fit = table.overhead
    assert (fit.a, fit.phi, fit.c_ms) == pytest.approx((1.0, 0.8, 0.02), abs=1e-6)
    assert fit.max_pct < 1e-6
    assert max(abs(e) for e in fit.loo_errors_pct) < 1e-4  # an exact formula also predicts left-out anchors
    # The sum's multiplier is held near 1 (a ridge), but a clear trend in the anchors moves it.
    assert _synthetic_table(tmp_path, 1.2, 0.8, 0.02, anchors).overhead.a > 1.1


def test_missing_layers_are_scaled_from_a_near_size_or_refused(tmp_path, tiny):
    table = _synthetic_table(tmp_path, 1.0, 0.0, 0.0, default_anchors(tiny, 4))
    key = next(k for k in table.entries if k.kind == "pw" and k.in_size == 12)
    near = LayerKey(key.kind, key.in_channels, key.out_channels, 16, key.stride)
    ms, scaled = table.entry_ms(near)
    assert scaled and ms == pytest.approx(table.entries[key] * (16 / 12) ** 2)
    with pytest.raises(LookupTableError, match="no entry near layer pw:999:999:12:1"):
        table.entry_ms(LayerKey("pw", 999, 999, 12, 1))
    with pytest.raises(LookupTableError, match="hwsearch profile"):
        table.predict_ms(Arch.from_str("mbv1_a4.0_r224_in3_cls10_floor8_stem16s2_ds32x1s2"))


def test_an_unrelated_csv_is_not_a_table(tmp_path):
    path = tmp_path / "x.lut.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(LookupTableError, match="not an hwsearch lookup table"):
        LayerTable.load(path)


def test_parse_space_helper_is_consistent():
    assert parse_space(TINY_SPACE).name == "tiny"
