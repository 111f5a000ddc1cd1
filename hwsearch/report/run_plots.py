"""Figures of a search run: the latency Pareto front and the hypervolume history."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hwsearch.report.summary import RunSummary


def _baselines(ax: Axes, rows: pd.DataFrame, column: str = "accuracy_pct") -> None:
    if not rows.empty:
        ax.scatter(rows.latency_ms, rows[column], s=40, marker="s", color="C1",
                   label="paper's MobileNets (α × ρ grid)", zorder=3)  # fmt: skip


def _explored_panel(ax: Axes, summary: RunSummary) -> None:
    feasible = summary.feasible.drop_duplicates("arch")
    searched = feasible[feasible.baseline == ""]
    ax.scatter(searched.latency_ms, searched.explore_accuracy_pct, s=22, color="0.6", zorder=2,
               label=f"explored at '{summary.explore_budget}' (1 training each)")  # fmt: skip
    _baselines(ax, summary.baselines, "explore_accuracy_pct")
    front = summary.explore_front.sort_values("latency_ms")
    style = "--" if summary.multi_fidelity else "-o"
    ax.plot(front.latency_ms, front.explore_accuracy_pct, style, color="C3", ms=6, lw=1.4, zorder=4,
            label="front at this fidelity" + (" (not the reported one)" if summary.multi_fidelity else ""))  # fmt: skip


def _report_panel(ax: Axes, summary: RunSummary) -> None:
    rest = summary.at_report[~summary.at_report.arch.isin(summary.front.arch)]
    ax.scatter(rest.latency_ms, rest.accuracy_pct, s=22, color="C0", alpha=0.6, zorder=2,
               label=f"promoted to '{summary.report_budget}'")  # fmt: skip
    _baselines(ax, summary.baselines[summary.baselines.budget == summary.report_budget])
    front = summary.front
    fewest = int(front.seeds.min()) if not front.empty else 0
    label = (f"confirmed front ({fewest}+ seeds each, ±1 s.d.)" if fewest >= 2
             else "front (1 seed each: not confirmed)")  # fmt: skip
    ax.errorbar(front.latency_ms, front.accuracy_pct, yerr=front.accuracy_std_pct, fmt="-o", color="C3", ms=6,
                lw=1.6, capsize=3, zorder=4, label=label)  # fmt: skip


def pareto_figure(summary: RunSummary, device: str) -> Figure:
    """Proxy accuracy against latency.

    A multi-fidelity run gets two panels, one per fidelity, so that no cheap score is drawn
    beside a confirmed one: every explored network at the exploration fidelity, and the
    networks promoted to the report fidelity with the confirmed front and its seed error bars.
    """
    panels = 2 if summary.multi_fidelity else 1
    fig = Figure(figsize=(7.0 * panels, 5.0), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    sources = ", ".join(summary.latency_sources) or "none"
    if summary.multi_fidelity:
        _explored_panel(axes[0], summary)
        axes[0].set_title(f"exploration: {len(summary.feasible)} networks at '{summary.explore_budget}'")
        _report_panel(axes[1], summary)
        axes[1].set_title(f"front: {len(summary.front)} of {len(summary.at_report)} networks at "
                          f"'{summary.report_budget}'")  # fmt: skip
    else:
        _report_panel(axes[0], summary)
        axes[0].set_title(f"Accuracy vs latency on {device}: {len(summary.front)} of {len(summary.at_report)} on "
                          "the front")  # fmt: skip
    for ax in axes:
        ax.set_xlabel(f"latency on {device} (ms per image, batch 1; source: {sources})")
        ax.set_ylabel("proxy validation accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return fig


def hypervolume_figure(summary: RunSummary) -> Figure:
    """Hypervolume of the exploration front after each feasible trial."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(range(1, len(summary.history) + 1), summary.history, color="C0", label="run")
    ax.set_xlabel("feasible trials finished")
    ax.set_ylabel("hypervolume (% x ms)")
    ax.set_title(f"Hypervolume of the exploration at '{summary.explore_budget}'")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
