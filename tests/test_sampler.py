from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from hwsearch.cost import count_cost
from hwsearch.search import sampler as sampler_module
from hwsearch.search.config import SearchConfig, default_population
from hwsearch.search.runner import make_sampler, open_storage, sqlite_url
from hwsearch.search.sampler import ValidSampler, base_sampler, space_distributions, static_acceptor
from hwsearch.space import load_space

SPACE = load_space()


def _study(tmp_path, sampler):
    return optuna.create_study(storage=open_storage(sqlite_url(tmp_path)), directions=["maximize", "minimize"],
                               sampler=sampler)  # fmt: skip


def _score(trial: optuna.Trial) -> tuple[float, float]:
    """A cheap two-objective stand-in: bigger networks are more accurate and slower."""
    arch = SPACE.sample(trial)
    macs = count_cost(arch).macs
    trial.set_constraint("space_rules", float(len(SPACE.violations(arch))))
    return math.log10(macs) + 0.1 * arch.alpha, macs / 1e6


def _archs(study):
    return [SPACE.arch_from_params(t.params) for t in study.get_trials(states=(TrialState.COMPLETE,))]


@pytest.mark.parametrize("name", ["nsga2", "random", "tpe"])
def test_every_proposal_obeys_the_space_rules(tmp_path, name):
    wrapped = ValidSampler(base_sampler(name, seed=3, population=8), space_distributions(SPACE),
                           static_acceptor(SPACE))  # fmt: skip
    study = _study(tmp_path, wrapped)
    study.optimize(_score, n_trials=30)
    assert all(not SPACE.violations(arch) for arch in _archs(study))


def test_no_proposal_repeats_a_trial_of_the_study(tmp_path):
    config = SearchConfig(space="mobilenet_v1", sampler="nsga2", trials=48, population=8, seed=2)
    study = _study(tmp_path, make_sampler(config, SPACE))
    study.optimize(_score, n_trials=48)
    keys = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(keys)) == 48


def test_a_space_with_nothing_new_left_still_gets_its_trials(tmp_path):
    from tests._search_support import TINY_SPACE

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    tiny = load_space(path)
    valid = list(tiny.grid())
    wrapped = ValidSampler(base_sampler("random", seed=0, population=8), space_distributions(tiny),
                           static_acceptor(tiny))  # fmt: skip
    study = _study(tmp_path, wrapped)
    study.optimize(lambda t: (tiny.sample(t).alpha, 1.0), n_trials=len(valid) + 3)
    archs = [tiny.arch_from_params(t.params) for t in study.trials]
    # Every valid network is visited once before any is repeated; then repeats are all there is.
    assert len(set(archs[: len(valid)])) == len(valid) == len(set(archs))
    assert len(archs) == len(valid) + 3


def test_the_unwrapped_sampler_would_break_them(tmp_path):
    # The wrapper matters: plain draws in this space often have a total stride outside 16-32.
    study = _study(tmp_path, base_sampler("random", seed=3, population=8))
    study.optimize(_score, n_trials=30)
    broken = sum(bool(SPACE.violations(arch)) for arch in _archs(study))
    assert 5 <= broken <= 25


def test_the_mac_budget_is_applied_before_any_trial(tmp_path):
    budget = 60e6
    config = SearchConfig(space="mobilenet_v1", sampler="nsga2", trials=24, macs_budget=budget, seed=1)
    study = _study(tmp_path, make_sampler(config, SPACE))
    study.optimize(_score, n_trials=24)
    macs = [count_cost(arch).macs for arch in _archs(study)]
    assert len(macs) == 24 and max(macs) <= budget


def test_nsga2_still_breeds_generations_through_the_wrapper(tmp_path):
    config = SearchConfig(space="mobilenet_v1", sampler="nsga2", trials=24, population=8, seed=0)
    wrapped = make_sampler(config, SPACE)
    children = []
    breed = wrapped.base.sample_relative

    def spy(study, trial, search_space):
        child = breed(study, trial, search_space)
        children.append((trial.number, child))
        return child

    wrapped.base.sample_relative = spy
    study = _study(tmp_path, wrapped)
    study.optimize(_score, n_trials=24)
    generations = [t.system_attrs["NSGAIISampler:generation"] for t in study.trials]
    assert generations == [0] * 8 + [1] * 8 + [2] * 8
    # The first generation is drawn at random; from the second on, NSGA-II's crossover proposes.
    assert all(not child for number, child in children if number < 8)
    assert all(child for number, child in children if number >= 8)


def test_proposals_are_seeded(tmp_path):
    runs = []
    for i in range(2):
        config = SearchConfig(space="mobilenet_v1", sampler="nsga2", trials=16, population=8, seed=5)
        (tmp_path / str(i)).mkdir()
        study = _study(tmp_path / str(i), make_sampler(config, SPACE))
        study.optimize(_score, n_trials=16)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_a_proposal_that_never_passes_is_handed_on_for_the_constraints_to_record(tmp_path, monkeypatch):
    monkeypatch.setattr(sampler_module, "MAX_REDRAWS", 3)
    calls = []

    def refuse(params):
        calls.append(params)
        return False

    study = _study(tmp_path, ValidSampler(base_sampler("random", seed=0, population=8), space_distributions(SPACE),
                                          refuse))  # fmt: skip
    study.optimize(_score, n_trials=2)
    assert len(calls) == 6
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    # The trial used the last refused draw, so its decisions are all from the space.
    assert study.trials[-1].params == calls[-1]


def test_distributions_are_the_ones_the_space_asks_for(tmp_path):
    study = _study(tmp_path, optuna.samplers.RandomSampler(seed=0))
    study.optimize(_score, n_trials=1)
    assert study.trials[0].distributions == space_distributions(SPACE)


@pytest.mark.parametrize(("trials", "population"), [(5, 8), (40, 8), (150, 15), (320, 32), (5000, 32)])
def test_default_population_follows_the_budget(trials, population):
    assert default_population(trials) == population
    config = SearchConfig(trials=trials)
    assert config.population == population
    # Stored resolved, so a resumed run with more trials keeps its generations.
    assert SearchConfig.from_dict({**config.to_dict(), "trials": 10 * trials}).population == population
    assert SearchConfig(trials=trials, population=4).population == 4
