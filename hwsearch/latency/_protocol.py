"""The timing protocol every measured source shares: paired rounds, the stopping rule, the record's drift fields.

Free of onnxruntime and torch, so that the ONNX Runtime path (:mod:`._runtime`) and the
PyTorch CUDA path (:mod:`._torch_cuda`) time by one rule and summarise alike.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace

from hwsearch.measurement import Measurement, MeasureSettings

# Seeds the order of the paired runs, so that one protocol gives one sequence.
ORDER_SEED = 0
# One timed run: does one inference and returns its latency in ms.
TimedRun = Callable[[], float]


def timed_rounds(runs: Sequence[TimedRun], settings: MeasureSettings, clock: Callable[[], float]) -> list[list[float]]:
    """Run times in ms of each of ``runs``, one of each per round, in a seeded random order.

    Rounds go on until the first (the candidate) has both ``settings.min_runs`` runs and
    ``settings.min_time_s`` seconds have passed on ``clock``, or ``settings.max_runs`` runs.
    The time of every run counts, so pairing costs time, not extra rounds.
    """
    order = random.Random(ORDER_SEED)
    times_ms: list[list[float]] = [[] for _ in runs]
    indices = list(range(len(runs)))
    start = clock()
    while True:
        if len(indices) > 1:
            order.shuffle(indices)
        for i in indices:
            times_ms[i].append(runs[i]())
        count, elapsed = len(times_ms[0]), clock() - start
        if count >= settings.max_runs or (count >= settings.min_runs and elapsed >= settings.min_time_s):
            return times_ms


def with_drift(record: Measurement, reference: str, times_ms: Sequence[Sequence[float]]) -> Measurement:
    """``record`` (of ``times_ms[0]``) with the drift fields of pairing it with ``reference`` (``times_ms[1]``)."""
    ratios = [c / r for c, r in zip(times_ms[0], times_ms[1], strict=True) if r > 0]
    return replace(record, reference=reference, reference_ms=statistics.median(times_ms[1]),
                   drift_ratio=statistics.median(ratios))  # fmt: skip
