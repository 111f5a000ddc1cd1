"""Write a run's outputs from its trials table: CSV, plots, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsearch.errors import names_file
from hwsearch.proxy.limits import ProxyLimit
from hwsearch.report.plots import TradeoffPanel, save_png, tradeoff_figure
from hwsearch.report.run_plots import hypervolume_figure, pareto_figure
from hwsearch.report.summary import RunSummary, summarise
from hwsearch.stats import log_macs_fit

LIMITS_TITLE = "Decisions this proxy cannot judge"
FRONT_COLUMNS = [
    "number",
    "baseline",
    "accuracy_pct",
    "accuracy_std_pct",
    "seeds",
    "budget",
    "latency_ms",
    "latency_error_pct",
    "latency_source",
    "macs",
    "params",
    "arch",
]


@dataclass(frozen=True)
class RunOutputs:
    """Paths of everything a report wrote."""

    trials_csv: Path
    pareto_png: Path
    tradeoff_png: Path | None
    hypervolume_png: Path
    report_md: Path
    report_html: Path


def _front_table(summary: RunSummary) -> pd.DataFrame:
    table = summary.front[FRONT_COLUMNS].copy()
    table["accuracy_pct"] = table.accuracy_pct.round(2)
    table["accuracy_std_pct"] = table.accuracy_std_pct.round(2)
    table["latency_ms"] = table.latency_ms.round(3)
    table["latency_error_pct"] = table.latency_error_pct.round(1)
    table["macs"] = (table.macs / 1e6).round(1)
    table["params"] = (table.params / 1e6).round(3)
    names = {"accuracy_pct": "accuracy %", "accuracy_std_pct": "± s.d.", "latency_ms": "latency ms",
             "latency_error_pct": "latency ± % (expected)", "macs": "MMACs", "params": "M params",
             "latency_source": "latency source"}  # fmt: skip
    return table.rename(columns=names)


def _lines(summary: RunSummary, frame: pd.DataFrame, device: str, meta: Mapping[str, str]) -> list[str]:
    acc, lat = summary.reference
    sources = ", ".join(summary.latency_sources) or "none"
    out = [f"- {key}: {value}" for key, value in meta.items()]
    out += [
        f"- trials: {len(frame)} finished, {len(summary.feasible)} feasible, {int((~frame.feasible).sum())} rejected "
        "by constraints or failed",
        _fidelity_line(summary),
        f"- latency source on {device}: **{sources}**" + (
            f" (estimates, not measurements: {_latency_error_text(summary)}; validate on the board with "
            "`hwsearch validate`)" if set(summary.latency_sources) - {"measured"} else ""),
        f"- hypervolume of the front at '{summary.report_budget}': {summary.hypervolume:.2f} (% x ms; reference "
        f"point {acc:.1f}% / {lat:.2f} ms); " + _baseline_text(summary),
    ]  # fmt: skip
    if summary.front_fit is not None:
        out.append(f"- accuracy vs log10(MACs) along the front: {summary.front_fit.slope:.2f} points per decade, "
                   f"R² = {summary.front_fit.r2:.3f} ({len(summary.front)} networks, "
                   f"{summary.front.macs.max() / summary.front.macs.min():.1f}x in MACs)")  # fmt: skip
    if summary.fit is not None:
        out.append(
            f"- accuracy vs log10(MACs) over the {len(summary.at_report)} networks at "
            f"'{summary.report_budget}': {summary.fit.slope:.2f} points per decade, R² = {summary.fit.r2:.3f}"
        )
    return out


def _latency_error_text(summary: RunSummary) -> str:
    errors = summary.feasible.latency_error_pct.dropna()
    if errors.empty:
        return "no cross-validated error recorded"
    low, high = errors.min(), errors.max()
    spread = f"±{low:.0f}%" if round(low) == round(high) else f"±{low:.0f}% to ±{high:.0f}%"
    return f"expected error {spread}, cross-validated on published boards the profile did not see"


def _fidelity_line(summary: RunSummary) -> str:
    seeds = int(summary.front.seeds.min()) if not summary.front.empty else 0
    confirmed = f"confirmed with {seeds}+ seeds each" if seeds >= 2 else "one seed each, not confirmed"
    if not summary.multi_fidelity:
        return f"- proxy fidelity: every network and the front at '{summary.report_budget}'; front {confirmed}"
    return (
        f"- proxy fidelity: {len(summary.feasible)} networks explored at '{summary.explore_budget}', "
        f"{len(summary.at_report)} promoted to '{summary.report_budget}'; the front is computed there only, "
        f"{confirmed} (accuracy ± seed s.d.)"
    )


def _baseline_text(summary: RunSummary) -> str:
    if summary.baselines.empty:
        return "no paper baselines in this run"
    there = summary.baselines[summary.baselines.budget == summary.report_budget]
    if there.empty:
        return f"no paper MobileNet reached '{summary.report_budget}', so none is compared with the front"
    return f"the {len(there)} paper MobileNets that reached it: {summary.baseline_hypervolume:.2f}"


def _tradeoff_panels(summary: RunSummary) -> list[TradeoffPanel]:
    """Accuracy against Mult-Adds, one panel per fidelity: every explored network, and those at the report rung."""
    panels = []
    explored = summary.feasible.drop_duplicates("arch")
    if explored.macs.nunique() >= 2:
        accuracy = explored.explore_accuracy_pct.astype(float)
        panels.append(TradeoffPanel(f"explored at '{summary.explore_budget}'", explored.macs.astype(float), accuracy,
                                    log_macs_fit(explored.macs.astype(float), accuracy),
                                    "proxy validation accuracy (%)"))  # fmt: skip
    if summary.multi_fidelity and summary.fit is not None:
        rows = summary.at_report
        panels.append(
            TradeoffPanel(
                f"promoted to '{summary.report_budget}'",
                rows.macs.astype(float),
                rows.accuracy_pct.astype(float),
                summary.fit,
                "proxy validation accuracy (%)",
            )
        )
    return panels


def _history_title(summary: RunSummary) -> str:
    return f"Hypervolume of the exploration at '{summary.explore_budget}' after each feasible trial"


def _history_text(summary: RunSummary) -> str:
    return ", ".join(f"{value:.1f}" for value in summary.history)


def write_run_report(frame: pd.DataFrame, out_dir: Path, *, device: str, explore_budget: str,
                     meta: Mapping[str, str], limits: Sequence[ProxyLimit] = ()) -> RunOutputs:  # fmt: skip
    """Write every output of a run into ``out_dir`` and return their paths.

    ``limits`` are the decisions the proxy is known not to judge, with their evidence; the report lists them.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_csv = out_dir / "trials.csv"
    with names_file(trials_csv):
        frame.to_csv(trials_csv, index=False)
    summary = summarise(frame, explore_budget)
    pareto_png = save_png(pareto_figure(summary, device), out_dir / "pareto_latency.png")
    hv_png = save_png(hypervolume_figure(summary), out_dir / "hypervolume.png")
    tradeoff_png = None
    panels = _tradeoff_panels(summary)
    if panels:
        tradeoff_png = save_png(tradeoff_figure(panels), out_dir / "tradeoff_macs.png")
    lines = _lines(summary, frame, device, meta)
    front = _front_table(summary)
    md = ["# hwsearch run report", "", *lines, "", f"## Pareto front at '{summary.report_budget}' (fastest first)", "",
          front.to_markdown(index=False), ""]  # fmt: skip
    if limits:
        md += [f"## {LIMITS_TITLE}", "", *(f"- **{limit.decision}**: {limit.evidence}." for limit in limits), ""]
    md += [f"## {_history_title(summary)}", "", _history_text(summary), "",
           "![accuracy vs latency](pareto_latency.png)", ""]  # fmt: skip
    if tradeoff_png is not None:
        md += ["![accuracy vs Mult-Adds](tradeoff_macs.png)", ""]
    md += ["![hypervolume](hypervolume.png)", ""]
    report_md = out_dir / "report.md"
    with names_file(report_md):
        report_md.write_text("\n".join(md), encoding="utf-8")
    images = [p for p in (pareto_png, tradeoff_png, hv_png) if p is not None]
    report_html = out_dir / "report.html"
    with names_file(report_html):
        report_html.write_text(_html(lines, front, summary, images, limits), encoding="utf-8")
    return RunOutputs(trials_csv, pareto_png, tradeoff_png, hv_png, report_md, report_html)


def _html(lines: list[str], front: pd.DataFrame, summary: RunSummary, images: list[Path],
          limits: Sequence[ProxyLimit]) -> str:  # fmt: skip
    items = "".join(f"<li>{html.escape(line.removeprefix('- ')).replace('**', '')}</li>" for line in lines)
    cannot = "".join(f"<li><b>{html.escape(x.decision)}</b>: {html.escape(x.evidence)}.</li>" for x in limits)
    cannot = f"<h2>{LIMITS_TITLE}</h2><ul>{cannot}</ul>" if limits else ""
    encoded = [(p.stem, base64.b64encode(p.read_bytes()).decode()) for p in images]
    pictures = "".join(
        f'<p><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></p>' for name, data in encoded
    )
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>hwsearch run report</title>"
            f"<style>{style}</style></head><body><h1>hwsearch run report</h1><ul>{items}</ul>"
            f"<h2>Pareto front at '{html.escape(summary.report_budget)}' (fastest first)</h2>"
            f"{front.to_html(index=False, border=0)}{cannot}"
            f"<h2>{html.escape(_history_title(summary))}</h2><p>{html.escape(_history_text(summary))}</p>"
            f"{pictures}</body></html>")  # fmt: skip
