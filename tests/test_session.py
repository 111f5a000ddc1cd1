"""The run API on real SQLite studies, real proxy training and measured latency, as `hwsearch run` uses it."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hwsearch.search import RunError, SearchConfig, Session, StudyError, TrialDone, Worker
from hwsearch.search.objective import constraints_of
from hwsearch.space import RandomSuggester, load_space, sample_valid
from tests._search_support import world

ONE_THREAD = Worker(threads=1)


@pytest.fixture
def w(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    return world(tmp_path)


def tiny_config(w, **changes):
    settings = {"device": w["device"], "space": w["space"], "budget": w["budget"], "rungs": (w["rungs"],),
                "dataset": w["dataset"], "trials": 4, "baselines": False, "sampler": "random", **changes}  # fmt: skip
    return SearchConfig(**settings)


def test_a_new_run_records_everything_and_resumes(w, tmp_path):
    out = tmp_path / "run"
    session = Session.create(tiny_config(w), out, worker=ONE_THREAD)
    assert session.latency_source == "measured" and session.target == 4
    assert session.study.metric_names == ["accuracy_pct", "latency_ms"]  # named for optuna-dashboard
    scored, done = [], []
    session.run(n_trials=2, on_scored=scored.append, on_trial=done.append)
    assert session.completed() == 2 and [d.done_here for d in done] == [1, 2]
    assert [s.number for s in scored] == [0, 1] and all(isinstance(d, TrialDone) for d in done)
    first = {t.number: t.values for t in session.study.get_trials()}

    session.close()
    again = Session.resume(out, worker=ONE_THREAD)  # from the folder alone, as a new process would
    assert again.config == session.config and again.requeued == 0
    again.run()
    complete = again.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4
    assert {t.number: t.values for t in complete if t.number in first} == first
    for key in ("arch", "macs", "params", "latency_ms", "latency_source", "latency", "accuracy_pct", "train_seconds",
                "epoch_accuracy_pct", "proxy_arch", "worker"):  # fmt: skip
        assert key in complete[0].user_attrs, key
    assert again.space.arch_from_params(complete[0].params).to_str() == complete[0].user_attrs["arch"]
    with pytest.raises(StudyError, match="already holds a run"):
        Session.create(tiny_config(w), out)


def test_resume_can_change_only_the_amount_of_searching(w, tmp_path):
    out = tmp_path / "run"
    Session.create(tiny_config(w, trials=1), out, worker=ONE_THREAD).run()
    resumed = Session.resume(out, trials=3, timeout_min=5.0, worker=ONE_THREAD)
    assert (resumed.config.trials, resumed.config.timeout_min, resumed.target) == (3, 5.0, 3)
    assert resumed.config.budget == w["budget"] and resumed.config.space == w["space"]
    resumed.run()
    assert resumed.completed() == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_resume_runs_a_trial_left_running_by_a_dead_process_again(w, tmp_path):
    out = tmp_path / "run"
    session = Session.create(tiny_config(w, trials=1), out, worker=ONE_THREAD)
    session.space.sample(session.study.ask())  # left RUNNING, as by kill -9
    session.close()  # the process died: its lock went with it
    resumed = Session.resume(out, worker=ONE_THREAD)
    assert resumed.requeued == 1
    resumed.run()
    states = [t.state for t in resumed.study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.COMPLETE]


def test_infeasible_candidates_are_recorded_and_not_trained(w, tmp_path):
    session = Session.create(tiny_config(w, macs_budget=1.0, trials=2), tmp_path / "run", worker=ONE_THREAD)
    session.run()
    for trial in session.study.get_trials():
        assert trial.values[0] == 0.0 and trial.user_attrs["feasible"] is False
        assert constraints_of(trial)["macs"] > 0 and trial.user_attrs["latency_source"] == "measured"
        assert "accuracy_pct" not in trial.user_attrs and "proxy_arch" not in trial.user_attrs


def test_a_candidate_trained_earlier_in_the_study_is_not_trained_again(w, tmp_path):
    session = Session.create(tiny_config(w, trials=2), tmp_path / "run", worker=ONE_THREAD)
    params = session.space.params_for(sample_valid(load_space(w["space"]), RandomSuggester(0)))
    session.study.enqueue_trial(params)
    session.study.enqueue_trial(params, skip_if_exists=False)
    session.run()
    first, second = session.study.get_trials()
    assert second.user_attrs["accuracy_from_trial"] == first.number
    assert second.values[0] == first.values[0] and second.user_attrs["train_seconds"] == 0.0
    assert first.user_attrs["train_seconds"] > 0


def test_a_worker_joins_with_the_studys_own_settings_and_source(w, tmp_path):
    out = tmp_path / "run"
    Session.create(tiny_config(w, trials=3), out, worker=ONE_THREAD).run(n_trials=1)
    url = f"sqlite:///{out / 'study.db'}"
    joined = Session.join(url, worker=ONE_THREAD)
    assert joined.config == tiny_config(w, trials=3) and joined.latency_source == "measured"
    joined.run()  # until the study holds its target
    assert joined.completed() == 3
    workers = {t.user_attrs["worker"] for t in joined.study.get_trials()}
    assert len(workers) == 1  # one process here; the attribute says which, for dead-worker diagnosis


def test_a_worker_with_another_device_profile_is_refused(w, tmp_path):
    out = tmp_path / "run"
    Session.create(tiny_config(w, trials=1), out, worker=ONE_THREAD)
    with open(w["device"], "a") as profile:
        profile.write("# edited here\n")
    with pytest.raises(StudyError, match="differs from the one study"):
        Session.join(f"sqlite:///{out / 'study.db'}")


def test_an_opened_run_is_read_only_and_writes_its_outputs(w, tmp_path):
    out = tmp_path / "run"
    Session.create(tiny_config(w, trials=2), out, worker=ONE_THREAD).run()
    opened = Session.open(out)
    assert opened.completed() == 2 and opened.scoring is None
    with pytest.raises(RunError, match="opened to read"):
        opened.run()
    names = {p.name for p in opened.write_outputs(tmp_path / "again")}
    assert {"trials.csv", "pareto_latency.png", "report.md", "report.html"} <= names
    with pytest.raises(StudyError, match="no study database"):
        Session.open(tmp_path / "nowhere")


def _complete_per_key(session):
    counts: dict[str, int] = {}
    for t in session.records.study.get_trials(states=(TrialState.COMPLETE,)):
        counts[t.user_attrs["record_key"]] = counts.get(t.user_attrs["record_key"], 0) + 1
    return counts


def _first_promotion_after_explored(session) -> int:
    """How many networks had been explored when the first promotion was queued."""
    explored = 0
    for t in sorted(session.records.study.get_trials(), key=lambda t: t.number):
        if t.user_attrs["reason"] == "promote":
            return explored
        explored += t.user_attrs["reason"] == "explore"
    return -1


def test_asynchronous_promotion_promotes_while_the_rung_fills(w, tmp_path):
    config = tiny_config(w, trials=8, promote_fraction=0.5, promotion="async")
    session = Session.create(config, tmp_path / "run", worker=ONE_THREAD)
    session.run()
    promoted = {k.arch for k in session.records.records() if k.budget == w["rungs"]}
    assert 2 <= _first_promotion_after_explored(session) < 8  # as soon as half of the rung is a network
    assert len(promoted) >= 4 and set(_complete_per_key(session).values()) == {1}


def test_the_ladder_promotes_confirms_and_reports_at_one_fidelity(w, tmp_path):
    from hwsearch.search.ladder import front

    top = w["rungs"]
    config = tiny_config(w, trials=8, promote_fraction=0.5, confirm_seeds=2, confirm_margin_pct=0.0)
    session = Session.create(config, tmp_path / "run", worker=ONE_THREAD)
    trained = []
    session.run(on_record=trained.append)
    records = session.records.records()
    explored = session.standings(config.budget)
    promoted = {k.arch for k in records if k.budget == top}
    assert len(explored) == 8 and len(promoted) == 4  # half of the rung, chosen once it was complete
    assert _first_promotion_after_explored(session) == 8
    assert set(_complete_per_key(session).values()) == {1}  # no network trained twice at one fidelity
    assert {r.reason for r in trained} == {"promote", "confirm"} and all(r.key.budget == top for r in trained)

    frame = session.frame()
    on_front = frame[frame.on_front]
    assert not on_front.empty and set(on_front.budget) == {top}  # never a quick score beside a confirmed one
    assert (on_front.seeds >= 2).all()
    # The reported front is the top rung's own, recomputed here from its records.
    assert set(on_front.arch) == set(front(session.standings(top)))
    for row in on_front.itertuples():
        seeds = [r.accuracy_pct for k, r in records.items() if k.arch == row.arch and k.budget == top]
        assert row.accuracy_pct == pytest.approx(sum(seeds) / len(seeds))
    unpromoted = frame[frame.feasible & ~frame.arch.isin(promoted)]
    assert (unpromoted.budget == config.budget).all() and (unpromoted.seeds == 1).all()
    assert (unpromoted.accuracy_pct == unpromoted.explore_accuracy_pct).all()

    written = session.write_outputs(tmp_path / "run")
    import pandas as pd

    table = pd.read_csv(next(p for p in written if p.name == "trials.csv"))
    for column in ("budget", "seeds", "accuracy_std_pct", "on_front"):
        assert column in table.columns
    assert table.on_front.sum() == len(on_front)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "the front is computed there only, confirmed with 2+ seeds each" in report


def test_a_training_budget_stops_exploration_but_not_the_confirmation(w, tmp_path):
    # A budget any training spends: the tiny network's first training can take under 10 ms.
    config = tiny_config(w, trials=50, train_budget_s=1e-6, promote_fraction=1.0)
    session = Session.create(config, tmp_path / "run", worker=ONE_THREAD)
    session.run()
    assert session.completed() == 1  # the first training spent the budget
    frame = session.frame()
    assert frame.on_front.sum() == 1 and int(frame.seeds.iloc[0]) == 2  # promoted, then confirmed


def test_ctrl_c_during_the_studys_writes_lets_them_finish_then_stops(w, tmp_path, monkeypatch):
    import os
    import signal

    from hwsearch.search.records import RecordStore

    session = Session.create(tiny_config(w, trials=3), tmp_path / "run", worker=ONE_THREAD)
    real_add = RecordStore.add

    def interrupted_add(self, record):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the exploration record is being written
        return real_add(self, record)

    monkeypatch.setattr(RecordStore, "add", interrupted_add)
    with pytest.raises(KeyboardInterrupt):
        session.run()
    (trial,) = session.study.get_trials()
    assert trial.state == TrialState.COMPLETE  # the write and the trial finished; then the run stopped
    assert [k.arch for k in session.records.records()] == [trial.user_attrs["arch"]]
