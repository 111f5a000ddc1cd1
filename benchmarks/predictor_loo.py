"""Leave-one-configuration-out accuracy of the few-shot predictor on every published grid.

For each configuration (one board in one runtime configuration) with two or more published
networks: fit the family prior *without* it (choosing the prior's strength again by
cross-validation on the others: nested), drawn toward the configurations left in its
runtime setting (kernel library, precision, one thread or more), calibrate it on k of its
points, predict its other points. The k points are the first k of the README's recipe
(``hwsearch.latency.RECIPE``) that the configuration has. Beside each figure, the MACs
line given the same points (k = 1: latency proportional to MACs; k >= 2: affine least
squares in MACs).

Tables: the ARM CPU grids (the three full 16-point MLPerf grids of one Raspberry Pi 4:
ArmNN fp32, TFLite fp32, TFLite uint8; the goals are averaged over them), every ARM CPU
configuration (Pixel 3 and Pixel 2 too), and the NVIDIA GPU points (the Jetson TX2's
three configurations of three networks each). Each configuration weighs the same.

Cheap (no measurement; about 15 s of fitting on 2 cores):

    python benchmarks/predictor_loo.py [--points-per-config] [--pair-1.0-224-0.25-128]

``--write-checks`` also rewrites ``hwsearch/reference/predictor_checks.json``, the stored
result of this check that gives every prediction its expected error (see
``hwsearch.latency._checks``); run it after changing the published points or the method.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from hwsearch.latency import RECIPE, CvRow, configuration_loo, family_pool, family_profiles, summarize
from hwsearch.latency._checks import CHECKS_FILE, write_checks
from hwsearch.latency._corpus import FAMILIES
from hwsearch.latency._crossval import Recipe

KS = (1, 2, 3, 4, 6, 8)
ISSUE_RECIPE: Recipe = ((1.0, 224), (0.25, 128), (1.0, 128), (0.25, 224), (0.5, 160), (0.75, 192), (0.5, 224))


def label(alpha: float, resolution: int) -> str:
    """``1.0-224``, ``0.25-128``."""
    return f"{alpha:.1f}-{resolution}" if alpha == int(alpha) else f"{alpha:g}-{resolution}"


def is_grid(group: str) -> bool:
    """The three 16-point MLPerf grids of the Raspberry Pi 4."""
    return group.startswith("raspberry-pi-4 / ") and ("ArmNN" in group or "TFLite 1.15" in group)


def print_table(title: str, rows: list[CvRow], ks: tuple[int, ...]) -> dict[int, object]:
    """One line per k: predictor and MACs line side by side, averaged over configurations."""
    print(f"\n{title}")
    print(f"  {'k':>2} {'configs':>7} {'points':>6} | {'±10%':>5} {'±20%':>5} {'mean err':>8} {'Spearman':>8} | "
          f"{'MACs ±10%':>9} {'±20%':>5} {'mean err':>8} {'Spearman':>8}")  # fmt: skip
    out = {}
    for k in ks:
        s = summarize(rows, k)
        if s is None:
            continue
        out[k] = s
        print(f"  {k:>2} {s.configurations:>7} {s.points:>6} | {s.within10:>5.0%} {s.within20:>5.0%} "
              f"{s.mae_pct:>7.1f}% {s.spearman:>8.3f} | {s.macs_within10:>9.0%} {s.macs_within20:>5.0%} "
              f"{s.macs_mae_pct:>7.1f}% {s.macs_spearman:>8.3f}")  # fmt: skip
    return out


def print_per_config(rows: list[CvRow], ks: tuple[int, ...], settings: dict[str, str | None]) -> None:
    """Mean |error| and share within ±10% of each configuration at each k, with its runtime setting."""
    groups = list(dict.fromkeys(r.group for r in rows))
    print("\n  per configuration (mean |error| / within ±10%; MACs line in brackets):")
    for g in groups:
        print(f"    {g} [setting: {settings.get(g) or 'unknown'}]")
        cells = []
        for k in ks:
            mine = [r for r in rows if r.group == g and r.k == k]
            if mine:
                err = np.abs([r.error_pct for r in mine])
                macs = np.abs([r.macs_error_pct for r in mine])
                cells.append(f"k={k}: {err.mean():4.1f}%/{np.mean(err <= 10):4.0%} ({macs.mean():4.1f}%)")
        print("      " + "  ".join(cells))


def goals(arm: dict[int, object]) -> None:
    """The issue's goals on the ARM CPU grids."""
    k1, k2 = arm.get(1), arm.get(2)
    print("\nGoals (averaged over the ARM CPU grids):")
    if k2 is not None:
        ok = k2.within10 >= 0.8
        print(f"  k=2: >= 80% within ±10%: {k2.within10:.0%} -> {'met' if ok else 'MISSED'}")
        ok = k2.mae_pct <= 0.5 * k2.macs_mae_pct
        print(f"  k=2: mean error <= half the MACs line's ({k2.macs_mae_pct:.1f}% / 2 = {k2.macs_mae_pct / 2:.1f}%): "
              f"{k2.mae_pct:.1f}% -> {'met' if ok else 'MISSED'}")  # fmt: skip
    if k1 is not None:
        print(f"  k=1: mean error <= 12%: {k1.mae_pct:.1f}% -> {'met' if k1.mae_pct <= 12 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-config", action="store_true", help="also print each configuration's errors")
    parser.add_argument("--pair-1.0-224-0.25-128", dest="issue_pair", action="store_true",
                        help="also calibrate k=2 on 1.0-224 and 0.25-128 (the issue's pair)")  # fmt: skip
    parser.add_argument("--write-checks", action="store_true", help=f"rewrite hwsearch/reference/{CHECKS_FILE}")
    args = parser.parse_args()
    profiles = family_profiles()
    settings = {g.name: g.setting for f in FAMILIES for g in family_pool(f, profiles)[0]}
    if args.write_checks:
        path = Path(str(resources.files("hwsearch.reference").joinpath(CHECKS_FILE)))
        write_checks(path, {f: family_pool(f, profiles)[0] for f in FAMILIES})
        print(f"wrote {path}")
    print("Calibration points, in order (the README recipe): " + ", ".join(label(a, r) for a, r in RECIPE))

    arm_rows = configuration_loo("arm-cpu", profiles, KS)
    grid_rows = [r for r in arm_rows if is_grid(r.group)]
    arm = print_table("ARM CPU grids (3 full 16-point grids, Raspberry Pi 4: ArmNN fp32, TFLite fp32, TFLite uint8)",
                      grid_rows, KS)  # fmt: skip
    if args.points_per_config:
        print_per_config(grid_rows, KS, settings)
    print_table("All ARM CPU configurations (+ Pixel 3 TFLite 4 points, Pixel 2 TFLite 2 points)", arm_rows, KS)
    goals(arm)

    gpu_rows = configuration_loo("nvidia-gpu", profiles, (1, 2))
    print_table("NVIDIA GPU points (Jetson TX2: TensorRT, TF-TRT, TensorFlow; 1.0-224, 0.5-160, 0.25-128 each)",
                gpu_rows, (1, 2))  # fmt: skip
    if args.points_per_config:
        print_per_config(gpu_rows, (1, 2), settings)

    if args.issue_pair:
        rows = [r for r in configuration_loo("arm-cpu", profiles, (2,), ISSUE_RECIPE) if is_grid(r.group)]
        print_table("ARM CPU grids, k=2 calibrated on 1.0-224 and 0.25-128 instead", rows, (2,))
        if args.points_per_config:
            print_per_config(rows, (2,), settings)


if __name__ == "__main__":
    main()
