"""A run folder has one owner at a time and recovers from the stops that used to leave it stuck."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest

from hwsearch.search import RunError, SearchConfig, Session, StudyError, Worker
from hwsearch.search.folder import holds_nothing, lock_run_folder
from hwsearch.search.runner import check_study_file
from tests._search_support import world

ONE_THREAD = Worker(threads=1)


@pytest.fixture
def w(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    return world(tmp_path)


def _config(w, **changes) -> SearchConfig:
    settings = {"device": w["device"], "space": w["space"], "budget": w["budget"], "rungs": (w["rungs"],),
                "dataset": w["dataset"], "trials": 1, "baselines": False, "sampler": "random", **changes}  # fmt: skip
    return SearchConfig(**settings)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() outside optimize(), on purpose
def test_resume_of_a_live_run_refuses_instead_of_failing_its_trial(w, tmp_path):
    out = tmp_path / "run"
    live = Session.create(_config(w), out, worker=ONE_THREAD)
    running = live.study.ask()  # the live run's trial in flight
    with pytest.raises(RunError, match=rf"{out.name} is in use by a running hwsearch \(pid {os.getpid()}\)"):
        Session.resume(out, worker=ONE_THREAD)
    assert live.study.get_trials()[running.number].state.name == "RUNNING"  # untouched
    live.close()
    assert Session.resume(out, worker=ONE_THREAD).requeued == 1  # once it is gone, its trial runs again


def test_the_lock_dies_with_its_process_even_by_kill_9(tmp_path):
    code = (
        f"import time; from pathlib import Path; from hwsearch.search.folder import lock_run_folder; "
        f"lock = lock_run_folder(Path({str(tmp_path)!r})); print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {child.pid}"):
            lock_run_folder(tmp_path)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    lock_run_folder(tmp_path).release()  # the stale lock file blocks nothing


def test_an_empty_database_from_an_early_stop_is_replaced_by_a_new_run(w, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "study.db").write_bytes(b"")  # a full disk or a kill right after the file appeared
    assert holds_nothing(out / "study.db")
    with pytest.raises(StudyError, match=r"holds no trial.*nothing is lost; start it again with 'hwsearch run --out"):
        Session.resume(out, worker=ONE_THREAD)
    session = Session.create(_config(w), out, worker=ONE_THREAD)
    session.run()
    assert session.completed() == 1 and not holds_nothing(out / "study.db")
    session.close()
    with pytest.raises(StudyError, match="already holds a run"):
        Session.create(_config(w), out)


def test_a_hot_journal_left_by_a_killed_writer_is_rolled_back_before_the_read_only_check(tmp_path):
    db = tmp_path / "study.db"
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("CREATE TABLE studies (id INTEGER)")
        con.execute("CREATE TABLE trials (id INTEGER, blob TEXT)")
        con.execute("INSERT INTO trials VALUES (1, 'kept')")
    # A writer killed mid-transaction after spilling pages into the file: a hot journal stays.
    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(db)!r}, isolation_level=None)
con.execute("PRAGMA cache_size = 1")
con.execute("BEGIN")
for i in range(2000):
    con.execute("INSERT INTO trials VALUES (?, ?)", (i, "x" * 500))
os.kill(os.getpid(), signal.SIGKILL)
"""
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert (tmp_path / "study.db-journal").exists()
    with pytest.raises(sqlite3.DatabaseError), closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        con.execute("SELECT count(*) FROM trials").fetchone()  # the defect: read-only cannot roll back
    started = time.monotonic()
    check_study_file(db)
    assert time.monotonic() - started < 10
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT blob FROM trials").fetchall() == [("kept",)]  # the killed transaction is gone


FULL_DISK_RUN = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (BYTES, BYTES))
from hwsearch.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_disk_that_fills_mid_run_is_one_line_and_resume_loses_nothing(w, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--device", w["device"], "--space", w["space"], "--dataset", w["dataset"], "--budget", w["budget"],
            "--rungs", w["rungs"], "--no-baselines", "--trials", "12", "--out", str(out)]  # fmt: skip
    code = FULL_DISK_RUN.replace("BYTES", str(120_000))  # room for the study and a few trials, not twelve
    full = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    lines = full.stderr.strip().splitlines()
    assert full.returncode == 2 and len(lines) == 1, full.stderr[-2000:]
    assert "could not write to the study" in lines[0] and f"--resume --out {out}" in lines[0]
    assert "Traceback" not in full.stderr and "Should not reach" not in full.stderr
    with closing(sqlite3.connect(f"file:{out / 'study.db'}?mode=ro", uri=True)) as con:
        before = dict(con.execute("SELECT number, state FROM trials JOIN studies USING (study_id) "
                                  "WHERE study_name = 'hwsearch'").fetchall())  # fmt: skip
    kept = {n for n, state in before.items() if state == "COMPLETE"}
    assert 0 < len(kept) < 12
    resumed = Session.resume(out, worker=ONE_THREAD)
    resumed.run()
    numbers = [t.number for t in resumed.study.get_trials() if t.state.name == "COMPLETE"]
    assert kept <= set(numbers) and len(numbers) == len(set(numbers)) and resumed.completed() == 12
