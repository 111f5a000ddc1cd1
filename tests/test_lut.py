from __future__ import annotations

import statistics

import numpy as np
import onnxruntime as ort
import pytest
from _latency_support import TINY_SPACE, running_agent, write_profile

from hwsearch.arch import Arch
from hwsearch.devices import load_device
from hwsearch.latency import (
    AgentClient,
    BlockKey,
    arch_blocks,
    block_onnx,
    build_table,
    default_anchors,
    estimator_for,
    latency_for,
    plan_jobs,
    space_block_keys,
    with_leads,
)
from hwsearch.latency._lut import COLUMNS, OLD_COLUMNS, LayerTable, LookupTableError
from hwsearch.space import load_space, parse_space


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE, encoding="utf-8")
    return load_space(path)


def test_enumerated_blocks_are_exactly_those_of_the_valid_grid(tiny):
    brute = {key for arch in tiny.grid() for key in arch_blocks(arch)}
    assert space_block_keys(tiny) == brute
    keys = with_leads(brute)
    assert {k.kind for k in keys} == {"stem", "ds", "conv", "head", "null"}
    # Every block after the stem has its lead-in alone in the table; the stem needs none.
    assert all(k.lead in keys for k in brute if k.kind != "stem")
    assert BlockKey.null(8, 16, 3) in keys  # the first block's lead-in stands for the stem (3 input channels)


def test_the_default_space_has_2116_distinct_blocks_and_485_lead_ins():
    keys = space_block_keys(load_space())
    assert len(keys) == 2116
    assert len(with_leads(keys)) - len(keys) == 485


@pytest.mark.parametrize("kind", ["stem", "ds", "conv", "head", "null"])
def test_block_models_run_with_the_block_shapes(tiny, kind):
    key = next(k for k in sorted(with_leads(space_block_keys(tiny))) if k.kind == kind)
    session = ort.InferenceSession(block_onnx(key), providers=["CPUExecutionProvider"])
    feed = key.in_channels if kind == "stem" else key.lead_channels
    (out,) = session.run(None, {"input": np.ones([1, feed, key.in_size, key.in_size], dtype=np.float32)})
    expected = (1, key.out_channels) if kind == "head" else (1, key.out_channels, key.out_size, key.out_size)
    assert out.shape == expected
    assert block_onnx(key) == block_onnx(key)  # deterministic bytes


