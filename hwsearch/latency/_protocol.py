"""The timing protocol every measured source shares: paired rounds, the stopping rule, the record's drift fields.

Free of onnxruntime and torch, so that the ONNX Runtime path (:mod:`._runtime`) and the
PyTorch CUDA path (:mod:`._torch_cuda`) time by one rule and summarise alike.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace

from hwsearch.measurement import BURST_INTERLEAVE, Measurement, MeasureSettings

# Seeds the order of the paired runs, so that one protocol gives one sequence.
ORDER_SEED = 0
# One timed run: does one inference and returns its latency in ms.
TimedRun = Callable[[], float]
# MeasureSettings.interleave -> (runs kept, runs discarded first) each time a network's turn comes.
# Mode 1 alternates single runs, so each network starts every run with caches the other one
# filled; mode 2 gives each turn a burst whose first run refills the caches and is dropped.
BURSTS = {0: (1, 0), 1: (1, 0), BURST_INTERLEAVE: (4, 1)}
INTERLEAVE_MODES = tuple(mode for mode in BURSTS if mode)  # the modes that pair with a reference


def wall_timer(run: Callable[[], object], clock: Callable[[], float]) -> TimedRun:
    """``run`` as a :data:`TimedRun`: its time on ``clock`` around one call, in ms."""

    def timed() -> float:
        began = clock()
        run()
        return (clock() - began) * 1e3

    return timed


def timed_rounds(runs: Sequence[TimedRun], settings: MeasureSettings, clock: Callable[[], float]) -> list[list[float]]:
    """Run times in ms of each of ``runs``, one of each per round, in a seeded random order.

    Rounds go on until the first (the candidate) has both ``settings.min_runs`` runs and
    ``settings.min_time_s`` seconds have passed on ``clock``, or ``settings.max_runs`` runs.
    The time of every run counts, so pairing costs time, not extra rounds. With more than one
    network, each turn is a burst as :data:`BURSTS` gives for ``settings.interleave``; the
    lists stay aligned, the i-th run of one beside the i-th of the other.
    """
    order = random.Random(ORDER_SEED)
    keep, discard = BURSTS[settings.interleave] if len(runs) > 1 else (1, 0)
    times_ms: list[list[float]] = [[] for _ in runs]
    indices = list(range(len(runs)))
    start = clock()
    while True:
        if len(indices) > 1:
            order.shuffle(indices)
        for i in indices:
            for _ in range(discard):
                runs[i]()
            times_ms[i].extend(runs[i]() for _ in range(keep))
        count, elapsed = len(times_ms[0]), clock() - start
        if count >= settings.max_runs or (count >= settings.min_runs and elapsed >= settings.min_time_s):
            # A burst can pass max_runs; every list keeps the same length, so pairs stay adjacent in time.
            return [t[: settings.max_runs] for t in times_ms]


def with_drift(record: Measurement, reference: str, times_ms: Sequence[Sequence[float]]) -> Measurement:
    """``record`` (of ``times_ms[0]``) with the drift fields of pairing it with ``reference`` (``times_ms[1]``)."""
    ratios = [c / r for c, r in zip(times_ms[0], times_ms[1], strict=True) if r > 0]
    return replace(record, reference=reference, reference_ms=statistics.median(times_ms[1]),
                   drift_ratio=statistics.median(ratios))  # fmt: skip
