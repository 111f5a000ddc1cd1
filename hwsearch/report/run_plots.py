"""Figures of a search run: the latency Pareto front and the hypervolume history.

Latency is drawn on a log axis (a run's networks span a decade or more), every front point
carries its trial number, and an estimated latency carries its expected error.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from hwsearch.report.grid import GridRank
from hwsearch.report.labels import (
    estimated,
    latency_error_ms,
    latency_label,
    points_text,
    proxy_label,
    short_budget,
    trial_label,
)
from hwsearch.report.plots import fit_log_ticks
from hwsearch.report.summary import RunSummary

BASELINE_STYLE = {"s": 40, "marker": "s", "color": "C1", "edgecolor": "0.25", "linewidths": 0.5}
# Room around the points on both axes, so that no point, bar or label touches the frame.
MARGIN = 0.08


def _baselines(ax: Axes, rows: pd.DataFrame, column: str = "accuracy_pct") -> None:
    if not rows.empty:
        ax.scatter(rows.latency_ms, rows[column], zorder=3, label=f"paper's MobileNets (α × ρ grid, {len(rows)})",
                   **BASELINE_STYLE)  # fmt: skip


def label_points(ax: Axes, xs: pd.Series, ys: pd.Series, numbers: pd.Series, color: str = "C3") -> None:
    """``#N`` beside each point, up and to the left: along a front that climbs to the right, that side is free.

    A point that sits close to the one labelled before it gets its label below and to the right, so
    that neighbours' numbers do not cover each other.
    """
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    log_x = ax.get_xscale() == "log"

    def where(x: float, y: float) -> tuple[float, float]:  # position as fractions of the axes
        fx = (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) if log_x else (x - x0) / (x1 - x0)
        return fx, (y - y0) / (y1 - y0)

    previous: tuple[float, float] | None = None
    flipped = False
    for x, y, number in sorted(zip(xs, ys, numbers, strict=True)):
        here = where(x, y)
        near = previous is not None and abs(here[0] - previous[0]) < 0.06 and abs(here[1] - previous[1]) < 0.06
        flipped = near and not flipped
        offset, ha, va = ((9, -6), "left", "top") if flipped else ((-9, 6), "right", "bottom")
        ax.annotate(trial_label(number), (x, y), textcoords="offset points", xytext=offset, ha=ha, va=va,
                    fontsize=7.5, color=color, zorder=6,
                    bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.75})  # fmt: skip
        previous = here


def grid_note(rank: GridRank | None, budget: str, baselines: int) -> str:
    """What the panel can say about the proxy's rank correlation with ImageNet at ``budget``."""
    if rank is not None:
        return rank.text(with_budget=False)
    if baselines:
        return f"proxy vs ImageNet rank correlation not known: only {baselines} paper MobileNet(s) here"
    return "proxy vs ImageNet rank correlation not known: none of the paper's MobileNets here"


def _explored_panel(ax: Axes, summary: RunSummary) -> None:
    feasible = summary.feasible.drop_duplicates("arch")
    searched = feasible[feasible.baseline == ""]
    ax.scatter(searched.latency_ms, searched.explore_accuracy_pct, s=22, color="0.6", zorder=2,
               label=f"searched networks ({len(searched)}, 1 training each)")  # fmt: skip
    _baselines(ax, summary.baselines, "explore_accuracy_pct")
    front = summary.explore_front.sort_values("latency_ms")
    ax.plot(front.latency_ms, front.explore_accuracy_pct, "--", color="C3", lw=1.2, zorder=4,
            label="front at this fidelity (not the reported one)")  # fmt: skip


def networks(count: int) -> str:
    """``1 network``, ``5 networks``."""
    return f"{count} network" + ("" if count == 1 else "s")


def _front_label(front: pd.DataFrame) -> str:
    fewest = int(front.seeds.min()) if not front.empty else 0
    if fewest < 2:
        return f"front (1 seed each: not confirmed; {networks(len(front))})"
    low, high = front.accuracy_std_pct.min(), front.accuracy_std_pct.max()
    spread = f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f}"
    return f"confirmed front ({fewest}+ seeds each, {networks(len(front))}; bars ±1 seed s.d., {spread} points)"


def _suggestions(ax: Axes, summary: RunSummary) -> None:
    within = summary.within
    if within is not None:
        ax.scatter([within.latency_ms], [within.accuracy_pct], s=260, marker="D", facecolor="none", edgecolor="C2",
                   linewidths=1.8, zorder=5, label=f"fastest within {points_text(summary.within_pct)} of the best: "
                   f"{trial_label(within.number)}")  # fmt: skip
    knee = summary.knee
    if knee is not None:
        ax.scatter([knee.latency_ms], [knee.accuracy_pct], s=200, marker="o", facecolor="none", edgecolor="C4",
                   linewidths=1.8, zorder=5, label=f"knee of the front: {trial_label(knee.number)}")  # fmt: skip


