"""How faithful is the accuracy proxy, and at what cost?

Prints, for a budget (default ``standard``):
(a) Spearman between the budget and a long training of the 16 grid models plus ``--random``
    samples of the default space, on the same data. The long training is the plain network (no
    proxy shortcuts) for ``--long-factor`` x the budget's epoch-seeds (6 epochs x 1 seed -> 30
    epochs; 3 x 2 -> 30), so seed-averaged budgets meet the same reference, averaged over
    ``--long-seeds`` seeds; its results are kept in ``--long-cache`` and reused by later runs
    with the same long budget and seed;
(b) R^2 of proxy accuracy against log10(MACs) on the 16 grid;
(c) Spearman between proxy accuracy and the paper's ImageNet top-1 on the 16 grid;
(d) wall time of the 16-grid reproduction.
Goals: (a), (b), (c) >= 0.85; (d) <= 15 minutes on 2 cores.

    python benchmarks/proxy_fidelity.py [--budget standard] [--set epochs=10 ...] [--skip-long]
"""

from __future__ import annotations

import argparse
import ast
import csv
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import _cache

from hwsearch.arch import Arch
from hwsearch.data import load_dataset
from hwsearch.proxy.budgets import Budget, get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.reproduce import reproduce_grid, train_many
from hwsearch.space import RandomSuggester, load_space, sample_valid
from hwsearch.stats import spearman


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override budget fields")
    parser.add_argument("--long-factor", type=float, default=5.0,
                        help="the reference's epochs over the budget's epoch-seeds (2.5 with 2 seeds: 5x one "
                             "seed's epochs)")  # fmt: skip
    parser.add_argument(
        "--long-seeds",
        type=int,
        default=1,
        help="seeds of the long reference, averaged (each seed is trained and cached on its own)",
    )
    parser.add_argument("--random", type=int, default=8, help="random space samples added to (a)")
    parser.add_argument("--skip-long", action="store_true", help="only (b), (c), (d)")
    parser.add_argument("--csv", type=Path, help="append per-model rows to this CSV")
    parser.add_argument("--long-cache", type=Path, default=Path("results/proxy_fidelity/long_pct.csv"),
                        help="results of long trainings, reused when the long budget matches")  # fmt: skip
    args = parser.parse_args()

    overrides = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    budget = get_budget(args.budget).with_overrides(**overrides)
    print(f"budget: {budget}")
    dataset = load_dataset()
    data = ProxyData.from_dataset(dataset, budget)

    def progress(i: int, n: int, r: object) -> None:
        print(f"  [{i:2d}/{n}] {r.accuracy_pct:5.2f}%  {r.train_seconds:5.1f}s  {r.arch}", flush=True)

    rep = reproduce_grid(data, budget, progress)
    print("\nalpha  res   MMACs  proxy%  imagenet%")
    for row in rep.rows:
        mmacs = row.macs / 1e6
        print(
            f"{row.alpha:5.2f} {row.resolution:4d} {mmacs:7.1f} {row.proxy_accuracy_pct:7.2f} "
            f"{row.imagenet_top1_pct:8.1f}"
        )
    fit = rep.fit
    print(
        f"\n(b) R^2 of proxy accuracy vs log10(MACs), 16 grid: {fit.r2:.3f} (slope {fit.slope:.2f} points/decade; "
        f"paper's own: R^2 {rep.paper_fit.r2:.3f}, {rep.paper_fit.slope:.1f} points/decade)"
    )
    print(f"(c) Spearman proxy vs ImageNet top-1, 16 grid: {rep.spearman_imagenet:.3f}")
    print(
        f"(d) wall time, 16-grid '{budget.name}' reproduction: {rep.wall_seconds:.0f} s "
        f"({rep.wall_seconds / 60:.1f} min)"
    )
    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["budget", "overrides", "alpha", "resolution", "macs", "proxy", "imagenet", "seconds"])
            for row in rep.rows:
                writer.writerow(
                    [
                        budget.name,
                        args.set,
                        row.alpha,
                        row.resolution,
                        row.macs,
                        row.proxy_accuracy_pct,
                        row.imagenet_top1_pct,
                        round(row.train_seconds, 2),
                    ]
                )
    if args.skip_long:
        return

    space = load_space()
    rng = RandomSuggester(2026)
    extra = [sample_valid(space, rng) for _ in range(args.random)]
    short_extra = train_many(extra, data, budget, progress)
    # The reference is the plain network trained long, what a short proxy stands in for: shortcuts only
    # ease a short schedule, so the long one goes without them.
    long_budget = budget.with_overrides(
        name=f"{budget.name}-long",
        epochs=round(budget.epochs * budget.seeds * args.long_factor),
        seeds=1,
        shortcuts=False,
    )
    print(
        f"long reference: {long_budget.epochs} epochs x {args.long_seeds} seed(s) "
        f"({args.long_factor:g}x the budget's epoch-seeds)"
    )
    archs = [row.arch for row in rep.rows]
    start = time.perf_counter()
    long_acc = long_accuracies(
        [Arch.from_str(a) for a in archs] + extra,
        data,
        long_budget,
        seeds=args.long_seeds,
        cache=args.long_cache,
        progress=progress,
    )
    short_acc = [row.proxy_accuracy_pct for row in rep.rows] + [r.accuracy_pct for r in short_extra]
    print(
        f"\n(a) Spearman '{budget.name}' vs {long_budget.epochs}-epoch training x {args.long_seeds} seed(s), "
        f"{len(archs)} grid + {len(extra)} random: {spearman(short_acc, long_acc):.3f}  "
        f"(long training took {time.perf_counter() - start:.0f} s)"
    )


def long_accuracies(archs: list[Arch], data: ProxyData, budget: Budget, *, seeds: int, cache: Path,
                    progress: Callable[..., None]) -> list[float]:  # fmt: skip
    """Mean accuracy of each arch over ``seeds`` one-seed trainings under the long ``budget``.

    Each seed is its own cached training (``budget.seed`` 0, 1, ...), so adding a seed to the
    reference trains only that seed.
    """
    per_seed = []
    for seed in range(seeds):
        one = budget.with_overrides(seed=seed)
        known = _cache.load(cache, one)
        missing = [a for a in archs if a.to_str() not in known]
        print(f"long training, seed {seed}: {len(archs) - len(missing)} of {len(archs)} from {cache}, "
              f"{len(missing)} to train")  # fmt: skip
        for arch in missing:
            result = train_many([arch], data, one)[0]
            progress(len(known) + 1, len(archs), result)
            known[arch.to_str()] = trained = _cache.Trained(result.accuracy_pct, 0.0, result.train_seconds)
            _cache.append(cache, one, arch.to_str(), trained)
        per_seed.append([known[a.to_str()].accuracy_pct for a in archs])
    return [statistics.fmean(column) for column in zip(*per_seed, strict=True)]


if __name__ == "__main__":
    main()
