"""Pareto fronts and hypervolume of accuracy (maximised) against latency (minimised).

Pure functions on plain ``(accuracy, latency_ms)`` pairs, so they are tested by equality and
reused by the search, the report and the benchmarks alike.
"""

from __future__ import annotations

import math
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


def nondominated_ranks(points: Sequence[Point]) -> list[int]:
    """NSGA-II's non-dominated sorting: 0 for the front, 1 for the front of the rest, and so on."""
    ranks = [-1] * len(points)
    left = list(range(len(points)))
    rank = 0
    while left:
        layer = [left[i] for i in pareto([points[j] for j in left])]
        for i in layer:
            ranks[i] = rank
        chosen = set(layer)
        left = [i for i in left if i not in chosen]
        rank += 1
    return ranks


def crowding_distances(points: Sequence[Point]) -> list[float]:
    """NSGA-II's crowding distance of each point within ``points`` (one front): how alone it stands.

    The two ends of each objective get infinity, so a front's extremes are always kept; the
    others, the sum over objectives of the gap between their neighbours, over that objective's span.
    """
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for k in range(2):
        order = sorted(range(n), key=lambda i: points[i][k])
        span = points[order[-1]][k] - points[order[0]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span == 0:
            continue
        for before, here, after in zip(order, order[1:], order[2:], strict=False):
            distance[here] += (points[after][k] - points[before][k]) / span
    return distance


def promotion_order(points: Sequence[Point]) -> list[int]:
    """Indices best first: by non-dominated rank, then by crowding distance within the rank (MOASHA's order).

    Crowding spreads a promotion over the whole latency range instead of the fastest networks only.
    """
    ranks = nondominated_ranks(points)
    crowding = [0.0] * len(points)
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        for i, d in zip(members, crowding_distances([points[i] for i in members]), strict=True):
            crowding[i] = d
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowding[i], i))
