"""Commands about the accuracy proxy: ``reproduce``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hwsearch.cli.output import console
from hwsearch.data import DATASETS, DEFAULT_DATASET
from hwsearch.paths import RESULTS_DIR
from hwsearch.search.config import SearchConfig

if TYPE_CHECKING:
    from hwsearch.cli.progress import Bar
    from hwsearch.proxy.records import ProxyResult


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    rep = sub.add_parser("reproduce", help="train the paper's 16 alpha x rho models with the proxy; plot the trade-off")
    add_data_arguments(rep)
    # The fidelity a run's front is reported at, so the check speaks for the fronts users see.
    front_budget = SearchConfig().top_budget
    rep.add_argument("--budget", default=front_budget,
                     help=f"proxy fidelity (default {front_budget}, a run's front)")  # fmt: skip
    rep.add_argument("--out", type=Path, help="output folder (default results/reproduce-BUDGET)")
    rep.add_argument(
        "--grid-only",
        action="store_true",
        help="skip the structural check (Conv, MobileNet, 0.75 and Shallow MobileNet, 2 seeds each)",
    )
    rep.set_defaults(func=cmd_reproduce)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and ``--data-dir``."""
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help=f"{', '.join(DATASETS)} (default {DEFAULT_DATASET})")
    parser.add_argument("--data-dir", type=Path, help="folder holding the data set's files")


def cmd_reproduce(args: argparse.Namespace) -> int:
    import pandas as pd

    from hwsearch.cli.progress import progress_bar
    from hwsearch.data import load_dataset
    from hwsearch.paper import GRID_SOURCE, STRUCTURAL_SOURCE, paper_grid, structural_models
    from hwsearch.proxy.budgets import get_budget
    from hwsearch.proxy.records import ProxyData
    from hwsearch.proxy.reproduce import reproduce_grid, structural_check
    from hwsearch.report.plots import TradeoffPanel, plot_tradeoff

    budget = get_budget(args.budget)
    out_dir = args.out or RESULTS_DIR / f"reproduce-{budget.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.dataset, data_dir=args.data_dir)
    data = ProxyData.from_dataset(dataset, budget)
    out = console()
    out.print(f"training the paper's 16 models on {dataset.name} ({dataset.source}), budget '{budget.name}'")

    with progress_bar("grid", len(paper_grid())) as bar:
        rep = reproduce_grid(data, budget, _network_lines(bar))
    table = pd.DataFrame(rep.records())
    csv_path = out_dir / "grid.csv"
    table.to_csv(csv_path, index=False)
    labels = [f"{r.alpha:g}-{r.resolution}" for r in rep.rows]
    macs = [r.macs for r in rep.rows]
    png = plot_tradeoff(
        [
            TradeoffPanel(f"proxy: {dataset.name}, budget '{budget.name}'", macs,
                          [r.proxy_accuracy_pct for r in rep.rows], rep.fit, "proxy validation accuracy (%)", labels),
            TradeoffPanel("paper: ImageNet top-1 (TF-slim release)", macs, [r.imagenet_top1_pct for r in rep.rows],
                          rep.paper_fit, "ImageNet top-1 (%)", labels),
        ],
        out_dir / "tradeoff.png",
        suptitle="MobileNet V1: accuracy vs Mult-Adds, alpha in {1, 0.75, 0.5, 0.25} x rho in {1, 0.857, 0.714, 0.571}",
    )  # fmt: skip
    fit = rep.fit
    out.print(f"R² (proxy accuracy vs log10 MACs): {fit.r2:.3f}")
    out.print(f"slope: {fit.slope:.2f} points per decade of MACs (paper's ImageNet: {rep.paper_fit.slope:.1f})")
    out.print(f"Spearman (proxy vs ImageNet top-1): {rep.spearman_imagenet:.3f}")
    out.print(f"wall time: {rep.wall_seconds:.0f} s; wrote {csv_path} and {png}")
    out.print(f"ImageNet figures: {GRID_SOURCE}")
    if not args.grid_only:
        out.print("structural check (the paper's Tables 4 and 5):")
        with progress_bar("structural check", len(structural_models())) as bar:
            check = structural_check(data, budget, _network_lines(bar))
        pd.DataFrame([vars(r) for r in check.rows]).to_csv(out_dir / "structural.csv", index=False)
        for row in check.rows:
            out.print(f"  {row.name:<20} proxy {row.proxy_accuracy_pct:6.2f}% ± {row.proxy_std_pct:.2f} "
                      f"({row.seeds} seeds)   ImageNet {row.imagenet_top1_pct:.1f}%")  # fmt: skip
        verdict = "yes" if check.ordered_as_paper else "no: " + "; ".join(
            f"{a} <= {b}" for a, b in check.wrong_pairs())  # fmt: skip
        out.print(f"proxy orders Conv > MobileNet > 0.75 MobileNet > Shallow as ImageNet does: {verdict}")
        out.print(f"ImageNet figures: {STRUCTURAL_SOURCE}")
    return 0


def _network_lines(bar: Bar) -> Callable[[int, int, ProxyResult], None]:
    """The library's per-network callback: move ``bar`` and print the network's line above it."""

    def done(i: int, n: int, result: ProxyResult) -> None:
        bar.update(i)
        # With no bar on screen (a file, a pipe), each line carries the bar's count, elapsed time and ETA.
        count = f"{i:2d}/{n}" if bar.drawn else bar.status()
        bar.print(f"[{count}] {result.accuracy_pct:6.2f}%  {result.train_seconds:5.1f}s  {result.arch}")

    return done
