"""Does the accuracy proxy order the paper's structural variants as ImageNet does?

ImageNet (Howard et al., 2017, Tables 4 and 5): Conv MobileNet 71.7% > MobileNet 1.0-224
70.6% > 0.75 MobileNet-224 68.4% > Shallow MobileNet 65.3% (the full network without its
five 14x14x512 blocks). Each network is trained with ``--seeds`` seeds under the budget;
the check passes when the seed means are in that order and every seed's own ranking is too.
``hwsearch reproduce`` runs the same check (``hwsearch.proxy.reproduce.structural_check``).

    python benchmarks/proxy_bias.py [--budget standard] [--set shortcuts=False ...] [--seeds 2] [--dataset SPEC]
"""

from __future__ import annotations

import argparse
import ast

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.data import DEFAULT_DATASET, load_dataset
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.reproduce import structural_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override budget fields")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help=f"data set spec (default {DEFAULT_DATASET})")
    args = parser.parse_args()
    overrides = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.set)}
    budget = get_budget(args.budget).with_overrides(**overrides)
    print(f"budget: {budget}")
    data = ProxyData.from_dataset(load_dataset(args.dataset), budget)

    def progress(i: int, n: int, r: object) -> None:
        print(f"  [{i}/{n}] {r.accuracy_pct:6.2f}% (seeds {', '.join(f'{a:.2f}' for a in r.seed_accuracy_pct)})  "
              f"{r.train_seconds:5.1f} s  {r.arch}", flush=True)  # fmt: skip

    check = structural_check(data, budget, progress, seeds=args.seeds)
    print(f"\n{'network':20s} {'MMACs':>7s} {'ImageNet':>8s} {'proxy':>16s}  seeds")
    for row in check.rows:
        seeds = " ".join(f"{v:.2f}" for v in row.seed_accuracy_pct)
        print(f"{row.name:20s} {count_cost(Arch.from_str(row.arch)).macs / 1e6:7.0f} {row.imagenet_top1_pct:8.1f} "
              f"{row.proxy_accuracy_pct:8.2f} ± {row.proxy_std_pct:4.2f}  {seeds}")  # fmt: skip
    wrong = "; ".join(f"{a} <= {b}" for a, b in check.wrong_pairs()) or "none"
    print(f"\nordered as ImageNet: means {'yes' if check.ordered_as_paper else 'NO'} (wrong pairs: {wrong}); "
          f"every seed {'yes' if check.ordered_in_every_seed else 'NO'}")  # fmt: skip
    print(f"structural check: {'PASS' if check.ordered_as_paper and check.ordered_in_every_seed else 'FAIL'}")


if __name__ == "__main__":
    main()
