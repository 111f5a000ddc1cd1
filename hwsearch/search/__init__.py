"""The search: an Optuna study over a search space, scored on proxy accuracy and device latency.

:class:`Session` is the API a run goes through (``hwsearch run``, ``worker``, ``report``
and ``export``, the benchmarks and the tests). This package is the only part of hwsearch
that imports optuna; none of it loads torch until a trial trains. Names are re-exported
lazily, so the CLI can read :mod:`~hwsearch.search.config`'s defaults without loading optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwsearch._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "config": ("HEARTBEAT_S", "STUDY_NAME", "RunError", "SearchConfig", "SearchConfigError", "Worker",
               "default_population"),
    "loop": ("TrialDone", "run_trials"),
    "objective": ("Objective", "Scored"),
    "results": ("choose_trial", "trials_frame"),
    "runner": ("StudyError",),
    "scoring": ("Scoring",),
    "session": ("Session",),
})  # fmt: skip

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from hwsearch.search.config import (
        HEARTBEAT_S,
        STUDY_NAME,
        RunError,
        SearchConfig,
        SearchConfigError,
        Worker,
        default_population,
    )
    from hwsearch.search.loop import TrialDone, run_trials
    from hwsearch.search.objective import Objective, Scored
    from hwsearch.search.results import choose_trial, trials_frame
    from hwsearch.search.runner import StudyError
    from hwsearch.search.scoring import Scoring
    from hwsearch.search.session import Session
