"""A search run as a plain Python API: open it (new, resumed or joined), run its trials, write its outputs.

``hwsearch run``, ``hwsearch worker``, ``hwsearch report``, ``hwsearch export``, the
benchmarks and the tests all go through :class:`Session`, so a run proceeds the same way
wherever it is started::

    session = Session.create(SearchConfig(device="jetson-nano"), Path("results/nano"))
    session.run(on_scored=print)
    session.write_outputs(Path("results/nano"))
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import pandas as pd
from optuna.storages import RDBStorage

from hwsearch.arch import Arch
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.records import ProxyResult
from hwsearch.search.config import STUDY_NAME, RunError, SearchConfig, Worker
from hwsearch.search.folder import RunLock, holds_nothing, lock_run_folder
from hwsearch.search.ladder import Standing, confirmations, promotions
from hwsearch.search.loop import TrialDone, interruptible, run_trials
from hwsearch.search.objective import Scored
from hwsearch.search.records import Record, RecordKey, RecordStore, standings_at
from hwsearch.search.results import feasible_latency, trials_frame
from hwsearch.search.runner import (
    DEVICE_ATTR,
    SOURCE_ATTR,
    StudyError,
    baselines_callback,
    check_study_file,
    completed,
    create_study,
    enqueue_due_baselines,
    fail_interrupted,
    load_study,
    open_storage,
    sqlite_url,
    storage_failures,
    study_pin,
    target_trials,
    trial_count,
)
from hwsearch.search.scoring import Scoring
from hwsearch.space import SearchSpace, load_space

STUDY_FILE = "study.db"
# Seconds a finished worker waits between looks at trainings other workers still hold.
POLL_S = 2.0
# A process alone on its machine: every core, the default heartbeat.
ONE_PROCESS = Worker()
# Study attribute prefix of the trainings of chosen networks (hwsearch train).
TRAINED_ATTR = "hwsearch_trained:"


@dataclass
class Session:
    """One process's handle on a run's study: what it searches, how it scores, and its trials.

    Build one with :meth:`create`, :meth:`resume`, :meth:`join` (which also wire the
    scoring) or :meth:`open` (read-only: report and export).
    """

    study: optuna.Study
    storage: RDBStorage
    config: SearchConfig
    space: SearchSpace
    scoring: Scoring | None = None
    records: RecordStore | None = None
    # Trials interrupted by the last stop (and baselines now due) that this session enqueued again.
    requeued: int = 0
    lock: RunLock | None = None  # the run folder's, held while this session may write its study

    def close(self) -> None:
        """Release the run folder for another process (a later ``--resume``); reading stays possible."""
        if self.lock is not None:
            self.lock.release()

    @classmethod
    def create(cls, config: SearchConfig, out_dir: Path, *, storage: str | None = None,
               study_name: str = STUDY_NAME, worker: Worker = ONE_PROCESS,
               scoring: Scoring | None = None) -> Session:  # fmt: skip
        """A new run in ``out_dir`` (its study there, or in ``storage``).

        ``scoring`` is built from ``config`` when not given; runs that compare samplers on
        one device and budget can share one. A bad space, device, budget or data set fails
        here, before anything is written.
        """
        db = out_dir / STUDY_FILE
        if storage is None:
            _refuse_existing(db)
        space = load_space(config.space)
        scoring = scoring or Scoring.for_config(config, threads=worker.threads)
        _writable(out_dir)
        lock = lock_run_folder(out_dir) if storage is None else None
        if storage is None:
            _refuse_existing(db)  # again, now that no other process can be creating it
            for leftover in (db, Path(f"{db}-journal"), Path(f"{db}-wal"), Path(f"{db}-shm")):
                leftover.unlink(missing_ok=True)  # an early stop's empty database: nothing is lost
        opened = open_storage(storage or sqlite_url(out_dir), heartbeat_s=worker.heartbeat_s)
        pins = {DEVICE_ATTR: _device_text(config), SOURCE_ATTR: scoring.source}
        study = create_study(config, opened, study_name, space, pins=pins)
        return cls(study, opened, config, space, scoring, RecordStore(opened, study_name), lock=lock)

    @classmethod
    def resume(cls, out_dir: Path, *, storage: str | None = None, study_name: str = STUDY_NAME,
               trials: int | None = None, timeout_min: float | None = None,
               worker: Worker = ONE_PROCESS) -> Session:  # fmt: skip
        """Continue the run in ``out_dir`` (or ``storage``) where it stopped.

        The study's own settings apply; only the trial count (``trials``, default the
        study's) and ``timeout_min`` may change. Trials left running by a process that died
        run again: at once for a run folder's own SQLite study, which no other process
        shares; through heartbeats for a shared one.
        """
        lock = None
        if storage is None:
            db = out_dir / STUDY_FILE
            if not db.is_file():
                check_study_file(db)  # names the missing database
            lock = lock_run_folder(out_dir)  # a live run keeps its folder: this refuses rather than fail its trial
            if holds_nothing(db):
                lock.release()
                raise StudyError(f"{db} holds no trial: the run stopped before its first one was stored",
                                 value=str(db), hint=f"nothing is lost; start it again with 'hwsearch run --out "
                                 f"{out_dir}' (the empty database is replaced)")  # fmt: skip
            check_study_file(db)
        opened = open_storage(storage or sqlite_url(out_dir), heartbeat_s=worker.heartbeat_s)
        # A new seed for the part after the stop, or the sampler would replay the first part.
        study, stored, space = load_study(opened, study_name, load_space, seed_offset=trial_count(opened, study_name))
        config = replace(stored, trials=stored.trials if trials is None else trials, timeout_min=timeout_min)
        scoring = Scoring.for_config(config, source=study_pin(study, SOURCE_ATTR), threads=worker.threads)
        records = RecordStore(opened, study_name)
        requeued = fail_interrupted(study, opened) + records.fail_interrupted() if storage is None else 0
        requeued += enqueue_due_baselines(study, config, space)
        return cls(study, opened, config, space, scoring, records, requeued, lock)

    @classmethod
    def join(cls, storage: str, *, study_name: str = STUDY_NAME, worker: Worker = ONE_PROCESS) -> Session:
        """Take part in a shared study, with everything searched taken from the study itself.

        The device profile here must be the one the study was created with, and this
        worker must be able to give the study's latency source.
        """
        # Each worker its own random stream, or all of them would propose the same candidates.
        offset = zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
        opened = open_storage(storage, heartbeat_s=worker.heartbeat_s)
        study, config, space = load_study(opened, study_name, load_space, seed_offset=offset)
        stored_device = study_pin(study, DEVICE_ATTR)
        if stored_device is not None and stored_device != _device_text(config):
            raise StudyError(f"device profile {config.device!r} here differs from the one study {study_name!r} was "
                             f"created with", value=config.device,
                             hint="copy the profile file from the machine that created the study")  # fmt: skip
        scoring = Scoring.for_config(config, source=study_pin(study, SOURCE_ATTR), threads=worker.threads)
        return cls(study, opened, config, space, scoring, RecordStore(opened, study_name))

    @classmethod
    def open(cls, run_dir: Path, *, storage: str | None = None, study_name: str = STUDY_NAME) -> Session:
        """A finished or running run, to read: no scoring is wired and nothing is trained."""
        if storage is None:
            check_study_file(run_dir / STUDY_FILE)
        opened = open_storage(storage or sqlite_url(run_dir))
        study, config, space = load_study(opened, study_name, load_space)
        return cls(study, opened, config, space, records=RecordStore.existing(opened, study_name))

    @property
    def target(self) -> int:
        """Finished trials the run aims for: the searched ones plus the paper's baselines."""
        return target_trials(self.config, self.space)

    @property
    def latency_source(self) -> str | None:
        """Where every latency of this run comes from: measured, lut or predicted."""
        return study_pin(self.study, SOURCE_ATTR)

    def completed(self) -> int:
        """Trials of the study finished with values (every worker's)."""
        return completed(self.study)

    def run(self, *, n_trials: int | None = None, on_scored: Callable[[Scored], None] | None = None,
            on_trial: Callable[[TrialDone], None] | None = None, on_record: Callable[[Record], None] | None = None,
            poll_s: float = POLL_S) -> None:  # fmt: skip
        """Explore, promote and confirm until the run is done, or until this call has explored ``n_trials``.

        A worker first takes any waiting training (a promotion or confirmation, any worker's),
        else explores one more network. Once the study holds :attr:`target` explored networks
        (or the exploration's training budget is spent), the front at the top rung and the
        networks near it are confirmed, and the call returns when no training is left, after
        waiting for other workers' if need be. The config's timeout ends it where it stands.

        ``on_scored`` sees each explored candidate's scores, ``on_trial`` each finished trial,
        ``on_record`` each promotion or confirmation trained here. Ctrl-C raises
        KeyboardInterrupt once the study is consistent; what finished stays.
        """
        if self.scoring is None or self.records is None:
            raise RunError("this session was opened to read, not to run trials", value=self.study.study_name)
        records = self.records
        callbacks = [baselines_callback(self.config, self.space)]
        deadline = None if self.config.timeout_min is None else time.monotonic() + 60 * self.config.timeout_min
        explored = 0
        with storage_failures(self.storage), interruptible() as guard:
            # Ctrl-C cuts training or measuring short at once, and waits for the study's writes.
            scoring = replace(
                self.scoring,
                latency=guard.work(self.scoring.latency),
                accuracy=guard.work(self.scoring.accuracy),
                train=guard.work(self.scoring.train),
            )
            objective = scoring.objective(self.config, self.space, on_scored=on_scored,
                                          on_trained=self._keep_training)  # fmt: skip
            while deadline is None or time.monotonic() < deadline:
                done = records.run_one(scoring.train, wrap=guard.wrap, callbacks=[guard.stop_study])
                if done is not None:
                    if on_record is not None:
                        on_record(done)
                    self.promote()
                elif self._may_explore(n_trials, explored):
                    run_trials(self.study, objective, target=self.target if n_trials is None else None, n_trials=1,
                               timeout_min=None, callbacks=callbacks, on_trial=on_trial, guard=guard,
                               done_before=explored)  # fmt: skip
                    explored += 1
                    self.promote()
                elif n_trials is not None:
                    return  # a worker with a quota leaves the finish to the others
                elif not (self.promote(final=True) or self.confirm()):
                    if not records.revive():
                        return
                    time.sleep(poll_s)  # other workers are training what is left
                guard.check()

    def _may_explore(self, n_trials: int | None, explored: int) -> bool:
        if n_trials is not None:
            return explored < n_trials
        budget_s = self.config.train_budget_s
        if budget_s is not None and self.records is not None and self.records.train_seconds() >= budget_s:
            return False
        return self.completed() < self.target

    def _keep_training(self, arch: Arch, result: ProxyResult) -> None:
        """Store an explored network's training as its exploration records, one per seed."""
        assert self.records is not None
        share = result.train_seconds / len(result.seeds)
        for i, (seed, accuracy) in enumerate(zip(result.seeds, result.seed_accuracy_pct, strict=True)):
            curve = result.epoch_accuracy_pct if i == 0 else ()
            key = RecordKey(arch.to_str(), self.config.budget, seed)
            self.records.add(Record(key, accuracy, share, "explore", curve, result.proxy_arch))

    def standings(self, budget: str, records: dict[RecordKey, Record] | None = None) -> list[Standing]:
        """Every feasible explored network recorded at ``budget``, with its mean accuracy there."""
        if records is None:
            records = self.records.records() if self.records is not None else {}
        return standings_at(records, budget, feasible_latency(self.study))

    def promote(self, *, final: bool = False) -> int:
        """Queue the promotions each rung has earned so far; returns how many were queued.

        ``final``: exploration is over, so each rung's share rounds up (see :func:`promotions`).
        With ``promotion = "end"`` a rung promotes only then, and only once no training at it
        or below is left, so that its share is chosen from the whole rung.
        """
        assert self.records is not None
        wait_for_rungs = self.config.promotes_at_end
        if wait_for_rungs and not final:
            return 0  # called after every training: no need to read the records to wait
        done, pending = self.records.records(), self.records.pending()
        queued = 0
        waiting = {k.budget for k in pending}
        for i, (lower, upper) in enumerate(itertools.pairwise(self.config.ladder)):
            if wait_for_rungs and waiting & set(self.config.ladder[: i + 1]):
                break  # the rungs above wait for this one too
            promoted = {k.arch for k in (*done, *pending) if k.budget == upper}
            archs = promotions(self.standings(lower, done), self.config.promote_fraction, promoted, final=final)
            seed = get_budget(upper).seed
            queued += len(self.records.enqueue([RecordKey(a, upper, seed) for a in archs], "promote"))
        return queued

    def confirm(self) -> int:
        """Queue more seeds at the top rung for its front and the networks near it; returns how many."""
        assert self.records is not None
        top, seeds = self.config.top_budget, self.config.confirm_seeds
        need = confirmations(self.standings(top), self.config.confirm_margin_pct, seeds)
        first = get_budget(top).seed
        keys = [RecordKey(arch, top, first + i) for arch in need for i in range(seeds)]
        return len(self.records.enqueue(keys, "confirm"))

    def frame(self) -> pd.DataFrame:
        """The trials table: each network at the highest rung it reached, the reported front marked."""
        return trials_frame(self.study, self.records.records() if self.records is not None else None)

    def record_training(self, out_dir: Path, summary: dict[str, object]) -> None:
        """Keep a finished ``hwsearch train`` of one of this run's networks in the study (one entry
        per output folder; training into the same folder again replaces it), for the report."""
        where = str(out_dir.resolve())
        key = TRAINED_ATTR + hashlib.sha1(where.encode()).hexdigest()[:12]
        self.study.set_user_attr(key, {**summary, "out": where})

    def trainings(self) -> list[dict[str, object]]:
        """The trainings recorded by :meth:`record_training`, by trial number."""
        found = [v for k, v in self.study.user_attrs.items() if k.startswith(TRAINED_ATTR) and isinstance(v, dict)]
        return sorted(found, key=lambda v: (v.get("trial", -1), str(v.get("out"))))

    def write_outputs(self, out_dir: Path) -> list[Path]:
        """Trials table, plots and reports of the study into ``out_dir``; returns the files written."""
        from hwsearch.search.outputs import write_report

        return write_report(self, out_dir)[0]


def _device_text(config: SearchConfig) -> str:
    from hwsearch.devices import resolve_device

    return resolve_device(config.device).read_text(encoding="utf-8")


def _refuse_existing(db: Path) -> None:
    if db.exists() and not holds_nothing(db):
        raise StudyError(f"{db.parent} already holds a run", value=str(db.parent),
                         hint="pass --resume to continue it, or another --out")  # fmt: skip


def _writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".hwsearch-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to output folder {out_dir}: {exc.strerror or exc}", value=str(out_dir),
                       hint="choose a writable --out") from None  # fmt: skip
