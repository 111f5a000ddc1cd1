"""Predicted against measured latency: a log-log scatter with the identity line and a tolerance band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from hwsearch.report.plots import log_axis_labels, save_png


def validation_figure(
    measured_ms: Sequence[float],
    predicted_ms: Sequence[float],
    *,
    title: str,
    tolerance_pct: float = 10.0,
    source: str = "predicted",
) -> Figure:
    """One point per architecture; points inside the shaded band are within ``tolerance_pct`` percent."""
    measured = np.asarray(measured_ms, dtype=float)
    predicted = np.asarray(predicted_ms, dtype=float)
    fig = Figure(figsize=(5.8, 5.4), layout="constrained")
    ax = fig.subplots()
    low = float(min(measured.min(), predicted.min())) * 0.8 if measured.size else 0.1
    high = float(max(measured.max(), predicted.max())) * 1.25 if measured.size else 10.0
    line = np.geomspace(low, high, 50)
    band = tolerance_pct / 100.0
    ax.fill_between(line, line * (1 - band), line * (1 + band), color="C2", alpha=0.18,
                    label=f"within ±{tolerance_pct:g}%")  # fmt: skip
    ax.plot(line, line, color="C2", lw=1.0, label="predicted = measured")
    inside = np.abs(predicted / measured - 1.0) <= band if measured.size else np.array([], dtype=bool)
    ax.scatter(measured[inside], predicted[inside], s=22, color="C0", zorder=3, label=f"{source} (in band)")
    ax.scatter(measured[~inside], predicted[~inside], s=26, color="C3", marker="x", zorder=3,
               label=f"{source} (outside)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    log_axis_labels(ax)
    # The same plain 1-2-5 labels on the (log) y axis.
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("measured latency (ms, log scale)")
    ax.set_ylabel(f"{source} latency (ms, log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_validation(
    measured_ms: Sequence[float],
    predicted_ms: Sequence[float],
    path: Path,
    *,
    title: str,
    tolerance_pct: float = 10.0,
    source: str = "predicted",
) -> Path:
    """:func:`validation_figure` written to ``path`` as PNG."""
    fig = validation_figure(measured_ms, predicted_ms, title=title, tolerance_pct=tolerance_pct, source=source)
    return save_png(fig, path)
