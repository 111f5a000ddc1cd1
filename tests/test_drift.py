"""Drift-cancelling measurement: each candidate run paired with a run of a fixed reference network."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import numpy as np
import pytest
from _latency_support import FAST, TINY, running_agent, write_profile

from hwsearch.arch import mobilenet_v1
from hwsearch.devices import load_device
from hwsearch.errors import AgentError, MeasurementError, SettingsError
from hwsearch.export import export_onnx
from hwsearch.latency import AgentClient, CacheKey, LatencyCache, cache_key, measure_arch
from hwsearch.latency._protocol import BURSTS
from hwsearch.latency._runtime import OpenSession, measure_onnx, time_session
from hwsearch.measurement import BURST_INTERLEAVE, Measurement, MeasureSettings

TOKEN = "a-test-token-of-enough-length"
# One speed factor per pass, as measured on this project's VM (the evidence).
PASS_SPEED = (0.81, 0.88, 0.87, 1.30, 1.14)


class FakeClock:
    """Seconds that only advance when a fake session runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeSession:
    """A model that takes ``base_ms`` times the machine's current slowness."""

    def __init__(self, base_ms: float, clock: FakeClock, slowness) -> None:
        self.base_ms, self.clock, self.slowness = base_ms, clock, slowness

    def run(self, _outputs, _feed) -> None:
        self.clock.now += self.base_ms * 1e-3 * self.slowness(self.clock.now)


def _opened(session: FakeSession, settings: MeasureSettings, label: str = "") -> OpenSession:
    return OpenSession(session, settings, 1, f"{label or 'candidate'}-sha", {}, label)  # type: ignore[arg-type]


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


def _passes(interleave: int) -> list[Measurement]:
    settings = MeasureSettings(warmup_runs=3, min_runs=40, min_time_s=0.0, max_runs=40, interleave=interleave)
    out = []
    for speed in PASS_SPEED:
        clock = FakeClock()
        # A slow wobble within the pass as well: adjacent runs share it, distant ones do not.
        slowness = lambda t, s=speed: (1 / s) * (1 + 0.08 * math.sin(t / 0.05))  # noqa: E731
        candidate = _opened(FakeSession(12.0, clock, slowness), settings)
        reference = _opened(FakeSession(3.0, clock, slowness), settings, "ref") if interleave else None
        out.append(time_session(candidate, reference, clock=clock))
    return out


# Bursts pair runs a few runs apart rather than side by side, so a fast wobble cancels a little less.
@pytest.mark.parametrize(("mode", "tolerance"), [(1, 0.01), (BURST_INTERLEAVE, 0.02)])
def test_a_synthetic_drift_is_cancelled_by_the_protocol_and_not_by_raw_timing(mode, tolerance):
    raw = _passes(interleave=0)
    paired = _passes(interleave=mode)
    assert _cv([m.median_ms for m in raw]) > 0.15  # the drift is there in raw timing
    assert _cv([m.median_ms for m in paired]) > 0.15  # and in the paired run's raw figures
    ratios = [m.drift_ratio for m in paired]
    assert _cv(ratios) < tolerance
    assert statistics.median(ratios) == pytest.approx(4.0, rel=tolerance)  # 12 ms against 3 ms
    # Corrected against one long-run median of the reference, every pass gives the same latency.
    long_run = statistics.median(m.reference_ms for m in paired)
    corrected = [replace(m, reference_long_run_ms=long_run).latency_ms for m in paired]
    assert _cv(corrected) < tolerance
    assert all(m.reference == "ref@ref-sha" and m.source == "measured" for m in paired)


class ColdSession(FakeSession):
    """A model that runs ``cold_ms`` slower when the run before it on the machine was another model's."""

    def __init__(self, base_ms: float, cold_ms: float, clock: FakeClock, history: list[object]) -> None:
        super().__init__(base_ms, clock, lambda _t: 1.0)
        self.cold_ms, self.history = cold_ms, history  # every model run on the machine, in order

    def run(self, _outputs, _feed) -> None:
        cold = bool(self.history) and self.history[-1] is not self
        self.clock.now += (self.base_ms + (self.cold_ms if cold else 0.0)) * 1e-3
        self.history.append(self)


@pytest.mark.parametrize(("mode", "expected"), [(1, 13.0 / 3.0), (BURST_INTERLEAVE, 5.0)])
def test_bursts_keep_each_network_from_being_timed_with_the_others_caches(mode, expected):
    # Warm, the candidate takes 10 ms and the reference 2 ms: the true ratio is 5. Run right
    # after the other network, each pays for refilling its caches (3 ms and 1 ms).
    clock, history = FakeClock(), []
    settings = MeasureSettings(warmup_runs=2, min_runs=40, min_time_s=0.0, max_runs=40, interleave=mode)
    candidate = _opened(ColdSession(10.0, 3.0, clock, history), settings)
    reference = _opened(ColdSession(2.0, 1.0, clock, history), settings, "ref")
    m = time_session(candidate, reference, clock=clock)
    assert m.runs == 40
    assert m.drift_ratio == pytest.approx(expected)


