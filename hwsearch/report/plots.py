"""Figures written as PNG files. Points and fits are computed elsewhere; this module only draws.

It uses matplotlib's object API (``Figure``) rather than pyplot, so nothing depends on a
display or a global backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from hwsearch.errors import names_file
from hwsearch.stats import LinearFit


@dataclass(frozen=True)
class TradeoffPanel:
    """Accuracy against Mult-Adds for one set of models, with its log-linear fit."""

    title: str
    macs: Sequence[float]
    accuracy: Sequence[float]
    fit: LinearFit
    ylabel: str = "accuracy (%)"
    labels: Sequence[str] = ()


def log_axis_labels(ax: Axes) -> None:
    """Plain-number labels at 1-2-5 steps on a log x axis, instead of crowded powers of ten."""
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def fit_log_ticks(ax: Axes) -> None:
    """Plain-number labels on a log x axis, as many as its range needs; call once everything is drawn.

    1-2-5 steps label a span of decades, but a front that spans 3.7-4.3 ms would get one label
    or none, so narrower spans get finer steps.
    """
    low, high = ax.get_xlim()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    if decades >= 1.5:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    elif decades >= 0.5:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _draw_tradeoff(ax: Axes, panel: TradeoffPanel) -> None:
    macs_m = np.asarray(panel.macs, dtype=float) / 1e6
    ax.scatter(macs_m, panel.accuracy, s=28, zorder=3, label="models")
    for x, y, text in zip(macs_m, panel.accuracy, panel.labels, strict=False):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    xs = np.geomspace(macs_m.min(), macs_m.max(), 50)
    ax.plot(xs, panel.fit(np.log10(xs * 1e6)), color="C3", zorder=2,
            label=f"least squares: {panel.fit.slope:.1f} points/decade, R² = {panel.fit.r2:.3f}")  # fmt: skip
    ax.set_xscale("log")
    log_axis_labels(ax)
    ax.set_xlabel("Mult-Adds (millions, log scale)")
    ax.set_ylabel(panel.ylabel)
    ax.set_title(panel.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


def tradeoff_figure(panels: Sequence[TradeoffPanel], *, suptitle: str = "") -> Figure:
    """Side-by-side accuracy-vs-Mult-Adds panels."""
    fig = Figure(figsize=(6.0 * len(panels), 4.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        _draw_tradeoff(ax, panel)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with names_file(path):
        fig.savefig(path, dpi=110, format="png")
    return path


def plot_tradeoff(panels: Sequence[TradeoffPanel], path: Path, *, suptitle: str = "") -> Path:
    """:func:`tradeoff_figure` written to ``path``."""
    return save_png(tradeoff_figure(panels, suptitle=suptitle), path)
