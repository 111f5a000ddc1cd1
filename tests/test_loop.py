from __future__ import annotations

import os
import signal
import sys
import time

import optuna
import pytest

from hwsearch.search.loop import run_trials


def test_the_loop_stops_at_its_target_and_reports_each_trial():
    study = optuna.create_study(directions=["maximize", "minimize"])
    seen = []
    run_trials(study, lambda trial: (trial.suggest_float("x", 0, 1), 1.0), target=3, n_trials=None,
               timeout_min=None, on_trial=seen.append)  # fmt: skip
    assert len(study.trials) == 3
    assert [(d.number, d.done_here, d.done_in_study) for d in seen] == [(0, 1, 1), (1, 2, 2), (2, 3, 3)]
    run_trials(study, lambda trial: (0.0, 0.0), target=3, n_trials=None, timeout_min=None)
    assert len(study.trials) == 3  # already at its target: nothing more runs


def test_an_interrupt_lost_inside_a_trial_still_stops_the_run(capsys):
    """Python drops a KeyboardInterrupt raised inside a finaliser; the run must stop anyway."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    calls = []

    class Dropper:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the handler runs here, inside the finaliser, and Python drops its exception

    def objective(trial):
        calls.append(trial.number)
        if trial.number == 1:
            Dropper()  # its finaliser runs at once, and the interrupt lands inside it
        return 1.0, 1.0

    hook = sys.unraisablehook
    # Python's default handler, or SIG_IGN where a shell started the tests in the background.
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_trials(study, objective, target=None, n_trials=10, timeout_min=None)
    assert calls == [0, 1]
    assert signal.getsignal(signal.SIGINT) is before
    assert sys.unraisablehook is hook
    assert "Traceback" not in capsys.readouterr().err
