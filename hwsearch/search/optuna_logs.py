"""What Optuna logs under hwsearch: its warnings, but neither its INFO lines nor its reports of failed trials.

hwsearch says itself what it creates and runs (a run's header, one line per scored trial),
and a trial that fails stops the run with hwsearch's own message: one error line, or
"stopped after N finished trials" for a Ctrl-C. Optuna's lines for the same events repeat
them, the first of them ("A new study created in RDB ...") ahead of hwsearch's header, and
a failed trial's with a traceback. :mod:`hwsearch.search.runner`, through which every study
is opened, calls :func:`quiet_optuna` once when it is imported; a program that wants
Optuna's INFO lines back calls ``optuna.logging.set_verbosity(optuna.logging.INFO)`` after.
"""

from __future__ import annotations

import logging

import optuna

# The logger Optuna reports a failed trial on (parameters, exception and traceback) before the
# exception reaches hwsearch; it logs nothing else but pruned trials, which are INFO lines anyway.
TRIAL_FAILURE_LOGGER = "optuna.study._optimize"


def quiet_optuna() -> None:
    """Show Optuna's warnings and errors only, and none of its per-trial failure reports."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger(TRIAL_FAILURE_LOGGER).setLevel(logging.ERROR)