def test_build_measures_with_the_drift_reference_resumes_and_predicts(tmp_path, tiny):
    device = load_device(write_profile(tmp_path))
    assert device.settings.interleave
    jobs = plan_jobs(tiny, anchors=3)
    first = build_table(device, tiny, anchors=3, limit=10)
    assert (first.measured, first.already, first.remaining) == (10, 0, len(jobs) - 10)
    path = first.path
    assert path == tmp_path / "fast-cpu.lut.csv"
    # An interrupted write leaves a torn row; resuming drops it and measures the rest once.
    with path.open("a", encoding="utf-8") as handle:
        handle.write("ds,8,16,12,1,4,12,18")
    second = build_table(device, tiny, anchors=3)
    assert (second.already, second.measured, second.remaining) == (10, len(jobs) - 10, 0)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 1 + len(jobs)
    assert build_table(device, tiny, anchors=3).measured == 0
    header = path.read_text(encoding="utf-8")
    for field in ("# device: fast-cpu", "# host: ", "# runtime_version: ", "# settings_digest: ", "# format: 2"):
        assert field in header

    # Every row was timed against the drift reference, and the table reads them all at one level:
    # the reference's median in the sessions that timed whole networks, as measurements are.
    rows = [dict(zip(COLUMNS, line.split(","), strict=True)) for line in lines[1:]]
    assert all(float(r["ratio"]) > 0 and float(r["reference_ms"]) > 0 for r in rows)
    table = LayerTable.load(path)
    beside_nets = [float(r["reference_ms"]) for r in rows if r["kind"] == "net"]
    assert table.reference_ms == pytest.approx(statistics.median(beside_nets))
    some = next(r for r in rows if r["kind"] == "ds")
    key = BlockKey("ds", *(int(some[c]) for c in ("in_channels", "out_channels", "in_size", "stride", "lead_channels")))
    assert table.entries[key] == pytest.approx(float(some["ratio"]) * table.reference_ms)

    assert len(table.nets) == 3 and len(table.overhead.residuals_pct) == 3
    arch = next(a for a in tiny.grid() if a.to_str() not in table.nets)
    sums = table.sums(arch)
    blocks = arch_blocks(arch)
    assert (sums.blocks, sums.scaled) == (len(blocks), 0)
    assert sums.chains_ms == pytest.approx(sum(table.entries[k] for k in blocks))
    assert sums.leads_ms == pytest.approx(sum(table.entries[k.lead] for k in blocks if k.lead is not None))
    fit = table.overhead
    m = table.predict(arch, "fast-cpu")
    assert fit.phi == fit.a  # the scale applies to each block's chain less its lead-in
    assert m.median_ms == pytest.approx(max(fit.a * (sums.chains_ms - sums.leads_ms) + fit.c_ms, 0.0))
    assert (m.source, m.runs, m.fit_points, m.device) == ("lut", 0, 3, "fast-cpu")
    assert not m.is_measured and "lookup table fast-cpu.lut.csv: 4 blocks timed in context" in m.basis
    # The expected error is each anchor predicted by the fit to the other two, not the in-sample residual.
    assert len(fit.loo_errors_pct) == 3
    assert m.expected_error_pct == pytest.approx(np.mean(np.abs(fit.loo_errors_pct)))
    assert m.error_basis == "cross-validated, leave-one-out over 3 anchor networks"
    assert m.uncertainty.startswith("±") and m.fit_residual_rms_pct == pytest.approx(fit.rms_pct)

    # The device is local, so the best source is a measurement; the table on request.
    assert latency_for(arch, device).source == "measured"
    assert latency_for(arch, device, source="lut").median_ms == pytest.approx(m.median_ms)
    assert estimator_for(device).available() == ["lut"]


def test_a_board_table_is_measured_through_the_agent_against_the_reference(tmp_path, tiny):
    board = load_device(write_profile(tmp_path, "board", kind="remote"))
    with running_agent() as server:
        result = build_table(board, tiny, agent=AgentClient(server.url), anchors=0, limit=3)
    assert result.measured == 3
    text = result.path.read_text(encoding="utf-8")
    assert f"# measured_by: agent {server.url}" in text
    rows = [line.split(",") for line in text.splitlines()[-3:]]
    assert all(float(r[COLUMNS.index("ratio")]) > 0 for r in rows)


def test_a_table_built_with_other_settings_is_refused(tmp_path, tiny):
    device = load_device(write_profile(tmp_path))
    build_table(device, tiny, anchors=0, limit=2)
    with pytest.raises(LookupTableError, match=r"settings_digest.*--restart"):
        build_table(device, tiny, anchors=0, limit=2, min_time_s=0.01)
    assert build_table(device, tiny, anchors=0, limit=2, min_time_s=0.01, restart=True).already == 0


def test_a_table_of_the_old_format_asks_to_be_rebuilt(tmp_path, tiny):
    path = tmp_path / "fast-cpu.lut.csv"
    path.write_text("# device: fast-cpu\n" + ",".join(OLD_COLUMNS) + "\npw,8,16,12,1,12,18,0.01,0.01,0.01,5,,t\n")
    with pytest.raises(LookupTableError, match="format 1") as caught:
        LayerTable.load(path)
    assert "--restart" in caught.value.hint
    device = load_device(write_profile(tmp_path))
    with pytest.raises(LookupTableError, match="format 1"):
        build_table(device, tiny, anchors=0, limit=1)


