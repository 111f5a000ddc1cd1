"""Figures of a search run: the latency Pareto front and the hypervolume history."""

from __future__ import annotations

from matplotlib.figure import Figure

from hwsearch.report.summary import RunSummary


def pareto_figure(summary: RunSummary, device: str) -> Figure:
    """Proxy accuracy against latency: every feasible trial, the paper's baselines, the front joined."""
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.subplots()
    searched = summary.feasible[summary.feasible.baseline == ""]
    ax.scatter(searched.latency_ms, searched.accuracy_pct, s=22, color="0.6", label="searched candidates", zorder=2)
    if not summary.baselines.empty:
        ax.scatter(summary.baselines.latency_ms, summary.baselines.accuracy_pct, s=40, marker="s", color="C1",
                   label="paper's MobileNets (α × ρ grid)", zorder=3)  # fmt: skip
    front = summary.front.sort_values("latency_ms")
    ax.plot(front.latency_ms, front.accuracy_pct, "-o", color="C3", ms=6, lw=1.6, label="Pareto front", zorder=4)
    sources = ", ".join(summary.latency_sources) or "none"
    ax.set_xlabel(f"latency on {device} (ms per image, batch 1; source: {sources})")
    ax.set_ylabel("proxy validation accuracy (%)")
    ax.set_title(f"Accuracy vs latency on {device}: {len(summary.front)} of {len(summary.feasible)} on the front")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def hypervolume_figure(summary: RunSummary) -> Figure:
    """Hypervolume of the front after each feasible trial."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(range(1, len(summary.history) + 1), summary.history, color="C0", label="run")
    if summary.baseline_hypervolume:
        ax.axhline(summary.baseline_hypervolume, color="C1", ls="--", label="paper's MobileNets alone")
    acc, lat = summary.reference
    ax.set_xlabel("feasible trials finished")
    ax.set_ylabel("hypervolume (% x ms)")
    ax.set_title(f"Hypervolume, reference point ({acc:.1f}%, {lat:.2f} ms)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
