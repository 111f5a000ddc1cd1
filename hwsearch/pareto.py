"""Pareto fronts and hypervolume of accuracy (maximised) against latency (minimised).

Pure functions on plain ``(accuracy, latency_ms)`` pairs, so they are tested by equality and
reused by the search, the report and the benchmarks alike.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]  # (accuracy, latency_ms)


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as accurate and as fast as ``b``, and strictly better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points, ordered by latency (fastest first).

    Duplicates of a front point are all kept, so no point silently disappears from a table.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0]))
    front: list[int] = []
    best_accuracy = float("-inf")
    for i in order:
        accuracy, latency = points[i]
        if accuracy > best_accuracy:
            front.append(i)
            best_accuracy = accuracy
        elif front and points[front[-1]] == (accuracy, latency):
            front.append(i)
    return front


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` = (worst accuracy, worst latency_ms).

    Points not better than the reference in both objectives add nothing.
    """
    ref_accuracy, ref_latency = reference
    useful = [(a, t) for a, t in points if a > ref_accuracy and t < ref_latency]
    area = 0.0
    best = ref_accuracy
    # Sweep from the fastest point: each one adds the accuracy it gains over all faster points,
    # held from its latency up to the reference latency.
    for accuracy, latency in sorted(useful, key=lambda p: (p[1], -p[0])):
        if accuracy > best:
            area += (accuracy - best) * (ref_latency - latency)
            best = accuracy
    return area


def hypervolume_history(points: Sequence[Point], reference: Point) -> list[float]:
    """Hypervolume of the first 1, 2, ..., n points: how the front grew over a run."""
    return [hypervolume(points[: i + 1], reference) for i in range(len(points))]
