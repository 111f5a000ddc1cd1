"""A run's accuracy against Mult-Adds, its paper baselines marked, with the paper's ImageNet line on a second axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hwsearch.report.grid import PaperLine, paper_line
from hwsearch.report.labels import proxy_label, short_budget, slope_text
from hwsearch.report.plots import fit_log_ticks
from hwsearch.report.run_plots import BASELINE_STYLE, MARGIN
from hwsearch.report.summary import RunSummary
from hwsearch.stats import log_macs_fit

PAPER_COLOR = "C2"


@dataclass(frozen=True)
class TradeoffRows:
    """The networks of one panel, scored at one budget, in ``accuracy_pct``."""

    title: str
    budget: str
    rows: pd.DataFrame


def tradeoff_rows(summary: RunSummary) -> list[TradeoffRows]:
    """One set per fidelity that has two or more distinct Mult-Add counts: every explored network, then
    (in a multi-fidelity run) the networks at the report rung."""
    out = []
    explored = summary.feasible.drop_duplicates("arch")
    if explored.macs.nunique() >= 2:
        out.append(TradeoffRows(f"explored at '{short_budget(summary.explore_budget)}'", summary.explore_budget,
                                explored.assign(accuracy_pct=explored.explore_accuracy_pct)))  # fmt: skip
    if summary.multi_fidelity and summary.at_report.macs.nunique() >= 2:
        out.append(TradeoffRows(f"promoted to '{short_budget(summary.report_budget)}'", summary.report_budget,
                                summary.at_report))  # fmt: skip
    return out


def _paper_axis(ax: Axes, line: PaperLine) -> Axes:
    twin = ax.twinx()
    macs_m = np.asarray(line.macs, dtype=float) / 1e6
    fit = log_macs_fit(line.macs, line.top1_pct)
    twin.scatter(macs_m, line.top1_pct, s=26, marker="^", color=PAPER_COLOR, zorder=3,
                 label="paper: ImageNet top-1 of its 16 MobileNets (right axis)")  # fmt: skip
    xs = np.geomspace(macs_m.min(), macs_m.max(), 50)
    twin.plot(xs, fit(np.log10(xs * 1e6)), "--", color=PAPER_COLOR, lw=1.2, zorder=2,
              label=f"paper's line: {slope_text(fit.slope)} points/decade, R² = {fit.r2:.3f}")  # fmt: skip
    twin.set_ylabel("ImageNet top-1 (%), the paper's α × ρ grid", color=PAPER_COLOR)
    twin.tick_params(axis="y", colors=PAPER_COLOR)
    twin.margins(y=MARGIN)
    return twin


def _panel(ax: Axes, panel: TradeoffRows, dataset: str, line: PaperLine) -> None:
    rows = panel.rows
    macs_m = rows.macs.astype(float) / 1e6
    searched = rows.baseline == ""
    ax.scatter(macs_m[searched], rows.accuracy_pct[searched], s=22, color="0.55", zorder=3,
               label=f"searched networks ({int(searched.sum())})")  # fmt: skip
    if (~searched).any():
        ax.scatter(macs_m[~searched], rows.accuracy_pct[~searched], zorder=4,
                   label=f"paper's MobileNets, proxy-trained ({int((~searched).sum())})", **BASELINE_STYLE)  # fmt: skip
    fit = log_macs_fit(rows.macs.astype(float), rows.accuracy_pct.astype(float))
    xs = np.geomspace(macs_m.min(), macs_m.max(), 50)
    ax.plot(xs, fit(np.log10(xs * 1e6)), color="C3", lw=1.4, zorder=2,
            label=f"proxy's line: {slope_text(fit.slope)} points/decade, R² = {fit.r2:.3f}")  # fmt: skip
    twin = _paper_axis(ax, line)
    ax.set_xscale("log")
    ax.margins(MARGIN)
    fit_log_ticks(ax)
    ax.set_xlabel("Mult-Adds (millions, log scale)")
    ax.set_ylabel(proxy_label(dataset, panel.budget))
    ax.set_title(f"accuracy vs Mult-Adds: {len(rows)} networks {panel.title}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8,
              frameon=False)  # fmt: skip


def run_tradeoff_figure(summary: RunSummary, dataset: str = "") -> Figure | None:
    """Proxy accuracy against Mult-Adds, one panel per fidelity; ``None`` when no panel has two MAC counts."""
    panels = tradeoff_rows(summary)
    if not panels:
        return None
    fig = Figure(figsize=(7.0 * len(panels), 6.0), layout="constrained")
    line = paper_line()
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        _panel(ax, panel, dataset, line)
    return fig
