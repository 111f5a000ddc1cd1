"""A search run as a plain Python API: open it (new, resumed or joined), run its trials, write its outputs.

``hwsearch run``, ``hwsearch worker``, ``hwsearch report``, ``hwsearch export``, the
benchmarks and the tests all go through :class:`Session`, so a run proceeds the same way
wherever it is started::

    session = Session.create(SearchConfig(device="jetson-nano"), Path("results/nano"))
    session.run(on_scored=print)
    session.write_outputs(Path("results/nano"))
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from hwsearch.search.config import STUDY_NAME, RunError, SearchConfig, Worker
from hwsearch.search.loop import TrialDone, run_trials
from hwsearch.search.objective import Scored
from hwsearch.search.results import trials_frame
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
    study_pin,
    target_trials,
    trial_count,
)
from hwsearch.search.scoring import Scoring
from hwsearch.space import SearchSpace, load_space

STUDY_FILE = "study.db"
# A process alone on its machine: every core, the default heartbeat.
ONE_PROCESS = Worker()


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
    # Trials interrupted by the last stop (and baselines now due) that this session enqueued again.
    requeued: int = 0

    @classmethod
    def create(cls, config: SearchConfig, out_dir: Path, *, storage: str | None = None,
               study_name: str = STUDY_NAME, worker: Worker = ONE_PROCESS,
               scoring: Scoring | None = None) -> Session:  # fmt: skip
        """A new run in ``out_dir`` (its study there, or in ``storage``).

        ``scoring`` is built from ``config`` when not given; runs that compare samplers on
        one device and budget can share one. A bad space, device, budget or data set fails
        here, before anything is written.
        """
        if storage is None and (out_dir / STUDY_FILE).exists():
            raise StudyError(f"{out_dir} already holds a run", value=str(out_dir),
                             hint="pass --resume to continue it, or another --out")  # fmt: skip
        space = load_space(config.space)
        scoring = scoring or Scoring.for_config(config, threads=worker.threads)
        _writable(out_dir)
        opened = open_storage(storage or sqlite_url(out_dir), heartbeat_s=worker.heartbeat_s)
        pins = {DEVICE_ATTR: _device_text(config), SOURCE_ATTR: scoring.source}
        study = create_study(config, opened, study_name, space, pins=pins)
        return cls(study, opened, config, space, scoring)

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
        if storage is None:
            check_study_file(out_dir / STUDY_FILE)
        opened = open_storage(storage or sqlite_url(out_dir), heartbeat_s=worker.heartbeat_s)
        # A new seed for the part after the stop, or the sampler would replay the first part.
        study, stored, space = load_study(opened, study_name, load_space, seed_offset=trial_count(opened, study_name))
        config = replace(stored, trials=stored.trials if trials is None else trials, timeout_min=timeout_min)
        scoring = Scoring.for_config(config, source=study_pin(study, SOURCE_ATTR), threads=worker.threads)
        requeued = fail_interrupted(study, opened) if storage is None else 0
        requeued += enqueue_due_baselines(study, config, space)
        return cls(study, opened, config, space, scoring, requeued)

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
        return cls(study, opened, config, space, scoring)

    @classmethod
    def open(cls, run_dir: Path, *, storage: str | None = None, study_name: str = STUDY_NAME) -> Session:
        """A finished or running run, to read: no scoring is wired and nothing is trained."""
        if storage is None:
            check_study_file(run_dir / STUDY_FILE)
        opened = open_storage(storage or sqlite_url(run_dir))
        study, config, space = load_study(opened, study_name, load_space)
        return cls(study, opened, config, space)

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
            on_trial: Callable[[TrialDone], None] | None = None) -> None:  # fmt: skip
        """Run trials until the study holds :attr:`target` finished ones, or until this call has
        run ``n_trials``; the config's timeout applies to a run that aims for its target.

        ``on_scored`` sees each candidate's scores as soon as they are known, ``on_trial``
        each finished trial. Ctrl-C raises KeyboardInterrupt once the study is consistent.
        """
        if self.scoring is None:
            raise RunError("this session was opened to read, not to run trials", value=self.study.study_name)
        objective = self.scoring.objective(self.config, self.space, on_scored)
        run_trials(self.study, objective, target=self.target if n_trials is None else None, n_trials=n_trials,
                   timeout_min=self.config.timeout_min if n_trials is None else None,
                   callbacks=[baselines_callback(self.config, self.space)], on_trial=on_trial)  # fmt: skip

    def write_outputs(self, out_dir: Path) -> list[Path]:
        """Trials table, plots and reports of the study into ``out_dir``; returns the files written."""
        from hwsearch.report.run_report import write_run_report

        config = self.config
        meta = {"device": config.device, "space": config.space, "sampler": config.sampler, "seed": str(config.seed),
                "proxy": f"budget '{config.budget}' on {config.dataset}", "study": self.study.study_name}  # fmt: skip
        outputs = write_run_report(trials_frame(self.study), out_dir, device=Path(config.device).stem, meta=meta)
        return [p for p in vars(outputs).values() if p is not None]


def _device_text(config: SearchConfig) -> str:
    from hwsearch.devices import resolve_device

    return resolve_device(config.device).read_text(encoding="utf-8")


def _writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".hwsearch-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to output folder {out_dir}: {exc.strerror or exc}", value=str(out_dir),
                       hint="choose a writable --out") from None  # fmt: skip