def _report_panel(ax: Axes, summary: RunSummary) -> None:
    at_report = summary.at_report
    rest = at_report[~at_report.arch.isin(summary.front.arch) & (at_report.baseline == "")]
    if not rest.empty:
        label = f"other searched networks at '{short_budget(summary.report_budget)}' ({len(rest)})"
        ax.scatter(rest.latency_ms, rest.accuracy_pct, s=22, color="C0", alpha=0.6, zorder=2, label=label)
    there = summary.baselines[summary.baselines.budget == summary.report_budget]
    _baselines(ax, there)
    front = summary.front
    xerr = latency_error_ms(front)
    if (xerr > 0).any():
        ax.errorbar(front.latency_ms, front.accuracy_pct, xerr=xerr, fmt="none", ecolor="C3", alpha=0.35, lw=1.0,
                    capsize=2, zorder=3, label="expected error of the estimated latency")  # fmt: skip
    ax.errorbar(front.latency_ms, front.accuracy_pct, yerr=front.accuracy_std_pct, fmt="-", color="C3", lw=1.6,
                capsize=3, zorder=4, label=_front_label(front))  # fmt: skip
    guess = estimated(front)
    # Filled: a measured latency; hollow: an estimate (as in compare.png).
    for rows, style, what in ((front[~guess], {"color": "C3"}, "measured latency (filled)"),
                              (front[guess], {"facecolor": "white", "edgecolor": "C3", "linewidths": 1.6},
                               "estimated latency (hollow)")):  # fmt: skip
        if not rows.empty:
            ax.scatter(rows.latency_ms, rows.accuracy_pct, s=40, zorder=5, label=f"front network, {what}", **style)
    label_points(ax, front.latency_ms, front.accuracy_pct, front.number)
    _suggestions(ax, summary)


def _finish(ax: Axes, summary: RunSummary, device: str, budget: str, dataset: str) -> None:
    """Log latency axis, labels, and the legend below the axes, where it hides no point."""
    ax.set_xscale("log")
    ax.margins(MARGIN)
    fit_log_ticks(ax)
    ax.set_xlabel(latency_label(device, summary.feasible))
    ax.set_ylabel(proxy_label(dataset, budget))
    ax.grid(True, which="both", alpha=0.3)
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncols=1, frameon=False)
    for handle in legend.legend_handles:  # the rings around suggested points would dwarf the legend's text
        if isinstance(handle, PathCollection) and handle.get_sizes().max() > 100:
            handle.set_sizes([60])


def pareto_figure(summary: RunSummary, device: str, dataset: str = "") -> Figure:
    """Proxy accuracy against latency (log scale).

    A multi-fidelity run gets two panels, one per fidelity, so that no cheap score is drawn
    beside a confirmed one: every explored network at the exploration fidelity, and the
    networks promoted to the report fidelity with the confirmed front, its seed error bars,
    the trial numbers of its networks, its knee and the fastest network close to the best.
    """
    panels = 2 if summary.multi_fidelity else 1
    fig = Figure(figsize=(7.0 * panels, 6.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if summary.multi_fidelity:
        _explored_panel(axes[0], summary)
        axes[0].set_title(f"exploration: {len(summary.feasible)} networks at '{short_budget(summary.explore_budget)}'"
                          f"\n{grid_note(summary.explore_grid, summary.explore_budget, len(summary.baselines))}",
                          fontsize=10)  # fmt: skip
        _finish(axes[0], summary, device, summary.explore_budget, dataset)
    _report_panel(axes[-1], summary)
    what = "front" if summary.multi_fidelity else f"front on {device}"
    there = summary.baselines[summary.baselines.budget == summary.report_budget]
    axes[-1].set_title(f"{what}: {len(summary.front)} of {networks(len(summary.at_report))} at "
                       f"'{short_budget(summary.report_budget)}'\n"
                       f"{grid_note(summary.report_grid, summary.report_budget, len(there))}", fontsize=10)  # fmt: skip
    _finish(axes[-1], summary, device, summary.report_budget, dataset)
    return fig


def hypervolume_figure(summary: RunSummary) -> Figure:
    """Hypervolume of the exploration front after each feasible trial, the paper's baselines marked."""
    fig = Figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.subplots()
    history = np.asarray(summary.history, dtype=float)
    steps = np.arange(1, len(history) + 1)
    ax.step(steps, history, where="post", color="C0", lw=1.6, label="hypervolume after each trial")
    baseline = (summary.feasible.baseline != "").to_numpy() if len(history) else np.array([], dtype=bool)
    if baseline.any():
        ax.scatter(steps[baseline], history[baseline], s=22, marker="s", color="C1", zorder=3,
                   label="a paper MobileNet finished")  # fmt: skip
    if len(history):
        final = history[-1]
        reached = int(np.argmax(history >= 0.95 * final)) + 1 if final > 0 else len(history)
        ax.axhline(final, color="0.5", lw=0.8, ls=":")
        ax.annotate(f"final {final:.1f}; 95% of it after {reached} of {len(history)} trials", (1, final),
                    textcoords="offset points", xytext=(4, -12), fontsize=8, color="0.3")  # fmt: skip
    ax.set_xlabel("feasible trials finished (in trial order)")
    ax.set_ylabel("hypervolume (accuracy points × ms)")
    ax.set_title(f"Hypervolume of the exploration at '{short_budget(summary.explore_budget)}'", fontsize=10)
    ax.margins(x=0.02, y=0.08)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
