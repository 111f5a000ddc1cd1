"""Several run folders read for ``hwsearch compare``: each one's reported front, device, budget and data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hwsearch.report.compare import RunFront, distinct_names, run_front
from hwsearch.search.session import Session


def load_fronts(runs: Sequence[Path]) -> list[RunFront]:
    """The front each run in ``runs`` reports, at the budget it reports at, in the order given.

    Every run is opened read-only; a folder that holds no run raises the
    :class:`~hwsearch.search.runner.StudyError` of :meth:`Session.open`.
    """
    fronts = []
    for name, run in zip(distinct_names([run.resolve() for run in runs]), runs, strict=True):
        session = Session.open(run)
        try:
            config = session.config
            fronts.append(run_front(name, session.frame(), device=Path(config.device).stem, dataset=config.dataset))
        finally:
            session.storage.engine.dispose()  # many runs in one process: no SQLite handle left open
    return fronts
