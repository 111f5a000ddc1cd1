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
from typing import ParamSpec, TypeVar

import optuna
from optuna.trial import FrozenTrial

from hwsearch.search.runner import StudyCallback, completed, optimise

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class TrialDone:
    """A trial has finished: how many this call has run, and how many the study holds (every worker's)."""

    number: int
    done_here: int
    done_in_study: int


class Guard:
    """Ctrl-C for a loop of Optuna calls: it stops the trial at work, or the loop between trials.

    The interrupt raises KeyboardInterrupt only inside :meth:`work` (training, measuring:
    Optuna then records the trial as failed). Anywhere else, in Optuna's or hwsearch's
    bookkeeping, a write to the storage cut half-way could leave the study inconsistent or
    its SQLite file locked, so there it only sets a flag: :meth:`wrap` an objective to stop
    at the next trial's start, pass :meth:`stop_study` as a study callback, and call
    :meth:`check` between calls. Made by :func:`interruptible`.
    """

    def __init__(self) -> None:
        self.flag, self.inside = threading.Event(), threading.Event()

    def work(self, fn: Callable[P, T]) -> Callable[P, T]:
        """``fn``, during which Ctrl-C raises KeyboardInterrupt at once."""

        def working(*args: P.args, **kwargs: P.kwargs) -> T:
            self.check()
            outer = self.inside.is_set()
            self.inside.set()
            try:
                return fn(*args, **kwargs)
            finally:
                if not outer:
                    self.inside.clear()

        return working

    def wrap(self, objective: Callable[[optuna.Trial], T]) -> Callable[[optuna.Trial], T]:
        """``objective``, raising KeyboardInterrupt at its start if Ctrl-C came."""

        def guarded(trial: optuna.Trial) -> T:
            self.check()
            return objective(trial)

        return guarded

    def stop_study(self, study: optuna.Study, _trial: FrozenTrial) -> None:
        """A study callback: no further trial once Ctrl-C came."""
        if self.flag.is_set():
            study.stop()

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C came (between trials, or its exception was dropped)."""
        if self.flag.is_set():
            raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[Guard]:
    """A :class:`Guard` with Ctrl-C routed to it for the duration of the block."""
    guard = Guard()
    with _remember_interrupts(guard.flag, guard.inside):
        yield guard
    guard.check()


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], tuple[float, float]], *, target: int | None,
               n_trials: int | None, timeout_min: float | None, callbacks: Sequence[StudyCallback] = (),
               on_trial: Callable[[TrialDone], None] | None = None, guard: Guard | None = None,
               done_before: int = 0) -> None:  # fmt: skip
    """Run trials until the study holds ``target`` complete ones, this call has run ``n_trials``,
    or the timeout passes.

    Ctrl-C raises KeyboardInterrupt here once the trial it interrupted has been recorded
    as failed (or, between trials, once the study is consistent); finished trials stay.
    Inside an :func:`interruptible` block, pass its ``guard`` (and mark the objective's heavy
    parts with :meth:`Guard.work`); ``done_before`` counts the
    trials the caller ran before this call, for ``on_trial``.
    """
    if guard is None:  # the whole objective is work: nothing in it is bookkeeping of ours
        with interruptible() as own:
            run_trials(study, own.work(objective), target=target, n_trials=n_trials, timeout_min=timeout_min,
                       callbacks=callbacks, on_trial=on_trial, guard=own, done_before=done_before)  # fmt: skip
        return
    done_here = done_before

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal done_here
        done_here += 1
        if on_trial is not None:
            on_trial(TrialDone(trial.number, done_here, completed(study)))

    optimise(study, guard.wrap(objective), target=target, n_trials=n_trials, timeout_min=timeout_min,
             callbacks=[*callbacks, after_trial, guard.stop_study])  # fmt: skip
    guard.check()


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
