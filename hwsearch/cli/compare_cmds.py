"""``hwsearch compare RUN RUN...``: the fronts of several runs (devices, budgets) on one plot and one table."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from hwsearch.cli.output import console

DEFAULT_OUT = Path(".")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    compare = sub.add_parser("compare", help="the fronts of several runs on one plot and one table")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders of 'hwsearch run'")
    compare.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                         help="folder for compare.png and compare.csv (default: the current folder)")  # fmt: skip
    compare.set_defaults(func=cmd_compare)


def _row_cells(row: Any) -> list[str]:
    source = row.latency_source or "unknown"
    known = source != "measured" and not math.isnan(row.latency_error_pct)
    error = f" ±{row.latency_error_pct:.0f}%" if known else ""
    spread = f" ± {row.accuracy_std_pct:.2f}" if row.seeds >= 2 else ""
    return [row.run, row.device, row.budget, f"#{int(row.number)}" + (f" ({row.baseline})" if row.baseline else ""),
            f"{row.accuracy_pct:.2f}{spread} ({int(row.seeds)})", f"{row.latency_ms:.3f}", f"{source}{error}",
            f"{row.macs / 1e6:.1f}"]  # fmt: skip


def cmd_compare(args: argparse.Namespace) -> int:
    from hwsearch.report.compare import comparability_notes, compare_table, write_compare
    from hwsearch.search.compare import load_fronts

    fronts = load_fronts(args.runs)
    outputs = write_compare(fronts, args.out)
    table = Table("run", "device", "budget", "trial", "proxy accuracy % (seeds)", "latency ms", "latency source",
                  "MMACs", box=box.SIMPLE)  # fmt: skip
    for row in compare_table(fronts).itertuples():
        table.add_row(*_row_cells(row))
    out = console()
    out.print(table)
    for note in comparability_notes(fronts):
        out.print(f"note: {note}")
    out.print(f"wrote {outputs.compare_png} and {outputs.compare_csv}")
    return 0
