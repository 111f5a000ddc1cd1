"""How steep can a front be? Accuracy against log10(MACs) along run fronts and along the front of all of them.

For each finished run folder given, the confirmed front at its top rung (the report's), with
its slope in accuracy points per decade of MACs and R². Then every network that any of the
runs trained at the top rung is pooled (its seeds averaged over all runs), and the front of
that pool is fitted the same way: the best front these searches found between them. Last, the
steepest stretch of the pooled front that the issue's goal would accept (at least
``--min-networks`` consecutive front networks spanning at least ``--min-span`` x in MACs).

A run's front always holds its fastest and its most accurate network, so its slope is set by
how much accuracy the fastest networks give up. A search that finds better fast networks
makes its front flatter; only a worse one makes it steeper. If no stretch of the pooled front
reaches a slope, no thorough search on the same proxy and device will.

No training: it reads the studies.

    python benchmarks/front_slope.py RUN [RUN ...] [--min-span 10] [--min-networks 6]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.search import Session
from hwsearch.search.ladder import Standing, front
from hwsearch.stats import log_macs_fit


def macs_of(arch: str) -> float:
    """Multiply-accumulates of one architecture string."""
    return float(count_cost(Arch.from_str(arch)).macs)


def describe(label: str, standings: list[Standing]) -> None:
    """One line: the front of ``standings``, its MACs span, slope and R²."""
    on = front(standings)
    by_arch = {s.arch: s for s in standings}
    macs = [macs_of(a) for a in on]
    accuracy = [by_arch[a].accuracy_pct for a in on]
    if len(on) < 3:
        print(f"  {label}: front of {len(on)}, too few to fit")
        return
    fit = log_macs_fit(macs, accuracy)
    print(f"  {label}: front of {len(on)}, {min(accuracy):.2f}-{max(accuracy):.2f}%, "
          f"{max(macs) / min(macs):.1f}x MACs, slope {fit.slope:.2f} points/decade, R² {fit.r2:.3f}")  # fmt: skip


def steepest(standings: list[Standing], min_span: float, min_networks: int) -> tuple[float, float, int, float] | None:
    """(slope, R², networks, span) of the steepest run of consecutive front networks (fastest first)
    that spans ``min_span`` x in MACs with at least ``min_networks`` networks."""
    on = front(standings)
    by_arch = {s.arch: s for s in standings}
    best = None
    for i in range(len(on)):
        for j in range(i + min_networks, len(on) + 1):
            part = on[i:j]
            macs = [macs_of(a) for a in part]
            if max(macs) / min(macs) < min_span:
                continue
            fit = log_macs_fit(macs, [by_arch[a].accuracy_pct for a in part])
            if best is None or fit.slope > best[0]:
                best = (fit.slope, fit.r2, len(part), max(macs) / min(macs))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders (each with its study.db)")
    parser.add_argument("--min-span", type=float, default=10.0, help="MACs span a stretch must cover")
    parser.add_argument("--min-networks", type=int, default=6, help="networks a stretch must hold")
    args = parser.parse_args()

    seeds: dict[str, list[tuple[float, int]]] = defaultdict(list)  # arch -> [(mean, seeds)] per run
    latency: dict[str, float] = {}
    tops = set()
    print("Each run's reported front (top rung):")
    for run in args.runs:
        session = Session.open(run)
        top = session.config.top_budget
        tops.add(top)
        standings = session.standings(top)
        describe(f"{run} at '{top}'", standings)
        for s in standings:
            seeds[s.arch].append((s.accuracy_pct, s.seeds))
            latency[s.arch] = s.latency_ms
    if len(tops) > 1:
        print(f"  (the runs report at different rungs, {sorted(tops)}: the pool mixes them)")
    pooled = [Standing(arch, sum(m * n for m, n in v) / sum(n for _, n in v), latency[arch], sum(n for _, n in v))
              for arch, v in seeds.items()]  # fmt: skip
    print(f"\nPooled: {len(pooled)} networks trained at the top rung by any of the {len(args.runs)} runs")
    describe("front of the pool", pooled)
    on = front(pooled)
    by_arch = {s.arch: s for s in pooled}
    for arch in on:
        s = by_arch[arch]
        print(f"    {macs_of(arch) / 1e6:8.1f}M MACs  {s.accuracy_pct:6.2f}%  {s.latency_ms:6.2f} ms  {s.seeds} seeds")
    found = steepest(pooled, args.min_span, args.min_networks)
    if found is None:
        print(f"  no stretch of {args.min_networks}+ front networks spans {args.min_span:g}x")
    else:
        slope, r2, n, span = found
        print(f"  steepest stretch of {args.min_networks}+ networks spanning {args.min_span:g}x or more: "
              f"{slope:.2f} points/decade "
              f"(R² {r2:.3f}, {n} networks, {span:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
