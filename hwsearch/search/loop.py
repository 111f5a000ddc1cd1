"""The trial loop of a run, and how Ctrl-C stops it without breaking the study.

Progress reaches the caller through callbacks; nothing here prints.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial

from hwsearch.search.runner import StudyCallback, completed, optimise


@dataclass(frozen=True)
class TrialDone:
    """A trial has finished: how many this call has run, and how many the study holds (every worker's)."""

    number: int
    done_here: int
    done_in_study: int


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], tuple[float, float]], *, target: int | None,
               n_trials: int | None, timeout_min: float | None, callbacks: Sequence[StudyCallback] = (),
               on_trial: Callable[[TrialDone], None] | None = None) -> None:  # fmt: skip
    """Run trials until the study holds ``target`` complete ones, this call has run ``n_trials``,
    or the timeout passes.

    Ctrl-C raises KeyboardInterrupt here once the trial it interrupted has been recorded
    as failed (or, between trials, once the study is consistent); finished trials stay.
    """
    # Optuna would log each trial again, with a traceback for one cut short by Ctrl-C.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    interrupted, inside = threading.Event(), threading.Event()
    done_here = 0

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal done_here
        done_here += 1
        if on_trial is not None:
            on_trial(TrialDone(trial.number, done_here, completed(study)))
        if interrupted.is_set():
            study.stop()

    def guarded(trial: optuna.Trial) -> tuple[float, float]:
        if interrupted.is_set():
            raise KeyboardInterrupt
        inside.set()
        try:
            return objective(trial)
        finally:
            inside.clear()

    with _remember_interrupts(interrupted, inside):
        optimise(study, guarded, target=target, n_trials=n_trials, timeout_min=timeout_min,
                 callbacks=[*callbacks, after_trial])  # fmt: skip
    if interrupted.is_set():  # Ctrl-C came between trials, or its exception was dropped
        raise KeyboardInterrupt


@contextmanager
def _remember_interrupts(flag: threading.Event, inside: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``flag``, and raises KeyboardInterrupt only while ``inside`` a trial's work.

    Raised during Optuna's own bookkeeping, the interrupt can break it half-way (a trial
    stored but not reported); there the flag alone stops the loop after the trial. Python
    also drops an exception raised while a finaliser runs ("Exception ignored in ..."), and
    SQLAlchemy runs many: the flag covers that case too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: object) -> None:
        flag.set()
        if inside.is_set():
            raise KeyboardInterrupt

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        # Python would print the dropped interrupt with a traceback; the flag already holds it.
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    previous, previous_hook = signal.signal(signal.SIGINT, handler), sys.unraisablehook
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
