from __future__ import annotations

import itertools
import random

import pytest

from hwsearch.pareto import dominates, hypervolume, hypervolume_history, pareto


def brute_front(points):
    return {i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)}


def test_pareto_small_case():
    points = [(0.9, 10.0), (0.8, 5.0), (0.85, 12.0), (0.95, 20.0), (0.7, 5.0), (0.8, 5.0)]
    # (0.85, 12) is dominated by (0.9, 10); (0.7, 5) by (0.8, 5); the duplicate (0.8, 5) stays.
    assert pareto(points) == [1, 5, 0, 3]


def test_pareto_matches_brute_force():
    rng = random.Random(3)
    for _ in range(50):
        points = [(rng.choice([0.5, 0.6, 0.7, 0.8]), rng.choice([1.0, 2.0, 3.0])) for _ in range(12)]
        assert set(pareto(points)) == brute_front(points)


def test_hypervolume_closed_form():
    # Two steps: (0.8, 2) and (0.9, 6) against reference (0.5, 10):
    # 0.3 * 8 from the first, plus (0.9 - 0.8) * 4 from the second.
    assert hypervolume([(0.8, 2.0), (0.9, 6.0)], (0.5, 10.0)) == pytest.approx(2.4 + 0.4)
    # A dominated point and points beyond the reference add nothing.
    assert hypervolume([(0.8, 2.0), (0.9, 6.0), (0.7, 7.0), (0.99, 11.0), (0.4, 1.0)], (0.5, 10.0)) == pytest.approx(
        2.8
    )
    assert hypervolume([], (0.5, 10.0)) == 0.0


def test_hypervolume_is_order_independent_and_monotone():
    points = [(0.6, 3.0), (0.9, 9.0), (0.75, 5.0), (0.8, 4.0)]
    reference = (0.0, 10.0)
    values = {round(hypervolume(list(p), reference), 12) for p in itertools.permutations(points)}
    assert len(values) == 1
    history = hypervolume_history(points, reference)
    assert history == sorted(history) and history[-1] == pytest.approx(hypervolume(points, reference))


def test_nondominated_ranks_peel_fronts_in_order():
    from hwsearch.pareto import nondominated_ranks

    points = [(90.0, 3.0), (80.0, 1.0), (85.0, 2.0), (70.0, 2.0), (60.0, 3.0), (80.0, 1.0)]
    # Front: the three on the staircase and the duplicate of (80, 1); then (70, 2); then (60, 3).
    assert nondominated_ranks(points) == [0, 0, 0, 1, 2, 0]


def test_crowding_keeps_the_ends_and_measures_the_gaps():
    import math

    from hwsearch.pareto import crowding_distances

    front = [(70.0, 1.0), (80.0, 2.0), (82.0, 3.0), (90.0, 5.0)]
    d = crowding_distances(front)
    assert d[0] == d[3] == math.inf
    # (neighbours' accuracy gap / accuracy span) + (neighbours' latency gap / latency span)
    assert d[1] == (82 - 70) / 20 + (3 - 1) / 4
    assert d[2] == (90 - 80) / 20 + (5 - 2) / 4
    assert crowding_distances(front[:2]) == [math.inf, math.inf]


def test_promotion_order_is_rank_first_then_crowding():
    from hwsearch.pareto import promotion_order

    points = [(70.0, 1.0), (80.0, 2.0), (82.0, 3.0), (90.0, 5.0), (60.0, 4.0), (75.0, 2.5)]
    order = promotion_order(points)
    assert set(order[:4]) == {0, 1, 2, 3} and order[:2] == [0, 3]  # the front's two ends first
    # Then its most isolated inner point: (82, 3) has 10/20 + 3/4 = 1.25 around it, (80, 2) 12/20 + 2/4 = 1.1.
    assert order[2:4] == [2, 1]
    assert order[4:] == [5, 4]  # rank 1 before rank 2