def test_the_reference_shares_the_time_budget_and_runs_as_often_as_the_candidate():
    clock = FakeClock()
    settings = MeasureSettings(warmup_runs=0, min_runs=5, min_time_s=0.5, max_runs=10_000)
    alone = time_session(_opened(FakeSession(10.0, clock, lambda _t: 1.0), settings), clock=clock)
    clock = FakeClock()
    paired = time_session(_opened(FakeSession(10.0, clock, lambda _t: 1.0), settings),
                          _opened(FakeSession(10.0, clock, lambda _t: 1.0), settings, "ref"), clock=clock)  # fmt: skip
    keep, discard = BURSTS[settings.interleave]
    # Half a second either way: each turn of the two is a burst, its first run dropped.
    assert alone.runs == 50 and paired.runs == 50 * keep // (2 * (keep + discard))


def test_a_real_interleaved_measurement_keeps_raw_and_corrected_figures():
    settings = replace(FAST, interleave=1)
    reference = (export_onnx(mobilenet_v1(0.25, 48, num_classes=10)), "tiny-ref")
    m = measure_onnx(export_onnx(TINY), settings, reference)
    assert m.reference.startswith("tiny-ref@") and m.reference_ms > 0 and m.drift_ratio > 0
    assert m.latency_ms == m.corrected_ms == pytest.approx(m.drift_ratio * m.reference_ms)
    assert "drift-corrected against tiny-ref" in m.uncertainty
    assert Measurement.from_json(m.to_json()) == m
    assert measure_onnx(export_onnx(TINY), FAST, reference).reference == ""  # interleave off: raw only


def test_a_reference_without_its_ratio_is_refused():
    m = measure_onnx(export_onnx(TINY), FAST)
    with pytest.raises(MeasurementError, match="drift reference"):
        replace(m, reference="ref@abc")
    with pytest.raises(SettingsError, match="interleave"):
        MeasureSettings(interleave=3)


def test_the_cache_keeps_the_reference_long_run_median(tmp_path):
    cache = LatencyCache(tmp_path / "c.sqlite")
    key = CacheKey("", "dev", "digest")
    assert [cache.log_reference(key, "ref@1", ms) for ms in (1.0, 3.0, 100.0)] == [1.0, 2.0, 3.0]
    assert cache.log_reference(replace(key, device="other"), "ref@1", 7.0) == 7.0


def test_measure_arch_interleaves_unless_a_profile_says_not_to(tmp_path):
    device = load_device(write_profile(tmp_path))  # interleaving is the default
    raw = write_profile(tmp_path, "plain-cpu")
    raw.write_text(raw.read_text() + "  interleave: false\n")
    plain = load_device(raw)
    assert device.settings.interleave == BURST_INTERLEAVE and plain.settings.interleave == 0
    assert cache_key(TINY, device).settings_digest != cache_key(TINY, plain).settings_digest
    cache = LatencyCache(tmp_path / "c.sqlite")
    first = measure_arch(TINY, device, cache=cache)
    again = measure_arch(TINY, device, cache=cache, remeasure=True)
    assert first.reference.startswith("mobilenet_v1-0.5-128@")
    assert first.reference_long_run_ms == first.reference_ms  # one session so far
    assert again.reference_long_run_ms == pytest.approx(np.median([first.reference_ms, again.reference_ms]))
    assert cache.get(cache_key(TINY, device)) == again


def test_the_agent_runs_the_same_protocol_with_the_reference_it_was_sent(tmp_path):
    device = load_device(write_profile(tmp_path))
    with running_agent(token=TOKEN) as server:
        client = AgentClient(server.url, TOKEN)
        with pytest.raises(AgentError, match="POST /reference first"):
            client.measure(export_onnx(TINY), device.settings)  # 409: no reference yet (interleave is the default)
        first = measure_arch(TINY, device, agent=client)
        held = client.info()["reference"]
        again = measure_arch(TINY, device, agent=client, remeasure=True)
    assert first.reference == held == again.reference and held.startswith("mobilenet_v1-0.5-128@")
    assert first.device == f"fast-cpu@{server.url}" and first.drift_ratio > 0
    assert again.reference_long_run_ms == pytest.approx(np.median([first.reference_ms, again.reference_ms]))


def test_an_agent_refuses_a_reference_that_is_not_a_model():
    with running_agent(token=TOKEN) as server, pytest.raises(AgentError, match="400"):
        AgentClient(server.url, TOKEN).set_reference(b"not onnx", "junk")