def _synthetic_table(tmp_path, a, c_ms, anchors, *, level=2.0):
    """Rows timed against a reference of median ``level`` ms; anchors exactly ``a * (chains - leads) + c``."""
    rng = np.random.default_rng(0)
    keys = sorted(with_leads({k for arch in anchors for k in arch_blocks(arch)}))
    entries = {k: float(rng.uniform(0.01, 1.0)) for k in keys}
    for k in keys:  # a chain costs more than its lead-in alone, as a measured one does
        if k.lead is not None:
            entries[k] += entries[k.lead]

    def row(kind_and_shape, ms, arch=""):
        return ",".join(map(str, [*kind_and_shape, 0, 0, ms * level, ms, level, ms, 0.01, 10, arch, "t"]))

    rows = [row([k.kind, k.in_channels, k.out_channels, k.in_size, k.stride, k.lead_channels], entries[k] / level)
            for k in keys]  # fmt: skip
    for arch in anchors:
        blocks = arch_blocks(arch)
        chains = sum(entries[k] for k in blocks)
        leads = sum(entries[k.lead] for k in blocks if k.lead is not None)
        rows.append(row(["net", 0, 0, arch.resolution, 0, 0], (a * (chains - leads) + c_ms) / level, arch))
    path = tmp_path / "synthetic.lut.csv"
    path.write_text("# device: synthetic\n" + ",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return LayerTable.load(path), entries


def test_the_overhead_fit_recovers_a_known_correction(tmp_path, tiny):
    anchors = default_anchors(tiny, 8)
    table, entries = _synthetic_table(tmp_path, 1.0, 0.02, anchors)
    assert table.reference_ms == 2.0 and table.entries == pytest.approx(entries)
    fit = table.overhead
    assert (fit.a, fit.phi, fit.c_ms) == pytest.approx((1.0, 1.0, 0.02), abs=1e-6)
    assert fit.max_pct < 1e-6
    assert max(abs(e) for e in fit.loo_errors_pct) < 1e-4  # an exact formula also predicts left-out anchors
    # The blocks' multiplier is held near 1 (a ridge), but a clear trend in the anchors moves it.
    assert _synthetic_table(tmp_path, 1.2, 0.02, anchors)[0].overhead.a > 1.1
    assert _synthetic_table(tmp_path, 0.8, 0.02, anchors)[0].overhead.a < 0.9


def test_missing_entries_are_scaled_from_a_near_size_or_refused(tmp_path):
    path = tmp_path / "few.lut.csv"
    rows = ["ds,8,16,12,1,4,12,0,0.5,0.25,2.0,0.5,0.01,5,,t", "head,16,10,6,1,4,1,0,0.2,0.1,2.0,0.2,0.01,5,,t"]
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    table = LayerTable.load(path)
    assert table.entries[BlockKey("ds", 8, 16, 12, 1)] == pytest.approx(0.5)
    # Work and data grow with the output's area; the head's with its input's.
    assert table.entry_ms(BlockKey("ds", 8, 16, 16, 1)) == pytest.approx(((16 / 12) ** 2 * 0.5, True))
    assert table.entry_ms(BlockKey("head", 16, 10, 9, 1)) == pytest.approx(((9 / 6) ** 2 * 0.2, True))
    with pytest.raises(LookupTableError, match="no entry near block ds:8:16:30:1:4"):
        table.entry_ms(BlockKey("ds", 8, 16, 30, 1))  # more than twice the measured size
    with pytest.raises(LookupTableError, match="no entry near block ds:8:16:12:1:19"):
        table.entry_ms(BlockKey("ds", 8, 16, 12, 1, 19))  # another lead-in is another entry
    with pytest.raises(LookupTableError, match="hwsearch profile"):
        table.predict_ms(Arch.from_str("mbv1_a4.0_r224_in3_cls10_floor8_stem16s2_ds32x1s2"))


def test_a_table_timed_without_the_reference_reads_its_raw_medians(tmp_path):
    path = tmp_path / "raw.lut.csv"
    path.write_text(",".join(COLUMNS) + "\nds,8,16,12,1,4,12,18,0.25,0,0,0.3,0.01,5,,t\n", encoding="utf-8")
    table = LayerTable.load(path)
    assert table.reference_ms == 0.0 and table.entries == {BlockKey("ds", 8, 16, 12, 1): 0.25}


def test_an_unrelated_csv_is_not_a_table(tmp_path):
    path = tmp_path / "x.lut.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(LookupTableError, match="not an hwsearch lookup table"):
        LayerTable.load(path)


def test_parse_space_helper_is_consistent():
    assert parse_space(TINY_SPACE).name == "tiny"
