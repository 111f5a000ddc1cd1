"""Does a second calibration point off the recipe ever make the few-shot predictor worse than one point?

Issue goal: a predictor that never gets worse with more points. ``predictor_loo.py`` checks
it for the README's recipe (1.0-224, then 0.25-224); a user's own benchmark may give any
second network. For each of the three 16-point Raspberry Pi 4 grids held out (nested: the
prior's hyperparameters are chosen without it), this calibrates on 1.0-224 plus each of the
other 15 grid networks in turn and prints the mean error on the rest beside the one-point
error, for two rules:

* **chosen**: the predictor as shipped, one :class:`~hwsearch.latency._fitting.Hyper`, the
  lowest cross-validated error (``hwsearch.latency._crossval.choose_hyper``);
* **top-M average**: the log predictions of the M best hyperparameters of the same
  ranking averaged (a plain model average; M from ``--top``).

A cell counts as worse when the two-point mean error exceeds that grid's one-point error.

Cheap (about 40 s on 2 cores): ``python benchmarks/predictor_robust.py [--top 1 3 8]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
from predictor_loo import is_grid
from predictor_oracle import FIRST, GRID

from hwsearch.latency import family_pool, family_profiles
from hwsearch.latency._corpus import ConfigGroup
from hwsearch.latency._crossval import (
    HYPER_GRID,
    SELECT_KS,
    UNTESTED_SETTING_SHARE,
    Recipe,
    holdout_rows,
    loo_rows,
    score,
    settings_shared,
    structural_center,
)
from hwsearch.latency._fitting import Hyper


def averaged_error(
    held: ConfigGroup, others: Sequence[ConfigGroup], hypers: Sequence[Hyper], center: np.ndarray, recipe: Recipe,
    *, k: int,
) -> tuple[float, float]:  # fmt: skip
    """Mean |error| and share within ±10% of ``held`` at ``k``, log predictions averaged over ``hypers``."""
    runs = [holdout_rows(held, others, h, center, ks=(k,), recipe=recipe) for h in hypers]
    log_p = np.mean([[np.log(r.predicted_ms) for r in rows] for rows in runs], axis=0)
    truth = np.array([r.latency_ms for r in runs[0]])
    err = np.abs(100.0 * (np.exp(log_p) / truth - 1.0))
    return float(err.mean()), float(np.mean(err <= 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, nargs="+", default=[1, 3, 8], help="M of the top-M averages (1: chosen)")
    args = parser.parse_args()
    groups, _ = family_pool("arm-cpu", family_profiles())
    center = structural_center("arm-cpu")
    seconds = [p for p in GRID if p != FIRST]
    table: dict[int, dict[str, list[float]]] = {m: {} for m in args.top}
    one_point: dict[str, float] = {}
    for i, held in enumerate(groups):
        if not is_grid(held.name):
            continue
        others = [g for j, g in enumerate(groups) if j != i]
        shared = settings_shared(others)
        grid = [h for h in HYPER_GRID if shared or h.setting_share == UNTESTED_SETTING_SHARE]
        ranked = sorted(grid, key=lambda h: score(loo_rows(others, h, center, SELECT_KS)))
        short = held.name.split(" / ")[1].split(",")[0]
        one_point[short] = averaged_error(held, others, ranked[:1], center, (FIRST,), k=1)[0]
        for m in args.top:
            table[m][short] = [averaged_error(held, others, ranked[:m], center, (FIRST, s), k=2)[0] for s in seconds]
    names = list(one_point)
    print("Mean |error| on the held-out rest, calibrated on 1.0-224 + the second point (nested):")
    print("  one point: " + ", ".join(f"{n} {one_point[n]:.1f}%" for n in names))
    for m in args.top:
        rule = "chosen (as shipped)" if m == 1 else f"top-{m} average"
        print(f"\n  {rule}")
        print(f"    {'second':>9} " + " ".join(f"{n[:24]:>24}" for n in names))
        worse = 0
        for j, (a, r) in enumerate(seconds):
            cells = [table[m][n][j] for n in names]
            worse += sum(c > one_point[n] for c, n in zip(cells, names, strict=True))
            marks = [f"{c:>23.1f}%" + ("*" if c > one_point[n] else " ") for c, n in zip(cells, names, strict=True)]
            print(f"    {a:g}-{r:<5} " + "".join(marks))
        every = np.array([table[m][n] for n in names])
        print(f"    worse than one point (*): {worse} of {every.size} cells; worst {every.max():.1f}%; "
              f"mean over second points {every.mean():.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
