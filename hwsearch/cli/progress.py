"""A progress bar with done/total, elapsed time and ETA, for the long commands: ``run``, ``worker``, ``reproduce``.

On an interactive terminal rich draws the bar under the lines printed through
:meth:`Bar.print`. Into a file, a pipe or a dumb terminal nothing is drawn (no cursor
codes, no closing blank line) and :meth:`Bar.status` gives the same facts as text, for
the command's own per-step lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hwsearch.cli.output import console

# The ETA follows the mean pace since the start: one step (a trial, a network) often takes
# longer than rich's default 30 s window, which would leave no estimate at all.
_PACE_WINDOW_S = 7 * 24 * 3600.0
_UNKNOWN = "-:--:--"


@dataclass
class Bar:
    """One task on a rich progress display; see :func:`progress_bar`."""

    progress: Progress
    task_id: TaskID

    @property
    def drawn(self) -> bool:
        """True when the bar is on screen; otherwise the caller's lines should carry :meth:`status`."""
        return not self.progress.disable

    @property
    def task(self) -> Task:
        """Rich's record of the task: its counts and times."""
        return next(t for t in self.progress.tasks if t.id == self.task_id)

    def print(self, line: str) -> None:
        """``line`` above the bar (or plainly, when no bar is drawn)."""
        self.progress.console.print(line)

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more as done."""
        self.progress.advance(self.task_id, steps)

    def update(self, completed: int) -> None:
        """Set how many are done (for counts kept elsewhere, such as a shared study's)."""
        self.progress.update(self.task_id, completed=completed)

    def status(self) -> str:
        """The bar's facts as text: ``3/16 0:00:09 eta 0:00:39``."""
        task = self.task
        total = "?" if task.total is None else f"{task.total:.0f}"
        done = f"{task.completed:.0f}".rjust(len(total))  # the lines of one bar stay aligned
        return f"{done}/{total} {_clock(task.elapsed)} eta {_clock(task.time_remaining)}"


def _clock(seconds: float | None) -> str:
    """H:MM:SS, as rich's time columns write it."""
    return _UNKNOWN if seconds is None else str(timedelta(seconds=max(0, int(seconds))))


@contextmanager
def progress_bar(description: str, total: int, *, done: int = 0) -> Iterator[Bar]:
    """A bar towards ``total`` steps, ``done`` of them finished already; gone when the block ends."""
    out = console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    # Off a terminal rich draws no bar anyway but ends with a blank line; disabled, it still counts and times.
    with Progress(*columns, console=out, transient=True, disable=not out.is_interactive,
                  speed_estimate_period=_PACE_WINDOW_S) as progress:  # fmt: skip
        task_id = progress.add_task(description, total=total, completed=done)
        progress.advance(task_id, 0)  # a sample at the start, so the first finished step already gives an ETA
        yield Bar(progress, task_id)
