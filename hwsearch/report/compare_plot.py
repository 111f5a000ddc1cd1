"""compare.png: the fronts of several runs on one log-latency plot.

A measured latency is a filled marker on a solid line; an estimate (a lookup table's or a
predictor's) is a hollow marker on a dashed line with its expected error as a bar, so that
no prediction reads as a measurement.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hwsearch.report.labels import estimated, latency_error_ms, short_budget
from hwsearch.report.plots import fit_log_ticks
from hwsearch.report.run_plots import MARGIN, label_points

if TYPE_CHECKING:  # only its instances are drawn here; compare.py imports this module
    from hwsearch.report.compare import RunFront

# A note longer than this wraps, so that no note runs past the figure.
NOTE_CHARS = 130
MARKERS = {"measured": "o", "lut": "s", "predicted": "D"}


def _draw(ax: Axes, front: RunFront, color: str) -> None:
    rows = front.front
    guess = estimated(rows)
    ax.plot(rows.latency_ms, rows.accuracy_pct, "--" if guess.all() else "-", color=color, lw=1.5, zorder=3,
            label=front.label())  # fmt: skip
    ax.errorbar(rows.latency_ms, rows.accuracy_pct, yerr=rows.accuracy_std_pct, fmt="none", ecolor=color, lw=1.0,
                capsize=3, zorder=3)  # fmt: skip
    xerr = latency_error_ms(rows)
    if (xerr > 0).any():
        ax.errorbar(rows.latency_ms, rows.accuracy_pct, xerr=xerr, fmt="none", ecolor=color, alpha=0.3, lw=1.0,
                    capsize=2, zorder=2)  # fmt: skip
    for source, marker in MARKERS.items():
        here = rows[rows.latency_source == source]
        if here.empty:
            continue
        face = color if source == "measured" else "white"
        ax.scatter(here.latency_ms, here.accuracy_pct, s=36, marker=marker, facecolor=face, edgecolor=color,
                   linewidths=1.4, zorder=4)  # fmt: skip
    label_points(ax, rows.latency_ms, rows.accuracy_pct, rows.number, color=color)


def _source_key(ax: Axes, fronts: Sequence[RunFront]) -> None:
    """Legend entries for the marker shape of each latency source present, in grey, once for every curve."""
    present = {source for f in fronts for source in f.front.latency_source}
    for source, marker in MARKERS.items():
        if source not in present:
            continue
        measured = source == "measured"
        ax.scatter([], [], s=36, marker=marker, facecolor="0.35" if measured else "white", edgecolor="0.35",
                   linewidths=1.4, label=f"latency {source}" + ("" if measured else ": an estimate, bar = expected "
                                                                "error"))  # fmt: skip


def compare_figure(fronts: Sequence[RunFront], notes: Sequence[str] = ()) -> Figure:
    """Each run's reported front (accuracy ± seed s.d.) against latency on a log axis, one colour per run.

    ``notes`` (what makes the curves not comparable) are printed above the axes in red.
    """
    fig = Figure(figsize=(9.0, 7.2), layout="constrained")
    ax = fig.subplots()
    for i, front in enumerate(fronts):
        _draw(ax, front, f"C{i % 10}")
    _source_key(ax, fronts)
    ax.set_xscale("log")
    ax.margins(MARGIN)
    fit_log_ticks(ax)
    devices = sorted({f.device for f in fronts})
    where = f"on {devices[0]}" if len(devices) == 1 else "on each run's own device"
    ax.set_xlabel(f"latency {where} (ms per image, batch 1, log scale)")
    datasets = sorted({f.dataset for f in fronts})
    data = f" on {datasets[0]} validation" if len(datasets) == 1 and datasets[0] else ""
    budgets = sorted({f.budget for f in fronts})
    at = f"budget '{short_budget(budgets[0])}'" if len(budgets) == 1 else "each run at its own budget"
    ax.set_ylabel(f"proxy accuracy (%){data}\n{at}; bars ±1 seed s.d.")
    ax.grid(True, which="both", alpha=0.3)
    title = f"Fronts of {len(fronts)} run(s)"
    if notes:
        lines = [textwrap.fill(f"note: {note}", NOTE_CHARS, subsequent_indent="    ") for note in notes]
        ax.set_title("\n".join(lines), fontsize=8.5, color="C3", loc="left")
        fig.suptitle(title, fontsize=11)
    else:
        ax.set_title(title, fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize=8, frameon=False)
    return fig
