"""Many workers on one study in a real PostgreSQL server, and crash safety with kill -9.

The server comes from ``$HWSEARCH_TEST_POSTGRES`` (CI starts one), or is started here from
Debian's binaries on 127.0.0.1 with a throwaway data directory. These tests are skipped
only where no PostgreSQL binary exists, and fail instead of skipping under CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.storages import RetryFailedTrialCallback
from optuna.trial import TrialState

from hwsearch.arch import Arch
from hwsearch.cli import main
from hwsearch.space import load_space
from tests._search_support import completed_in, world

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_SCRIPT = ROOT / "scripts" / "postgres.sh"
# Seconds, for the kill test only: a trial silent for 6 beats is failed and retried. Not
# shorter: a live worker starved of CPU for 6 beats on a busy CI machine would look dead.
HEARTBEAT = "2"


def _has_postgres() -> bool:
    return shutil.which("pg_ctl") is not None or any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("HWSEARCH_TEST_POSTGRES")
    if url:
        yield url
        return
    if not _has_postgres():
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no PostgreSQL binary exists")
        pytest.skip("no PostgreSQL binary here (apt-get install postgresql)")
    folder = tempfile.mkdtemp(prefix="hwsearch-test-pg-")
    try:
        started = subprocess.run(["bash", str(POSTGRES_SCRIPT), "start", folder], capture_output=True, text=True,
                                 check=True, timeout=120)  # fmt: skip
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(POSTGRES_SCRIPT), "stop", folder], check=False, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hwsearch", *args]


def _env(tmp: Path) -> dict[str, str]:
    # One thread each: three workers on two cores must not each claim every core.
    return {**os.environ, "HWSEARCH_LATENCY_CACHE": str(tmp / "latency.sqlite"), "HWSEARCH_THREADS": "1"}


def _create(w: dict[str, str], storage: str, study: str, out: Path, trials: int) -> None:
    argv = ["run", "--storage", storage, "--study", study, "--out", str(out), "--trials", str(trials),
            "--device", w["device"], "--space", w["space"], "--dataset", w["dataset"], "--budget", w["budget"],
            "--rungs", w["rungs"], "--sampler", "random", "--no-baselines", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0


def _trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def test_three_workers_share_one_study_without_losing_a_trial(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    study = f"three-{uuid.uuid4().hex[:8]}"
    _create(w, postgres_url, study, tmp_path / "run", trials=2)
    asked = [3, 3, 4]
    workers = [subprocess.Popen(_cli("worker", "--storage", postgres_url, "--study", study, "--trials", str(n)),
                                env=_env(tmp_path), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for n in asked]  # fmt: skip
    outputs = [p.communicate(timeout=400)[0] for p in workers]
    for p, out in zip(workers, outputs, strict=True):
        assert p.returncode == 0, out
        assert "worker done" in out and "Traceback" not in out
    trials = _trials(postgres_url, study)
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(2 + sum(asked)))  # no duplicate and no gap
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Each worker ran exactly its share, and every trial can be rebuilt from the study alone.
    by_worker: dict[str, int] = {}
    for t in trials:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
        assert t.user_attrs["arch"].startswith("mbv1_") and t.user_attrs["latency_source"] == "measured"
    assert sorted(by_worker.values()) == sorted([2, *asked])
    # The workers took the space from the study: every candidate lies in it.
    space = load_space(w["space"])
    for t in trials:
        space.params_for(Arch.from_str(t.user_attrs["arch"]))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_worker_killed_mid_trial_is_failed_and_its_trial_retried(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    study = f"kill-{uuid.uuid4().hex[:8]}"
    _create(w, postgres_url, study, tmp_path / "run", trials=1)
    doomed = subprocess.Popen(_cli("worker", "--storage", postgres_url, "--study", study, "--trials", "50",
                                   "--heartbeat", HEARTBEAT), env=_env(tmp_path), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    tag = f":{doomed.pid}"
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and doomed.poll() is None:
        running = [t for t in _trials(postgres_url, study) if t.state == TrialState.RUNNING]
        victim = next((t.number for t in running if str(t.user_attrs.get("worker", "")).endswith(tag)), None)
        time.sleep(0.05)
    assert victim is not None, "the worker never started a trial"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    killed_at = time.monotonic()
    assert next(t for t in _trials(postgres_url, study) if t.number == victim).state == TrialState.RUNNING
    # A survivor that starts after the grace period (6 heartbeats) finds the silent trial.
    time.sleep(max(0.0, 6.5 * float(HEARTBEAT) - (time.monotonic() - killed_at)))
    survivor = subprocess.run(_cli("worker", "--storage", postgres_url, "--study", study, "--trials", "3",
                                   "--heartbeat", HEARTBEAT), env=_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert survivor.returncode == 0, survivor.stdout + survivor.stderr
    trials = _trials(postgres_url, study)
    states = {t.number: t.state for t in trials}
    assert states[victim] == TrialState.FAIL
    assert TrialState.RUNNING not in states.values()
    retries = [t for t in trials if RetryFailedTrialCallback.retried_trial_number(t) == victim]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    original = next(t for t in trials if t.number == victim)
    assert retries[0].params == original.params
    assert len(set(states)) == len(trials)


def test_kill_9_of_a_sqlite_run_then_resume_loses_nothing(tmp_path):
    w = world(tmp_path)
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--trials", "8", "--device", w["device"], "--space", w["space"],
            "--dataset", w["dataset"], "--budget", w["budget"], "--rungs", w["rungs"], "--sampler", "random",
            "--no-baselines"]  # fmt: skip
    run = subprocess.Popen(_cli(*argv), env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while completed_in(out / "study.db") < 3 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    storage = f"sqlite:///{out / 'study.db'}"
    before = {t.number: (t.values, t.user_attrs["arch"])
              for t in _trials(storage, "hwsearch") if t.state == TrialState.COMPLETE}  # fmt: skip
    assert 3 <= len(before) < 8, "the kill came too late to test anything"
    resumed = subprocess.run(_cli("run", "--resume", "--out", str(out)), env=_env(tmp_path), cwd=tmp_path,
                             capture_output=True, text=True, timeout=400, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _trials(storage, "hwsearch")
    complete = {t.number: (t.values, t.user_attrs["arch"]) for t in after if t.state == TrialState.COMPLETE}
    assert len(complete) == 8  # the asked-for count, kept from the study
    assert all(complete[n] == before[n] for n in before)  # every finished trial kept as it was
    assert TrialState.RUNNING not in {t.state for t in after}
    assert (out / "trials.csv").is_file() and (out / "pareto_latency.png").is_file()


def test_a_worker_joins_a_sqlite_study_in_process(tmp_path, monkeypatch, capsys):
    """The worker command without a server: the same study logic on SQLite, driven through main()."""
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    _create(w, storage, "s", tmp_path / "run", trials=3)
    assert main(["worker", "--storage", storage, "--study", "s", "--trials", "2", "--threads", "1",
                 "--out", str(tmp_path / "report")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "worker done; the study holds 5 finished trials" in out
    assert (tmp_path / "report" / "trials.csv").is_file()
    # Without --trials a worker stops at the study's target, which is already reached.
    assert main(["worker", "--storage", storage, "--study", "s"]) == 0
    assert len(_trials(storage, "s")) == 5


def test_a_worker_refuses_a_device_profile_that_differs_from_the_study(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    _create(w, storage, "s", tmp_path / "run", trials=1)
    profile = Path(w["device"])
    profile.write_text(profile.read_text().replace("min_runs: 5", "min_runs: 7"))
    assert main(["worker", "--storage", storage, "--study", "s", "--trials", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "differs from the one study 's' was created with" in err
    assert len(_trials(storage, "s")) == 1


def _records(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return _trials(storage, study + ":records")


def _complete_per_key(records: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in records:
        if t.state == TrialState.COMPLETE:
            counts[t.user_attrs["record_key"]] = counts.get(t.user_attrs["record_key"], 0) + 1
    return counts


def test_two_workers_never_train_one_network_twice_at_one_fidelity(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    w = world(tmp_path)
    study = f"ladder-{uuid.uuid4().hex[:8]}"
    argv = ["run", "--storage", postgres_url, "--study", study, "--out", str(tmp_path / "run"), "--trials", "1",
            "--device", w["device"], "--space", w["space"], "--dataset", w["dataset"], "--budget", w["budget"],
            "--rungs", w["rungs"], "--promote", "0.5", "--sampler", "random", "--no-baselines",
            "--threads", "1"]  # fmt: skip
    assert main(argv) == 0  # made the study; the target is raised for the workers below
    storage = optuna.storages.RDBStorage(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    study_id = storage.get_study_id_from_name(study)
    config = dict(storage.get_study_user_attrs(study_id)["hwsearch_config"], trials=8)
    storage.set_study_user_attr(study_id, "hwsearch_config", config)
    workers = [subprocess.Popen(_cli("worker", "--storage", postgres_url, "--study", study), env=_env(tmp_path),
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=500)[0] for p in workers]
    for p, out in zip(workers, outputs, strict=True):
        assert p.returncode == 0, out
    explored = [t for t in _trials(postgres_url, study) if t.state == TrialState.COMPLETE]
    # Both took part (with the process that made the study); each may start one last trial while the other
    # finishes the eighth.
    assert 8 <= len(explored) <= 9 and len({t.user_attrs["worker"] for t in explored}) == 3
    records = _records(postgres_url, study)
    counts = _complete_per_key(records)
    assert set(counts.values()) == {1}, counts  # no key trained twice, whichever worker queued it
    promoted = {k for k in counts if k.startswith(w["rungs"] + "|")}
    assert len(promoted) >= 4 + 2  # half of 8 promoted, and the front confirmed with a second seed
    # A duplicate a race queued was pruned without training: it carries no accuracy.
    for t in records:
        if t.state == TrialState.PRUNED:
            assert "accuracy_pct" not in t.user_attrs
    assert TrialState.RUNNING not in {t.state for t in records}


def test_kill_9_during_a_promotion_then_resume_loses_no_record(tmp_path):
    w = world(tmp_path)
    out = tmp_path / "run"
    slow_top = "standard:epochs=60,train_images=64,base_resolution=32,batch_size=8"
    argv = ["run", "--out", str(out), "--trials", "6", "--device", w["device"], "--space", w["space"],
            "--dataset", w["dataset"], "--budget", w["budget"], "--rungs", slow_top, "--promote", "0.5",
            "--sampler", "random", "--no-baselines"]  # fmt: skip
    run = subprocess.Popen(_cli(*argv), env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    storage = f"sqlite:///{out / 'study.db'}"
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
        try:
            running = [t for t in _records(storage, "hwsearch") if t.state == TrialState.RUNNING]
        except (KeyError, Exception):  # the study or its tables are not made yet
            continue
        victim = next((t for t in running if t.user_attrs.get("reason") == "promote"), None)
    assert victim is not None, "the run never started a promotion"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    before = {t.user_attrs["record_key"]: t.value for t in _records(storage, "hwsearch")
              if t.state == TrialState.COMPLETE}  # fmt: skip
    assert before, "no record had finished before the kill"
    resumed = subprocess.run(_cli("run", "--resume", "--out", str(out)), env=_env(tmp_path), cwd=tmp_path,
                             capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _records(storage, "hwsearch")
    values = {t.user_attrs["record_key"]: t.value for t in after if t.state == TrialState.COMPLETE}
    assert all(values[key] == value for key, value in before.items())  # every finished record kept as it was
    assert set(_complete_per_key(after).values()) == {1}
    assert victim.user_attrs["record_key"] in values  # the promotion the kill cut short was done on resume
    assert next(t for t in after if t.number == victim.number).state == TrialState.FAIL
    assert TrialState.RUNNING not in {t.state for t in after}
    table = pd.read_csv(out / "trials.csv")
    assert (table[table.on_front].seeds >= 2).all()
