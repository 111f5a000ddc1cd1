"""The report's words for the networks it suggests, and the commands that take one further."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from hwsearch.report.labels import points_text, source_text, trial_label
from hwsearch.report.summary import RunSummary


def export_command(run_dir: Path, number: int) -> str:
    """The command that writes trial ``number`` of the run in ``run_dir`` as code and ONNX."""
    run = shlex.quote(str(run_dir))
    return f"hwsearch export {run} --trial {number} --out {shlex.quote(str(run_dir / f'export-{number}'))}"


def train_command(run_dir: Path, number: int) -> str:
    """The command that trains trial ``number`` of the run in ``run_dir`` in full."""
    run = shlex.quote(str(run_dir))
    return f"hwsearch train {run} --trial {number} --out {shlex.quote(str(run_dir / f'train-{number}'))}"


def network_text(row: pd.Series) -> str:
    """``#12: 86.10% ± 0.30 (2 seeds), 4.213 ms (predicted ±37%), 35.0M MACs``."""
    seeds = int(row.seeds)
    spread = f" ± {row.accuracy_std_pct:.2f} ({seeds} seeds)" if seeds >= 2 else " (1 seed)"
    baseline = f", the paper's {row.baseline}" if row.baseline else ""
    return (f"{trial_label(row.number)}{baseline}: {row.accuracy_pct:.2f}%{spread}, {row.latency_ms:.3f} ms "
            f"({source_text(row.to_frame().T)}), {row.macs / 1e6:.1f}M MACs")  # fmt: skip


def _noise_note(summary: RunSummary) -> str:
    spread = summary.front.accuracy_std_pct.astype(float)
    if spread.empty or spread.max() <= summary.within_pct:
        return ""
    return f"; seed s.d. on the front reaches {spread.max():.2f} points, more than this margin"


def suggestion_lines(summary: RunSummary) -> list[str]:
    """Markdown list items: the front's knee, and the fastest network within ``within_pct`` points of the best."""
    if summary.front.empty:
        return ["- no feasible network yet, so nothing to suggest"]
    if summary.knee is not None:
        knee = (f"- knee of the front: {network_text(summary.knee)}; faster than this, each step in latency "
                "costs more accuracy")  # fmt: skip
    else:
        knee = f"- knee of the front: none ({len(summary.front)} network(s) on it, no bend to find)"
    best = summary.front.accuracy_pct.max()
    within = (f"- fastest within {points_text(summary.within_pct)} of the best ({best:.2f}%): "
              f"{network_text(summary.within)}{_noise_note(summary)}")  # fmt: skip
    return [knee, within]


def history_sentence(summary: RunSummary) -> str:
    """How the exploration's hypervolume grew, in one sentence (the plot shows every step)."""
    history = summary.history
    if not history:
        return "No feasible trial yet."
    final = history[-1]
    reached = next((i + 1 for i, value in enumerate(history) if value >= 0.95 * final), len(history))
    return (f"From {history[0]:.1f} after the first feasible trial to {final:.1f} after {len(history)}; "
            f"95% of the final value was reached after {reached} (accuracy points × ms).")  # fmt: skip
