from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from hwsearch.search.config import CONFIG_ATTR, SearchConfig, SearchConfigError
from hwsearch.search.objective import Objective, constraints_of
from hwsearch.search.runner import (
    StudyError,
    baselines_in,
    create_study,
    fail_interrupted,
    load_study,
    open_storage,
    optimise,
    sqlite_url,
    target_trials,
)
from hwsearch.space import RandomSuggester, load_space, sample_valid
from tests._search_support import world


def real_functions(w, tmp_path, trained=None):
    """Measured latency on the fast CPU profile and real proxy training on the stripe images."""
    from hwsearch.data import load_dataset
    from hwsearch.devices import load_device
    from hwsearch.latency import LatencyCache, measure_arch
    from hwsearch.proxy.budgets import get_budget
    from hwsearch.proxy.train import ProxyData, train_proxy

    device = load_device(w["device"])
    cache = LatencyCache(tmp_path / "latency.sqlite")
    budget = get_budget(w["budget"])
    data = ProxyData.from_dataset(load_dataset(w["dataset"]), budget)

    def latency(arch):
        return measure_arch(arch, device, cache=cache)

    def accuracy(arch, on_epoch):
        if trained is not None:
            trained.append(arch.to_str())
        return train_proxy(arch, data, budget, on_epoch=on_epoch, threads=1)

    return latency, accuracy


def test_config_validation_and_round_trip():
    config = SearchConfig(trials=5, latency_budget_ms=3.5)
    assert SearchConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SearchConfigError, match="--trials 0"):
        SearchConfig(trials=0)
    with pytest.raises(SearchConfigError, match="--latency-budget-ms -1"):
        SearchConfig(latency_budget_ms=-1)
    with pytest.raises(SearchConfigError, match="--sampler 'cmaes'"):
        SearchConfig(sampler="cmaes")
    with pytest.raises(SearchConfigError, match="newer hwsearch"):
        SearchConfig.from_dict({**config.to_dict(), "future_option": 1})


def test_default_space_holds_all_16_baselines():
    names = [b.name for b in baselines_in(load_space())]
    assert len(names) == 16 and "1-224" in names and "0.25-128" in names


