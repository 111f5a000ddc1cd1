"""Study plumbing on real SQLite files: creation, reloading, interrupted trials, baselines."""

from __future__ import annotations

import sqlite3

import pytest
from optuna.trial import TrialState

from hwsearch.search.config import CONFIG_ATTR, SearchConfig
from hwsearch.search.runner import (
    StudyError,
    baselines_callback,
    baselines_in,
    check_study_file,
    create_study,
    fail_interrupted,
    load_study,
    open_storage,
    optimise,
    sqlite_url,
    target_trials,
)
from hwsearch.space import load_space
from tests._search_support import world


def test_default_space_holds_all_16_baselines():
    names = [b.name for b in baselines_in(load_space())]
    assert len(names) == 16 and "1-224" in names and "0.25-128" in names


def test_a_study_reopens_with_its_config_and_refuses_duplicates(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(space=w["space"], trials=4, baselines=False)
    storage = open_storage(sqlite_url(tmp_path))
    create_study(config, storage, "s", space)
    again, stored, _ = load_study(open_storage(sqlite_url(tmp_path)), "s", load_space)
    assert stored == config and again.user_attrs[CONFIG_ATTR]["trials"] == 4
    with pytest.raises(StudyError, match="already exists"):
        create_study(config, storage, "s", space)
    with pytest.raises(StudyError, match="no study 'nope'"):
        load_study(storage, "nope", load_space)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_interrupted_trials_are_failed_and_retried(tmp_path):
    w = world(tmp_path)
    space = load_space(w["space"])
    config = SearchConfig(space=w["space"], trials=2, baselines=False)
    storage = open_storage(sqlite_url(tmp_path))
    study = create_study(config, storage, "s", space)
    trial = study.ask()  # left RUNNING, as by a process killed mid-trial
    space.sample(trial)
    assert fail_interrupted(study, storage) == 1
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.get_trials()[1].params == trial.params
    assert target_trials(config, space) == 2


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


def test_storage_passwords_are_masked_and_the_cause_is_kept():
    with pytest.raises(StudyError) as info:
        open_storage("postgresql://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
    assert info.value.__cause__ is not None  # --debug shows what the driver said


def test_baselines_run_after_the_searched_trials(tmp_path):
    """NSGA-II's first generation must come from the sampler, not from 16 copies of one structure."""
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
