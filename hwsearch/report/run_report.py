"""Write a run's outputs from its trials table: CSV, plots, report.md and a self-contained report.html."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsearch.errors import names_file
from hwsearch.proxy.limits import ProxyLimit
from hwsearch.report.choices import DEFAULT_WITHIN_PCT
from hwsearch.report.grid import GridRank
from hwsearch.report.html_report import LIMITS_TITLE, render_html
from hwsearch.report.labels import error_range
from hwsearch.report.picks import export_command, history_sentence, suggestion_lines, train_command
from hwsearch.report.plots import save_png
from hwsearch.report.run_plots import hypervolume_figure, pareto_figure
from hwsearch.report.run_tradeoff import run_tradeoff_figure
from hwsearch.report.summary import RunSummary, summarise

__all__ = ["LIMITS_TITLE", "RunOutputs", "write_run_report"]
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
        f"- accuracy is a proxy's: short training on the run's data at the budget named, not ImageNet; "
        f"{_grid_text(summary)}",
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


def _grid_text(summary: RunSummary) -> str:
    ranks: list[GridRank] = [r for r in (summary.explore_grid, summary.report_grid) if r is not None]
    if not ranks:
        return "its rank correlation with ImageNet is not known here (too few of the paper's MobileNets in the run)"
    if len(ranks) == 2 and ranks[0].budget == ranks[1].budget:
        ranks = ranks[:1]
    return "; ".join(rank.text() for rank in ranks)


def _latency_error_text(summary: RunSummary) -> str:
    spread = error_range(summary.feasible.latency_error_pct)
    if not spread:
        return "no cross-validated error recorded"
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


def _pct(value: object) -> str:
    return f"{value:.2f}%" if isinstance(value, int | float) else "?"


def _training_line(done: Mapping[str, object]) -> str:
    """One trained network: its real accuracy beside the proxy score the search gave it."""
    return (f"- trained: #{done.get('trial')} for {done.get('epochs')} epochs on {done.get('dataset')} at its real "
            f"width: **{_pct(done.get('test_accuracy_pct'))} test accuracy** (the search's proxy score "
            f"{_pct(done.get('search_accuracy_pct'))} at '{done.get('search_budget')}'); files in "
            f"`{done.get('out')}`")  # fmt: skip


def _command_lines(summary: RunSummary, run_dir: Path) -> list[str]:
    out = []
    for row in summary.front.itertuples():
        number = int(row.number)
        out.append(f"- #{number}: `{export_command(run_dir, number)}` · `{train_command(run_dir, number)}`")
    return out


def _markdown(summary: RunSummary, lines: list[str], suggestions: list[str], *, limits: Sequence[ProxyLimit],
              run_dir: Path, tradeoff: bool) -> str:  # fmt: skip
    md = ["# hwsearch run report", "", *lines, "", "## Suggested networks", "", *suggestions, "",
          f"## Pareto front at '{summary.report_budget}' (fastest first)", "",
          _front_table(summary).to_markdown(index=False), ""]  # fmt: skip
    if not summary.front.empty:
        md += ["Export or train one:", "", *_command_lines(summary, run_dir), ""]
    if limits:
        md += [f"## {LIMITS_TITLE}", "", *(f"- **{limit.decision}**: {limit.evidence}." for limit in limits), ""]
    md += ["![accuracy vs latency](pareto_latency.png)", ""]
    if tradeoff:
        md += ["![accuracy vs Mult-Adds](tradeoff_macs.png)", ""]
    md += [f"## Hypervolume of the exploration at '{summary.explore_budget}'", "", history_sentence(summary), "",
           "![hypervolume](hypervolume.png)", "", "Every trial, with its architecture: `trials.csv`.", ""]  # fmt: skip
    return "\n".join(md)


def write_run_report(frame: pd.DataFrame, out_dir: Path, *, device: str, explore_budget: str,
                     meta: Mapping[str, str], limits: Sequence[ProxyLimit] = (), dataset: str = "",
                     within_pct: float = DEFAULT_WITHIN_PCT,
                     trainings: Sequence[Mapping[str, object]] = ()) -> RunOutputs:  # fmt: skip
    """Write every output of a run into ``out_dir`` and return their paths.

    ``trainings`` are the summaries of ``hwsearch train`` runs of this run's networks (``train.json``'s
    fields and ``out``); each gets a line.
    ``limits`` are the decisions the proxy is known not to judge, with their evidence; the report lists them.
    ``dataset`` names the proxy's data on the plots; ``within_pct`` is how many accuracy points below the
    best the suggested "fastest network close to the best" may be. Commands in the report name ``out_dir``
    as the run folder.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_csv = out_dir / "trials.csv"
    with names_file(trials_csv):
        frame.to_csv(trials_csv, index=False)
    summary = summarise(frame, explore_budget, within_pct=within_pct)
    pareto_png = save_png(pareto_figure(summary, device, dataset), out_dir / "pareto_latency.png")
    hv_png = save_png(hypervolume_figure(summary), out_dir / "hypervolume.png")
    tradeoff = run_tradeoff_figure(summary, dataset)
    tradeoff_png = None if tradeoff is None else save_png(tradeoff, out_dir / "tradeoff_macs.png")
    lines = _lines(summary, frame, device, meta) + [_training_line(t) for t in trainings]
    suggestions = suggestion_lines(summary)
    report_md = out_dir / "report.md"
    with names_file(report_md):
        report_md.write_text(_markdown(summary, lines, suggestions, limits=limits, run_dir=out_dir,
                                       tradeoff=tradeoff_png is not None),
                             encoding="utf-8")  # fmt: skip
    images = [p for p in (pareto_png, tradeoff_png) if p is not None]
    page = render_html(lines=lines, suggestions=suggestions, summary=summary, frame=frame, images=images,
                       hypervolume_png=hv_png, limits=limits, run_dir=out_dir)  # fmt: skip
    report_html = out_dir / "report.html"
    with names_file(report_html):
        report_html.write_text(page, encoding="utf-8")
    return RunOutputs(trials_csv, pareto_png, tradeoff_png, hv_png, report_md, report_html)
