"""What does the 8-channel floor do to the proxy? Trains with the proxy's channel floor lowered.

At the proxy's widths (alpha x 0.25), TF-slim's ``floor8`` rule lifts the first stages of every
alpha <= 0.5 network to 8 channels, more than a faithful quarter-width copy would have (2, 4, 8
at alpha 0.25). For each ``--floor``, this trains the paper's 16 alpha x rho models and, with
``--run``, the confirmed front of a finished run (its ``trials.csv``), at ``--budget`` with one
seed, and prints the grid's R², slope and Spearman against ImageNet and the front's slope and R²
(accuracy against log10(MACs)). The floor is lowered inside this process only, by replacing
:func:`hwsearch.arch.scale_channels` for the ``floor8`` rule: an experiment, not an option.

    python benchmarks/proxy_floor.py --floor 8 4 2 [--run results/jetson-nano-...] [--budget standard]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import hwsearch.arch as arch_module
from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.data import load_dataset
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.reproduce import reproduce_grid
from hwsearch.proxy.train import train_proxy
from hwsearch.stats import log_macs_fit


def floored(floor: int, rule: Callable[[int, float, str], int]) -> Callable[[int, float, str], int]:
    """``scale_channels`` with the ``floor8`` rule's floor at ``floor``."""

    def scale(channels: int, alpha: float, name: str) -> int:
        return max(int(channels * alpha), floor) if name == "floor8" else rule(channels, alpha, name)

    return scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floor", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--run", type=Path, help="a finished run whose front is trained too")
    parser.add_argument("--budget", default="standard")
    args = parser.parse_args()
    budget = get_budget(args.budget)
    data = ProxyData.from_dataset(load_dataset(), budget)
    front: list[str] = []
    if args.run is not None:
        trials = pd.read_csv(args.run / "trials.csv")
        front = list(trials[trials.on_front.astype(bool)].arch)
    original = arch_module.scale_channels
    print(f"{'floor':>5} {'grid R2':>8} {'slope':>6} {'Spearman':>9} {'front slope':>12} {'front R2':>9} {'s':>5}")
    for floor in args.floor:
        start = time.perf_counter()
        arch_module.scale_channels = floored(floor, original)
        try:
            grid = reproduce_grid(data, budget)
            front_pct = [train_proxy(Arch.from_str(a), data, budget).accuracy_pct for a in front]
        finally:
            arch_module.scale_channels = original
        line = f"{floor:>5} {grid.fit.r2:>8.3f} {grid.fit.slope:>6.2f} {grid.spearman_imagenet:>9.3f}"
        if front:
            front_fit = log_macs_fit([count_cost(Arch.from_str(a)).macs for a in front], front_pct)
            line += f" {front_fit.slope:>12.2f} {front_fit.r2:>9.3f}"
        print(f"{line} {time.perf_counter() - start:>5.0f}", flush=True)


if __name__ == "__main__":
    main()
