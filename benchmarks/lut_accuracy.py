"""How well does a device's per-layer lookup table predict whole-network latency?

1. Build (or resume) the lookup table of ``--device`` for ``--space``: every distinct layer,
   the boundary references and the anchor networks (``hwsearch profile`` does the same).
2. Sample ``--n`` random architectures of the space (seed ``--seed``, never the anchors'),
   predict each from the table and measure it afresh (no cache).
3. Print the share within +-10 %, the mean absolute percentage error, the rank correlation,
   and the same for the plain sum of layers (no overhead fit) to show what the fit adds;
   write the rows as CSV and a predicted-vs-measured scatter as PNG.

Goal: at least 95 % within +-10 % (nn-Meter reports 99.0 % for its kernel-level predictor
on a Cortex-A76 CPU). Timings need a quiet machine: the load average is printed, and a
busy one makes both the table and the measurements wrong.

Full run on this machine's CPU (about 20-25 minutes for the table of the default space at
the profile's settings, then about a minute for the 50 networks; resumable):

    python benchmarks/lut_accuracy.py --device local-cpu --n 50

A reduced check: ``--space PATH_TO_TINY.yaml --n 5``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from hwsearch.devices import load_device
from hwsearch.latency import (
    DEFAULT_ANCHORS,
    Estimator,
    LayerTable,
    ValidationResult,
    ValidationRow,
    build_table,
    lut_path,
    sample_archs,
    validate,
    write_rows,
)
from hwsearch.report.latency_plots import plot_validation
from hwsearch.space import load_space
from hwsearch.stats import spearman

GOAL = 0.95
NN_METER = "nn-Meter: 99.0% within +-10% on a Cortex-A76 CPU (kernel-level predictors)"


def load_note() -> str:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = "  [BUSY: timings unreliable]" if load > 0.5 * cores else ""
    return f"load average {load:.2f} on {cores} cores{busy}"


def progress(done: int, total: int, entry: str) -> None:
    if done == total or done % 50 == 0:
        print(f"  table: {done}/{total} {entry}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="local-cpu", help="device profile name or YAML (default local-cpu)")
    parser.add_argument("--space", default="mobilenet_v1", help="search space name or YAML")
    parser.add_argument("--n", type=int, default=50, help="architectures to check (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    parser.add_argument("--min-time-s", type=float, help="timing floor per table entry (default: the profile's)")
    parser.add_argument("--anchors", type=int, default=DEFAULT_ANCHORS, help="anchor networks for the overhead fit")
    parser.add_argument("--table", type=Path, help="table file (default device_profiles/DEVICE.lut.csv)")
    parser.add_argument("--out", type=Path, default=Path("results/lut_accuracy"), help="output folder")
    args = parser.parse_args()

    device = load_device(args.device)
    space = load_space(args.space)
    path = args.table or lut_path(device)
    print(f"device {device.name}, space {space.name}, table {path}; {load_note()}")
    built = build_table(device, space, path=path, min_time_s=args.min_time_s, anchors=args.anchors, progress=progress)
    print(
        f"table: {built.measured} entries measured in {built.seconds:.0f} s, {built.already} already there, "
        f"{built.noisy} noisy (CV > 5%)"
    )
    table = LayerTable.load(path)
    fit = table.overhead
    print(
        f"overhead fit on {len(fit.residuals_pct)} anchors: a {fit.a:.3f}, phi {fit.phi:.3f}, c {fit.c_ms:.3f} ms; "
        f"anchor residuals rms {fit.rms_pct:.1f}%, max {fit.max_pct:.1f}%"
    )

    anchors = set(table.nets)
    archs = [a for a in sample_archs(space, args.n + len(anchors), args.seed) if a.to_str() not in anchors][: args.n]
    started = time.perf_counter()

    def show(i: int, n: int, row: ValidationRow) -> None:
        print(
            f"  [{i:2d}/{n}] measured {row.measured.median_ms:8.3f} ms  lut {row.predicted.median_ms:8.3f} ms  "
            f"{row.error_pct:+6.1f}%  cv {row.measured.cv:.1%}  {row.arch}",
            flush=True,
        )

    result = validate(device, archs, source="lut", progress=show, estimator=Estimator(device, lut_path=path))
    print(f"measured {len(archs)} networks in {time.perf_counter() - started:.0f} s; {load_note()}")
    report(result, table)
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = write_rows(result, args.out / f"{device.name}.csv")
    title = result.title(space.name)
    png = plot_validation(
        [r.measured.median_ms for r in result.rows],
        [r.predicted.median_ms for r in result.rows],
        args.out / f"{device.name}.png",
        title=title,
        source="lut",
    )
    print(f"wrote {csv_path} and {png}")


def report(result: ValidationResult, table: LayerTable) -> None:
    measured = [r.measured.median_ms for r in result.rows]
    plain = [table.sums(r.arch)[0] for r in result.rows]
    plain_errors = [abs(p / m - 1) * 100 for p, m in zip(plain, measured, strict=True)]
    share = result.within()
    verdict = "meets" if share >= GOAL else "misses"
    print(f"\nwithin ±10%: {share:.1%} of {len(result.rows)} ({verdict} the {GOAL:.0%} goal; {NN_METER})")
    print(f"mean absolute percentage error: {result.mape:.1f}%; Spearman: {result.spearman:.3f}")
    if len(plain) >= 2:
        within_plain = sum(e <= 10 for e in plain_errors) / len(plain_errors)
        print(
            f"plain sum of layers (no overhead fit): within ±10% {within_plain:.1%}, "
            f"MAPE {sum(plain_errors) / len(plain_errors):.1f}%, Spearman {spearman(plain, measured):.3f}"
        )
    if result.noisy:
        print(f"{result.noisy} of {len(result.rows)} measurements had CV above 5%: the machine was busy")


if __name__ == "__main__":
    main()
