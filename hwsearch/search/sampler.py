"""Samplers that propose only architectures the space allows.

The space's rules (total stride, smallest final feature map) and a MAC budget are known
before anything is measured. A plain sampler still proposes candidates that break them:
about half of uniform draws in the default space have a total stride outside 16-32, and
NSGA-II's crossover of two valid parents often yields an invalid child. Each such trial
costs a slot of the trial budget and teaches little; so does a proposal that repeats a
trial of the study. :class:`ValidSampler` wraps any Optuna sampler and redraws a proposal
until it passes these static checks and is new, as hardware-aware evolutionary NAS does
(Once-for-All's evolution finder, for one, resamples until a candidate meets its
constraints). The checks still go through Optuna's constraint API in
:class:`~hwsearch.search.objective.Objective`, for the rare proposal that never passes and
for the latency budget, which needs a measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from hwsearch.cost import count_cost
from hwsearch.errors import HwsearchError
from hwsearch.space import SearchSpace, asked_as_int

# Redraws before a proposal that still breaks a rule is passed on (and recorded infeasible).
MAX_REDRAWS = 200
# Trials whose decisions a new proposal should not repeat.
_LIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
Acceptor = Callable[[dict[str, Any]], bool]


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def space_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every decision, exactly as :meth:`SearchSpace.sample` asks for it."""
    dists: dict[str, BaseDistribution] = {}
    for name, options in space.choices().items():
        if asked_as_int(name, options):
            dists[name] = IntDistribution(options[0], options[-1])
        else:
            dists[name] = CategoricalDistribution(list(options))
    return dists


def static_acceptor(space: SearchSpace, macs_budget: float | None = None) -> Acceptor:
    """A check of the decisions ``params`` that needs no measurement: the space's rules and the MAC budget."""

    def accept(params: dict[str, Any]) -> bool:
        try:
            arch = space.arch_from_params(params)
        except HwsearchError:
            return False
        if space.violations(arch):
            return False
        return macs_budget is None or count_cost(arch).macs <= macs_budget

    return accept


class ValidSampler(BaseSampler):
    """Wraps ``base`` so that each trial's full set of decisions passes ``accept`` and is new to the study.

    Every decision is drawn in :meth:`sample_relative`: the base sampler's relative
    proposal (NSGA-II's child, TPE's joint draw) completed with its independent draws, and
    drawn again, up to :data:`MAX_REDRAWS` times, while ``accept`` refuses it or a finished,
    running or waiting trial already has it. NSGA-II's children often copy a parent, whose
    proxy result would only be reused and the trial's slot lost (pymoo eliminates
    duplicates for the same reason). Which decisions exist comes from ``distributions``, so
    the base sampler's own bookkeeping (NSGA-II's generations, TPE's start-up trials) is
    untouched.
    """

    def __init__(self, base: BaseSampler, distributions: dict[str, BaseDistribution], accept: Acceptor) -> None:
        self.base = base
        self.distributions = dict(distributions)
        self.accept = accept

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.distributions)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        inner_space = self.base.infer_relative_search_space(study, trial)
        # This trial is among them, but with no decision drawn yet it matches no full proposal.
        taken = {_key(t.params) for t in study.get_trials(deepcopy=False, states=_LIVE)}
        params: dict[str, Any] = {}
        for _ in range(MAX_REDRAWS):
            params = dict(self.base.sample_relative(study, trial, inner_space))
            for name, dist in self.distributions.items():
                if name not in params:
                    params[name] = self.base.sample_independent(study, trial, name, dist)
            if _key(params) not in taken and self.accept(params):
                break
        return params

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        # Only reached for a decision outside the space's own (a space file edited mid-study).
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def base_sampler(name: str, *, seed: int, population: int) -> BaseSampler:
    """Optuna's sampler called ``name`` (nsga2, tpe or random), seeded."""
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"no base sampler {name!r}")  # the config validated the name