def test_study_in_real_sqlite_records_everything_and_resumes(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(device="fast-cpu", space=w["space"], trials=4, baselines=False, sampler="random")
    storage = open_storage(sqlite_url(tmp_path))
    study = create_study(config, storage, "s", space)
    latency, accuracy = real_functions(w, tmp_path)
    objective = Objective(space, latency, accuracy, latency_budget_ms=1e9)
    optimise(study, objective, target=2, timeout_min=None)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    first = {t.number: t.values for t in study.get_trials()}
    # reopen from the file alone, as a new process would
    again, stored, _ = load_study(open_storage(sqlite_url(tmp_path)), "s", load_space)
    assert stored == config and again.user_attrs[CONFIG_ATTR]["trials"] == 4
    optimise(again, objective, target=4, timeout_min=None)
    done = again.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 4
    assert {t.number: t.values for t in done if t.number in first} == first
    trial = done[0]
    for key in ("arch", "macs", "params", "latency_ms", "latency_source", "latency", "accuracy_pct", "train_seconds"):
        assert key in trial.user_attrs
    assert space.arch_from_params(trial.params).to_str() == trial.user_attrs["arch"]
    with pytest.raises(StudyError, match="already exists"):
        create_study(config, storage, "s", space)
    with pytest.raises(StudyError, match="no study 'nope'"):
        load_study(storage, "nope", load_space)


def test_infeasible_candidates_are_not_trained(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    trained = []
    latency, accuracy = real_functions(w, tmp_path, trained)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(0))
    objective = Objective(space, latency, accuracy, macs_budget=1.0)
    study.optimize(objective, n_trials=3)
    for trial in study.trials:
        assert trial.values[0] == 0.0 and trial.user_attrs["feasible"] is False
        assert constraints_of(trial)["macs"] > 0 and trial.user_attrs["latency_source"] == "measured"
    assert trained == []


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_interrupted_trials_are_failed_and_retried(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(space=w["space"], trials=2, baselines=False)
    study = create_study(config, open_storage(sqlite_url(tmp_path)), "s", space)
    trial = study.ask()  # left RUNNING, as by a process killed mid-trial
    space.sample(trial)
    assert fail_interrupted(study) == 1
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.get_trials()[1].params == trial.params
    assert target_trials(config, space) == 2


def test_a_candidate_trained_earlier_in_the_study_is_not_trained_again(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    trained = []
    latency, accuracy = real_functions(w, tmp_path, trained)
    study = optuna.create_study(directions=["maximize", "minimize"], storage=sqlite_url(tmp_path))
    params = space.params_for(sample_valid(space, RandomSuggester(0)))
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    study.optimize(Objective(space, latency, accuracy), n_trials=2)
    first, second = study.get_trials()
    assert len(trained) == 1  # the second worker (or session) reads the first one's result
    assert second.user_attrs["accuracy_from_trial"] == first.number
    assert second.values[0] == first.values[0] and second.user_attrs["train_seconds"] == 0.0


def test_stored_space_and_pins_travel_with_the_study(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(space=w["space"], trials=2, baselines=False)
    create_study(config, open_storage(sqlite_url(tmp_path)), "s", space, pins={"hwsearch_latency_source": "lut"})
    (tmp_path / "tiny.yaml").unlink()  # a worker elsewhere has no copy of the file
    study, loaded, loaded_space = load_study(open_storage(sqlite_url(tmp_path)), "s", load_space)
    assert loaded == config and loaded_space.choices() == space.choices()
    assert study.user_attrs["hwsearch_latency_source"] == "lut"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_seed_offsets_give_workers_their_own_proposals(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(space=w["space"], trials=2, baselines=False, sampler="random")
    proposals = []
    # One fresh study each: within one study, a sampler also steers away from trials already there.
    for i, offset in enumerate((0, 0, 7)):
        where = tmp_path / str(i)
        where.mkdir()
        create_study(config, open_storage(sqlite_url(where)), "s", space)
        study, _, _ = load_study(open_storage(sqlite_url(where)), "s", load_space, seed_offset=offset)
        proposals.append([space.sample(study.ask()).to_str() for _ in range(4)])
    assert proposals[0] == proposals[1] and proposals[0] != proposals[2]


def test_corrupt_and_foreign_files_are_refused_before_optuna_touches_them(tmp_path):
    import sqlite3

    from hwsearch.search.runner import check_study_file

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StudyError, match="not a SQLite database"):
        check_study_file(bad)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StudyError, match="holds no Optuna study"):
        check_study_file(foreign)
    with sqlite3.connect(foreign) as db:  # still only the user's own table
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_storage_passwords_are_masked_in_errors():
    with pytest.raises(StudyError) as info:
        open_storage("postgresql://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_baselines_run_after_the_searched_trials(tmp_path):
    """NSGA-II's first generation must come from the sampler, not from 16 copies of one structure."""
    from hwsearch.search.runner import baselines_callback

    space = load_space()
    config = SearchConfig(space="mobilenet_v1", trials=5, sampler="nsga2", population=4)
    study = create_study(config, open_storage(sqlite_url(tmp_path)), "s", space)

    def objective(trial):  # a closed-form stand-in: the order of trials is what is tested
        arch = space.sample(trial)
        return arch.alpha * 100, float(arch.resolution)

    optimise(study, objective, target=target_trials(config, space), timeout_min=None,
             callbacks=[baselines_callback(config, space)])  # fmt: skip
    trials = study.get_trials()
    assert len(trials) == 5 + 16
    assert all("baseline" not in t.user_attrs for t in trials[:5])
    assert sorted(t.user_attrs["baseline"] for t in trials[5:]) == sorted(b.name for b in baselines_in(space))
