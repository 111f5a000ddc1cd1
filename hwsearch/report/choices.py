"""Which network of a front to pick: its knee, and the fastest one close to the best (pure, no drawing).

Both work on a front as plain ``(accuracy_pct, latency_ms)`` pairs, so they are tested on
closed-form cases and shared by the report, the plots and the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hwsearch.errors import HwsearchError

# How many accuracy points below the best a "fastest network within X points" may be, by default.
DEFAULT_WITHIN_PCT = 1.0
# A knee needs a bend: with fewer points the front is a straight line.
KNEE_MIN_POINTS = 3


class ChoiceError(HwsearchError, ValueError):
    """A pick asked of a front with a setting outside its range."""


def knee_index(accuracy_pct: Sequence[float], latency_ms: Sequence[float]) -> int | None:
    """Index of the front's knee, or ``None`` when it has fewer than three points or does not bend.

    The front is put on the plots' axes, log latency (a twice-as-fast network costs the same
    at 2 ms as at 20 ms) against accuracy, both scaled to [0, 1] over the front; the knee is the
    point farthest above the chord from the fastest to the most accurate network, where a
    step towards speed starts to cost more accuracy than it did.
    """
    if len(accuracy_pct) != len(latency_ms):
        raise ChoiceError("accuracy and latency differ in length", value=(len(accuracy_pct), len(latency_ms)))
    if len(accuracy_pct) < KNEE_MIN_POINTS:
        return None
    for value in latency_ms:
        if not value > 0:
            raise ChoiceError(f"latency {value!r} ms is not positive", value=value)
    xs = [math.log10(value) for value in latency_ms]
    ys = [float(value) for value in accuracy_pct]
    x_span, y_span = max(xs) - min(xs), max(ys) - min(ys)
    if x_span == 0 or y_span == 0:
        return None
    fastest = min(range(len(xs)), key=lambda i: (xs[i], -ys[i]))
    best = max(range(len(ys)), key=lambda i: (ys[i], -xs[i]))
    x0, y0 = (xs[fastest] - min(xs)) / x_span, (ys[fastest] - min(ys)) / y_span
    x1, y1 = (xs[best] - min(xs)) / x_span, (ys[best] - min(ys)) / y_span
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return None
    # Signed distance above the chord: positive for points that bulge towards (fast, accurate).
    heights = [(((x1 - x0) * ((y - min(ys)) / y_span - y0)) - ((y1 - y0) * ((x - min(xs)) / x_span - x0))) / length
               for x, y in zip(xs, ys, strict=True)]  # fmt: skip
    knee = max(range(len(heights)), key=lambda i: (heights[i], -xs[i]))
    return knee if heights[knee] > 1e-9 else None


def fastest_within_index(accuracy_pct: Sequence[float], latency_ms: Sequence[float], within_pct: float) -> int | None:
    """Index of the fastest network at most ``within_pct`` accuracy points below the best; ``None`` if empty.

    Of equally fast ones, the more accurate. The best itself qualifies, so an answer always exists.
    """
    if len(accuracy_pct) != len(latency_ms):
        raise ChoiceError("accuracy and latency differ in length", value=(len(accuracy_pct), len(latency_ms)))
    if not (math.isfinite(within_pct) and within_pct >= 0):
        raise ChoiceError(f"{within_pct!r} accuracy points is not a distance below the best", value=within_pct,
                          hint="a number of points, 0 or more")  # fmt: skip
    if not accuracy_pct:
        return None
    floor = max(accuracy_pct) - within_pct
    close = [i for i, value in enumerate(accuracy_pct) if value >= floor - 1e-9]
    return min(close, key=lambda i: (latency_ms[i], -accuracy_pct[i]))
