"""The per-fidelity records on real SQLite storage: idempotent queueing, one training per key, crash recovery."""

from __future__ import annotations

import time

import pytest
from optuna.trial import TrialState

from hwsearch.proxy.records import ProxyResult
from hwsearch.search.records import Record, RecordKey, RecordStore, standings_at
from hwsearch.search.runner import open_storage, sqlite_url

A, B = RecordKey("net-a", "standard", 0), RecordKey("net-b", "standard", 0)


def fake_result(key: RecordKey, accuracy: float = 80.0) -> ProxyResult:
    return ProxyResult(key.arch, "proxy-" + key.arch, accuracy, (accuracy,), (0.5,), (key.seed,), (accuracy,), 1, 2.5,
                       False, key.budget, "test")  # fmt: skip


class CountingTrainer:
    def __init__(self):
        self.trained: list[RecordKey] = []

    def __call__(self, key: RecordKey) -> ProxyResult:
        self.trained.append(key)
        return fake_result(key, 70.0 + key.seed)


@pytest.fixture
def store(tmp_path):
    return RecordStore(open_storage(sqlite_url(tmp_path)), "s")


def test_queueing_is_idempotent_and_each_key_is_trained_once(store):
    assert store.enqueue([A, A, B], "promote") == [A, B]
    assert store.enqueue([A, B], "promote") == []  # waiting already
    assert store.pending() == {A, B}
    train = CountingTrainer()
    while store.run_one(train) is not None:
        pass
    assert train.trained == [A, B] and store.pending() == set()
    assert store.enqueue([A], "confirm") == []  # done already
    records = store.records()
    assert records[A].accuracy_pct == 70.0 and records[A].reason == "promote" and records[A].train_seconds == 2.5
    assert store.train_seconds() == 5.0


def test_a_key_queued_twice_by_racing_workers_is_trained_once(store):
    # Two workers both saw A unpromoted and queued it: the storage holds two waiting trials for one key.
    for _ in range(2):
        store.study.enqueue_trial({}, user_attrs={"record_key": A.text(), "arch": A.arch, "budget": A.budget,
                                                  "seed": A.seed, "reason": "promote"})  # fmt: skip
    train = CountingTrainer()
    assert store.run_one(train) is not None
    assert store.run_one(train) is None  # the younger copy steps aside without training
    assert train.trained == [A]
    states = [(t.state, t.user_attrs.get("duplicate_of")) for t in store.study.get_trials()]
    assert states == [(TrialState.COMPLETE, None), (TrialState.PRUNED, 0)]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_a_training_left_running_by_a_dead_process_is_queued_again(tmp_path):
    storage = open_storage(sqlite_url(tmp_path))
    store = RecordStore(storage, "s")
    store.enqueue([A], "promote")
    store.study.ask()  # claimed, as by a worker that was then killed with -9
    assert store.pending() == {A} and store.run_one(CountingTrainer()) is None  # nothing waiting
    again = RecordStore(storage, "s")  # the resumed run
    assert again.fail_interrupted() == 1
    train = CountingTrainer()
    assert again.run_one(train).key == A and train.trained == [A]
    assert [t.state for t in again.study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_shared_studys_silent_training_is_revived_after_its_grace_period(tmp_path):
    storage = open_storage(sqlite_url(tmp_path), heartbeat_s=1)
    store = RecordStore(storage, "s")
    store.enqueue([A], "promote")
    claimed = store.study.ask()
    study_id = storage.get_study_id_from_name(store.study.study_name)
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, claimed.number))
    # ... and then its worker dies: no further heartbeat comes
    assert store.revive() == 1  # still within the grace period: pending, not revived
    assert [t.state for t in store.study.get_trials()] == [TrialState.RUNNING]
    # 6 heartbeat intervals of silence make it stale; Optuna reads the wall clock, which may lag a sleep here
    time.sleep(6.5)
    deadline = time.monotonic() + 30
    while store.revive() == 1 and len(store.study.get_trials()) == 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [t.state for t in store.study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]  # queued again
    assert store.revive() == 1  # the same key, still one pending training
    train = CountingTrainer()
    assert store.run_one(train).key == A and train.trained == [A]


def test_added_records_and_standings(store):
    for seed, accuracy in ((0, 80.0), (1, 82.0)):
        key = RecordKey("net-a", "standard", seed)
        store.add(Record.from_result(key, fake_result(key, accuracy), "confirm"))
    store.add(Record.from_result(A, fake_result(A, 10.0), "explore"))  # a repeat of a done key is ignored
    store.add(Record.from_result(RecordKey("net-c", "quick", 0), fake_result(A, 60.0), "explore"))
    records = store.records()
    assert records[A].accuracy_pct == 80.0
    (a,) = standings_at(records, "standard", {"net-a": 2.0, "net-c": 1.0})
    assert (a.arch, a.accuracy_pct, a.seeds, a.latency_ms) == ("net-a", 81.0, 2, 2.0)
    assert a.accuracy_std_pct == pytest.approx(2**0.5)  # sample s.d. of 80 and 82
    assert standings_at(records, "standard", {}) == []  # latency unknown: infeasible or not explored


def test_a_run_older_than_the_records_is_read_without_writing(tmp_path):
    import optuna

    storage = open_storage(sqlite_url(tmp_path))
    optuna.create_study(storage=storage, study_name="old")
    assert RecordStore.existing(storage, "old") is None
    assert optuna.get_all_study_names(storage) == ["old"]
