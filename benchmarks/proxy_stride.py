"""Can the proxy judge *where* a network downsamples, at its 18-32 px input?

A proxy network sees ``base_resolution x rho / 224`` pixels (18-32 px at the default
32), so after a total stride of 16-32 its last stages run on 1x1 or 2x2 maps, where the
deployed network has 7x7. Whether a stride-2 sits one stage earlier or later then changes
far less (or more) than at the deployed size. This benchmark takes ``--pairs`` random
networks of the default space and, for each, its twin with one stride-2 moved one stage
earlier (same total stride, fewer MACs): the decision a search makes when it trades
accuracy for latency by downsampling sooner. Each network is trained at ``--budget`` (the
fidelity the front is reported at) and at ``--reference`` (by default the same training on
inputs twice as large, 36-64 px, where the last maps are 2x2-4x4), ``--seeds`` seeds each.

For every pair it prints the accuracy cost of downsampling earlier under both, and counts
the pairs the budget orders as the reference does, among those the reference separates
by more than its seed noise (twice the s.d. of a pair difference). A proxy that agrees
on most of them can judge stride; one that does not must say so in its report.

    python benchmarks/proxy_stride.py [--pairs 6] [--seeds 2] [--budget standard]
        [--reference standard:base_resolution=64]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.data import load_dataset
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.records import ProxyData, ProxyResult
from hwsearch.proxy.train import train_proxy
from hwsearch.space import RandomSuggester, SearchSpace, load_space, sample_valid


def earlier_twin(arch: Arch, space: SearchSpace) -> Arch | None:
    """``arch`` with its last stride-2 stage that follows a stride-1 stage swapped with it; None if none."""
    stages = list(arch.stages)
    for i in range(len(stages) - 2, -1, -1):
        if stages[i].stride == 1 and stages[i + 1].stride == 2:
            stages[i], stages[i + 1] = replace(stages[i], stride=2), replace(stages[i + 1], stride=1)
            twin = replace(arch, stages=tuple(stages))
            return None if space.violations(twin) else twin
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--reference", default="standard:base_resolution=64")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()

    space = load_space()
    rng = RandomSuggester(7)
    pairs: list[tuple[Arch, Arch]] = []
    while len(pairs) < args.pairs:
        arch = sample_valid(space, rng)
        twin = earlier_twin(arch, space)
        if twin is not None:
            pairs.append((arch, twin))
    budgets = {name: get_budget(spec).with_overrides(seeds=args.seeds)
               for name, spec in (("budget", args.budget), ("reference", args.reference))}  # fmt: skip
    dataset = load_dataset()
    results: dict[str, list[tuple[ProxyResult, ProxyResult]]] = {}
    for name, budget in budgets.items():
        print(f"{name}: {budget}", flush=True)
        data = ProxyData.from_dataset(dataset, budget)
        start = time.perf_counter()
        results[name] = []
        for i, (late, early) in enumerate(pairs, 1):
            pair = (train_proxy(late, data, budget, threads=args.threads),
                    train_proxy(early, data, budget, threads=args.threads))  # fmt: skip
            results[name].append(pair)
            print(f"  [{i}/{len(pairs)}] later {pair[0].accuracy_pct:6.2f}%  earlier {pair[1].accuracy_pct:6.2f}%  "
                  f"{late}", flush=True)  # fmt: skip
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)

    print(f"\n{'pair':>4} {'MACs later/earlier':>19} {'cost of earlier, budget':>24} {'reference':>16}  agree")
    agree = decided = 0
    for i, ((late, early), (b_late, b_early), (r_late, r_early)) in enumerate(
        zip(pairs, results["budget"], results["reference"], strict=True), 1
    ):
        b_cost = b_late.accuracy_pct - b_early.accuracy_pct
        r_cost = r_late.accuracy_pct - r_early.accuracy_pct
        # The s.d. of a difference of two seed means, from the two networks' own seed spreads.
        noise = math.sqrt((r_late.accuracy_std_pct**2 + r_early.accuracy_std_pct**2) / args.seeds)
        clear = abs(r_cost) > 2 * noise
        same = (b_cost > 0) == (r_cost > 0)
        if clear:
            decided += 1
            agree += same
        macs = f"{count_cost(late).macs / 1e6:.0f}M/{count_cost(early).macs / 1e6:.0f}M"
        print(f"{i:>4} {macs:>19} {b_cost:>+23.2f}  {r_cost:>+10.2f} ± {noise:.2f}  "
              f"{'yes' if same else 'NO'}{'' if clear else ' (reference within noise)'}")  # fmt: skip
    print(f"\nordered as the reference: {agree} of {decided} pairs the reference separates "
          f"({len(pairs) - decided} within its seed noise)")  # fmt: skip


if __name__ == "__main__":
    main()
