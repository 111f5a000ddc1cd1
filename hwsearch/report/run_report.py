"""Write a run's outputs from its trials table: CSV, plots, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsearch.errors import names_file
from hwsearch.report.plots import TradeoffPanel, save_png, tradeoff_figure
from hwsearch.report.run_plots import hypervolume_figure, pareto_figure
from hwsearch.report.summary import RunSummary, summarise

FRONT_COLUMNS = ["number", "baseline", "accuracy_pct", "latency_ms", "latency_source", "macs", "params", "arch"]


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
    table["latency_ms"] = table.latency_ms.round(3)
    table["macs"] = (table.macs / 1e6).round(1)
    table["params"] = (table.params / 1e6).round(3)
    return table.rename(columns={"accuracy_pct": "accuracy %", "latency_ms": "latency ms", "macs": "MMACs",
                                 "params": "M params", "latency_source": "latency source"})  # fmt: skip


def _lines(summary: RunSummary, frame: pd.DataFrame, device: str, meta: Mapping[str, str]) -> list[str]:
    acc, lat = summary.reference
    sources = ", ".join(summary.latency_sources) or "none"
    out = [f"- {key}: {value}" for key, value in meta.items()]
    out += [
        f"- trials: {len(frame)} finished, {len(summary.feasible)} feasible, {int((~frame.feasible).sum())} rejected "
        "by constraints or failed",
        f"- latency source on {device}: **{sources}**" + (
            " (estimates, not measurements; validate on the board with `hwsearch validate`)"
            if set(summary.latency_sources) - {"measured"} else ""),
        f"- hypervolume of the front: {summary.hypervolume:.2f} (% x ms; reference point {acc:.1f}% / {lat:.2f} ms); "
        + (f"paper's MobileNets alone: {summary.baseline_hypervolume:.2f}" if not summary.baselines.empty
           else "no paper baselines in this run"),
    ]  # fmt: skip
    if summary.fit is not None:
        out.append(f"- accuracy vs log10(MACs) over feasible trials: {summary.fit.slope:.2f} points per decade, "
                   f"R² = {summary.fit.r2:.3f}")  # fmt: skip
    return out


def _history_text(summary: RunSummary) -> str:
    return ", ".join(f"{value:.1f}" for value in summary.history)


def write_run_report(frame: pd.DataFrame, out_dir: Path, *, device: str, meta: Mapping[str, str]) -> RunOutputs:
    """Write every output of a run into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_csv = out_dir / "trials.csv"
    with names_file(trials_csv):
        frame.to_csv(trials_csv, index=False)
    summary = summarise(frame)
    pareto_png = save_png(pareto_figure(summary, device), out_dir / "pareto_latency.png")
    hv_png = save_png(hypervolume_figure(summary), out_dir / "hypervolume.png")
    tradeoff_png = None
    if summary.fit is not None:
        feasible = summary.feasible
        title, ylabel = "searched candidates: proxy accuracy vs Mult-Adds", "proxy validation accuracy (%)"
        panel = TradeoffPanel(
            title, feasible.macs.astype(float), feasible.accuracy_pct.astype(float), summary.fit, ylabel
        )
        tradeoff_png = save_png(tradeoff_figure([panel]), out_dir / "tradeoff_macs.png")
    lines = _lines(summary, frame, device, meta)
    front = _front_table(summary)
    md = ["# hwsearch run report", "", *lines, "", "## Pareto front (fastest first)", "",
          front.to_markdown(index=False), "", "## Hypervolume after each feasible trial", "", _history_text(summary),
          "", "![accuracy vs latency](pareto_latency.png)", ""]  # fmt: skip
    if tradeoff_png is not None:
        md += ["![accuracy vs Mult-Adds](tradeoff_macs.png)", ""]
    md += ["![hypervolume](hypervolume.png)", ""]
    report_md = out_dir / "report.md"
    with names_file(report_md):
        report_md.write_text("\n".join(md), encoding="utf-8")
    images = [p for p in (pareto_png, tradeoff_png, hv_png) if p is not None]
    report_html = out_dir / "report.html"
    with names_file(report_html):
        report_html.write_text(_html(lines, front, summary, images), encoding="utf-8")
    return RunOutputs(trials_csv, pareto_png, tradeoff_png, hv_png, report_md, report_html)


def _html(lines: list[str], front: pd.DataFrame, summary: RunSummary, images: list[Path]) -> str:
    items = "".join(f"<li>{html.escape(line.removeprefix('- ')).replace('**', '')}</li>" for line in lines)
    encoded = [(p.stem, base64.b64encode(p.read_bytes()).decode()) for p in images]
    pictures = "".join(
        f'<p><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></p>' for name, data in encoded
    )
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}")  # fmt: skip
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>hwsearch run report</title>"
            f"<style>{style}</style></head><body><h1>hwsearch run report</h1><ul>{items}</ul>"
            f"<h2>Pareto front (fastest first)</h2>{front.to_html(index=False, border=0)}"
            f"<h2>Hypervolume after each feasible trial</h2><p>{html.escape(_history_text(summary))}</p>"
            f"{pictures}</body></html>")  # fmt: skip
