"""Can a cheap rung, or a zero-cost score, stand in for the top rung of the accuracy proxy?

Over ``--random`` samples of the default space (``RandomSuggester(--seed)``, the samples of
``benchmarks/proxy_fidelity.py`` first), prints the Spearman rank correlation with the top rung's
accuracy of: the cheap rung's accuracy, synflow, NASWOT, and (as the no-cost baseline) MACs;
and each one's cost per network. Trainings are kept in ``--cache`` and reused when the budget
matches, so the figures can be recomputed for free.

    python benchmarks/zero_cost_fidelity.py --cheap "quick:shortcuts=True" --top "standard:seeds=2" [--random 30]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import _cache
import numpy as np

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.data import load_dataset
from hwsearch.proxy.budgets import Budget, get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.train import train_proxy
from hwsearch.proxy.zero_cost import zero_cost_scores
from hwsearch.space import RandomSuggester, load_space, sample_valid
from hwsearch.stats import partial_spearman, spearman


def trained(archs: list[Arch], budget: Budget, cache: Path, threads: int) -> tuple[list[float], list[float]]:
    """Accuracy and seconds of each arch under ``budget``, trained once and kept in ``cache``."""
    known = _cache.load(cache, budget)
    data = ProxyData.from_dataset(load_dataset(), budget) if any(a.to_str() not in known for a in archs) else None
    for i, arch in enumerate(archs):
        if arch.to_str() in known or data is None:
            continue
        result = train_proxy(arch, data, budget, threads=threads)
        record = _cache.Trained(result.accuracy_pct, result.accuracy_std_pct, result.train_seconds)
        known[arch.to_str()] = record
        _cache.append(cache, budget, arch.to_str(), record)
        print(f"  [{budget.name} {i + 1:2d}/{len(archs)}] {result.accuracy_pct:5.2f}%  "
              f"{result.train_seconds:5.1f} s  {arch}", flush=True)  # fmt: skip
    return [known[a.to_str()].accuracy_pct for a in archs], [known[a.to_str()].seconds for a in archs]


def where_finite(score: list[float], *others: list[float]) -> list[list[float]]:
    """``score`` and ``others``, each kept only where ``score`` is finite (a zero-cost score can overflow)."""
    keep = [i for i, s in enumerate(score) if math.isfinite(s)]
    return [[column[i] for i in keep] for column in (score, *others)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cheap", required=True, help="budget spec of the cheap rung")
    parser.add_argument("--top", required=True, help="budget spec of the top rung")
    parser.add_argument("--random", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("results/proxy_fidelity/rungs_pct.csv"))
    args = parser.parse_args()

    cheap, top = get_budget(args.cheap), get_budget(args.top)
    print(f"cheap: {cheap}\ntop:   {top}")
    space, rng = load_space(), RandomSuggester(args.seed)
    archs = [sample_valid(space, rng) for _ in range(args.random)]
    top_acc, top_sec = trained(archs, top, args.cache, args.threads)
    cheap_acc, cheap_sec = trained(archs, cheap, args.cache, args.threads)
    data = ProxyData.from_dataset(load_dataset(), top)
    scores = [zero_cost_scores(a, data, top) for a in archs]
    macs = [float(count_cost(a).macs) for a in archs]

    print(f"\nSpearman with the top rung ('{top.name}') over {len(archs)} random space samples:")
    rows = [
        (f"cheap rung '{cheap.name}'", cheap_acc, float(np.mean(cheap_sec))),
        ("synflow (zero-cost)", [s.synflow for s in scores], float(np.mean([s.seconds for s in scores]))),
        ("NASWOT (zero-cost)", [s.naswot for s in scores], float(np.mean([s.seconds for s in scores]))),
        ("MACs (no cost)", macs, 0.0),
    ]
    for name, values, seconds in rows:
        kept, target, control = where_finite(values, top_acc, macs)
        beyond = "" if values is macs else f"  beyond MACs {partial_spearman(kept, target, control):6.3f}"
        print(f"  {name:32s} {spearman(kept, target):6.3f}  (n={len(kept)})  {seconds:6.2f} s a network{beyond}")
    print(f"  top rung itself: {np.mean(top_sec):.1f} s a network (mean), {np.max(top_sec):.1f} s (max); "
          f"accuracy {min(top_acc):.1f}-{max(top_acc):.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
