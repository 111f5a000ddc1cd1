"""The live display of a run: a progress bar and one line per scored candidate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwsearch.cli.progress import Bar, progress_bar

if TYPE_CHECKING:
    from hwsearch.search import Scored, TrialDone
    from hwsearch.search.records import Record


@dataclass
class RunDisplay:
    """Callbacks for :meth:`hwsearch.search.Session.run` that draw on one progress bar.

    With ``study_total`` the bar counts the study's finished trials (every worker's) towards
    it; without, this process's trials towards ``total``.
    """

    bar: Bar
    study_total: bool

    def on_scored(self, s: Scored) -> None:
        """One line per candidate: accuracy (or rejection), latency with its source, MACs, training time."""
        tag = f" [{s.baseline}]" if s.baseline else ""
        score = f"{s.accuracy_pct:6.2f}%" if s.feasible else "rejected"
        m = s.latency
        latency = m.source if m.is_measured else f"{m.source} ±{m.expected_error_pct:.0f}%"
        self.bar.print(f"#{s.number:<4d}{score}  {s.latency.latency_ms:8.3f} ms ({latency})  "
                       f"{s.macs / 1e6:7.1f}M MACs  {s.train_seconds:5.1f}s  {s.arch}{tag}")  # fmt: skip

    def on_record(self, record: Record) -> None:
        """One line per promotion or confirmation trained here."""
        key = record.key
        self.bar.print(f"  {record.reason:<8} {record.accuracy_pct:6.2f}%  at '{key.budget}' seed "
                       f"{key.seed}  {record.train_seconds:5.1f}s  {key.arch}")  # fmt: skip

    def on_trial(self, done: TrialDone) -> None:
        """Move the bar."""
        if self.study_total:
            self.bar.update(done.done_in_study)
        else:
            self.bar.advance()


@contextmanager
def run_display(total: int, *, done: int = 0, study_total: bool = True) -> Iterator[RunDisplay]:
    """A progress bar towards ``total`` trials, ``done`` of them finished already; gone when the block ends."""
    with progress_bar("trials", total, done=done) as bar:
        yield RunDisplay(bar, study_total)
