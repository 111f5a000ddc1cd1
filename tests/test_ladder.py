"""The ladder's decisions on hand-made rungs, with answers worked out by hand."""

from __future__ import annotations

from hwsearch.search.ladder import Standing, confirmations, front, near_front, promotions

# A rung of eight networks: a front of four spread from 1 to 8 ms, and four behind it.
RUNG = [
    Standing("fast", 70.0, 1.0), Standing("mid", 80.0, 2.0), Standing("mid2", 81.0, 2.2),
    Standing("slow", 90.0, 8.0), Standing("behind-fast", 65.0, 1.2), Standing("behind-mid", 79.8, 2.5),
    Standing("behind-slow", 85.0, 9.0), Standing("worst", 50.0, 9.5),
]  # fmt: skip


def test_promotion_takes_the_best_share_spread_over_the_latency_range():
    # A quarter of eight: the front's two ends, fast and slow, not its two crowded middle points.
    assert promotions(RUNG, 0.25, promoted=()) == ["fast", "slow"]
    # Then the inner points by crowding: mid2's neighbours (mid, slow) span 0.5 of the accuracy range
    # and 6/7 of the latency range (1.36 in all); mid's (fast, mid2) 0.55 and 1.2/7 (0.72).
    assert promotions(RUNG, 0.5, promoted=()) == ["fast", "slow", "mid2", "mid"]


def test_promotion_never_repeats_and_grows_with_the_rung():
    assert promotions(RUNG, 0.25, promoted={"fast"}) == ["slow"]
    assert promotions(RUNG[:3], 0.25, promoted=()) == []  # floor(0.75): nothing yet
    # once nothing more will be explored, the share rounds up: a short run still reaches the top rung
    assert len(promotions(RUNG[:3], 0.25, promoted=(), final=True)) == 1
    assert len(promotions(RUNG, 0.25, promoted=(), final=True)) == 2  # 0.25 x 8 is exact: no extra
    assert len(promotions(RUNG * 1, 1.0, promoted=())) == 8


def test_the_front_and_the_networks_within_a_margin_of_it():
    assert front(RUNG) == ["fast", "mid", "mid2", "slow"]
    # behind-mid is 1.2 points below mid2 at 2.5 ms: near with a 1.5-point margin, not with 0.5.
    assert near_front(RUNG, 0.5) == ["fast", "mid", "mid2", "slow"]
    assert near_front(RUNG, 1.5) == ["fast", "mid", "mid2", "slow", "behind-mid"]
    assert "worst" not in near_front(RUNG, 30.0)  # slow beats it by 40 points


def test_confirmation_asks_only_for_the_seeds_that_are_missing():
    rung = [Standing(s.arch, s.accuracy_pct, s.latency_ms, seeds=2 if s.arch == "mid" else 1) for s in RUNG]
    assert confirmations(rung, 0.5, seeds=2) == ["fast", "mid2", "slow"]
    assert confirmations(rung, 0.5, seeds=1) == []
