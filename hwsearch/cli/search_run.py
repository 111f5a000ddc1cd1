"""``hwsearch run``: wire the space, device latency, proxy and study together, with progress."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import optuna
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hwsearch.arch import Arch
from hwsearch.cli.output import console
from hwsearch.cli.search_cmds import RunError
from hwsearch.data import load_dataset
from hwsearch.measurement import Measurement
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.train import EpochCallback, ProxyData, ProxyResult, train_proxy
from hwsearch.report.run_report import write_run_report
from hwsearch.search.config import SearchConfig
from hwsearch.search.objective import AccuracyFn, LatencyFn, Objective, Scored
from hwsearch.search.results import trials_frame
from hwsearch.search.runner import (
    DEVICE_ATTR,
    HEARTBEAT_S,
    SOURCE_ATTR,
    StudyCallback,
    StudyError,
    baselines_callback,
    check_study_file,
    completed,
    create_study,
    enqueue_due_baselines,
    fail_interrupted,
    load_study,
    open_storage,
    optimise,
    sqlite_url,
    study_pin,
    target_trials,
    trial_count,
)
from hwsearch.space import SearchSpace, load_space

EXIT_INTERRUPTED = 130


def latency_function(config: SearchConfig, source: str | None = None) -> tuple[LatencyFn, str]:
    """The run's latency and its source: the best for its device (measured, then table, then predictor).

    The source is chosen once, on a probe network, and then used for every candidate, so a
    front never mixes measurements with estimates. A worker joining a study passes the
    study's ``source``; a worker that cannot give it fails here, before any trial.
    """
    from hwsearch.arch import mobilenet_v1
    from hwsearch.devices import load_device
    from hwsearch.latency import AgentClient, LatencyCache, default_cache_path, latency_for

    device = load_device(config.device)
    cache = LatencyCache(default_cache_path())
    agent = None if config.agent is None else AgentClient.from_env(config.agent)
    source = latency_for(mobilenet_v1(0.25, 128), device, agent=agent, cache=cache, source=source).source

    def latency(arch: Arch) -> Measurement:
        return latency_for(arch, device, agent=agent, cache=cache, source=source)

    return latency, source


def accuracy_function(config: SearchConfig, threads: int | None = None) -> AccuracyFn:
    """Proxy training on the run's data set.

    ``threads`` is this process's share of the CPU (default: every core), so that several
    workers on one machine do not each claim all of it. A revisited architecture is not
    trained again: the :class:`Objective` reuses its result from the study.
    """
    budget = get_budget(config.budget)
    data = ProxyData.from_dataset(load_dataset(config.dataset, data_dir=config.data_dir), budget)

    def accuracy(arch: Arch, on_epoch: EpochCallback | None) -> ProxyResult:
        return train_proxy(arch, data, budget, on_epoch=on_epoch, threads=threads)

    return accuracy


def write_outputs(study: optuna.Study, config: SearchConfig, out_dir: Path) -> list[Path]:
    """Trials table, plots and reports of ``study`` into ``out_dir``."""
    meta = {"device": config.device, "space": config.space, "sampler": config.sampler, "seed": str(config.seed),
            "proxy": f"budget '{config.budget}' on {config.dataset}", "study": study.study_name}  # fmt: skip
    outputs = write_run_report(trials_frame(study), out_dir, device=Path(config.device).stem, meta=meta)
    return [p for p in vars(outputs).values() if p is not None]


def _scorer(config: SearchConfig, space: SearchSpace, source: str | None,
            threads: int | None) -> tuple[Callable[..., Objective], str]:  # fmt: skip
    """The run's :class:`Objective` (latency from ``source`` or the best available, proxy training,
    constraints), still open for its ``on_scored``; and the latency source it uses."""
    latency_fn, source = latency_function(config, source)
    accuracy_fn = accuracy_function(config, threads)
    scorer = partial(Objective, space, latency_fn, accuracy_fn, latency_budget_ms=config.latency_budget_ms,
                     macs_budget=config.macs_budget)  # fmt: skip
    return scorer, source


@dataclass(frozen=True)
class Worker:
    """How this process takes part in a study: its CPU share and heartbeat interval."""

    threads: int | None = None
    heartbeat_s: float = HEARTBEAT_S


def _device_text(config: SearchConfig) -> str:
    from hwsearch.devices import resolve_device

    return resolve_device(config.device).read_text(encoding="utf-8")


def execute(config: SearchConfig, out_dir: Path, *, storage: str | None, study_name: str, resume: bool,
            keep_trials: bool = False, worker: Worker = Worker()) -> int:  # fmt: skip
    """Run (or resume) a search and write its outputs; returns the exit code.

    On resume, the study's own settings apply; ``config`` only changes the timeout, and the
    trial count unless ``keep_trials``.
    """
    out = console()
    url = storage or sqlite_url(out_dir)
    if storage is None:
        if resume:
            check_study_file(out_dir / "study.db")
        elif (out_dir / "study.db").exists():
            raise StudyError(f"{out_dir} already holds a run", value=str(out_dir),
                             hint="pass --resume to continue it, or another --out")  # fmt: skip
    if resume:
        opened = open_storage(url, heartbeat_s=worker.heartbeat_s)
        # A new seed for the part after the stop, or the sampler would replay the first part.
        offset = trial_count(opened, study_name)
        study, stored, space = load_study(opened, study_name, load_space, seed_offset=offset)
        # The study fixes what is searched; only the amount of searching may change.
        config = replace(stored, trials=stored.trials if keep_trials else config.trials,
                         timeout_min=config.timeout_min)  # fmt: skip
        scorer, _ = _scorer(config, space, study_pin(study, SOURCE_ATTR), worker.threads)
        retried = fail_interrupted(study) if storage is None else 0
        retried += enqueue_due_baselines(study, config, space)
        if retried:
            out.print(f"{retried} trial(s) interrupted by the last stop will run again")
    else:
        # A bad device, budget or data set fails here, before a new study is written.
        space = load_space(config.space)
        scorer, source = _scorer(config, space, None, worker.threads)
        _writable(out_dir)
        pins = {DEVICE_ATTR: _device_text(config), SOURCE_ATTR: source}
        study = create_study(config, open_storage(url, heartbeat_s=worker.heartbeat_s), study_name, space, pins=pins)
    target = target_trials(config, space)
    baselines = f" + {target - config.trials} paper baselines" if target > config.trials else ""
    out.print(f"run {out_dir}: {config.trials} trials{baselines} on {config.device}, budget '{config.budget}', "
              f"sampler {config.sampler}; {completed(study)} of {target} already finished")  # fmt: skip
    try:
        _trial_loop(study, scorer, target=target, n_trials=None, timeout_min=config.timeout_min,
                    callbacks=[baselines_callback(config, space)])  # fmt: skip
    except KeyboardInterrupt:
        paths = write_outputs(study, config, out_dir)
        out.print(f"stopped after {completed(study)} finished trials; outputs in {paths[0].parent}. "
                  f"Continue with: hwsearch run --resume --out {out_dir}", soft_wrap=True)  # fmt: skip
        return EXIT_INTERRUPTED
    paths = write_outputs(study, config, out_dir)
    out.print(f"{completed(study)} trials finished; wrote {', '.join(p.name for p in paths)} in {out_dir}")
    return 0


def join(storage: str, study_name: str, *, trials: int | None, out_dir: Path | None,
         worker: Worker = Worker()) -> int:  # fmt: skip
    """``hwsearch worker``: run trials of an existing study, with everything searched taken from it.

    With ``trials`` this worker runs that many; without, it runs until the study holds its
    target of finished trials (counting every worker's).
    """
    out = console()
    # Each worker its own random stream, or all of them would propose the same candidates.
    offset = zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
    opened = open_storage(storage, heartbeat_s=worker.heartbeat_s)
    study, config, space = load_study(opened, study_name, load_space, seed_offset=offset)
    stored_device = study_pin(study, DEVICE_ATTR)
    if stored_device is not None and stored_device != _device_text(config):
        raise StudyError(f"device profile {config.device!r} here differs from the one study {study_name!r} was "
                         f"created with", value=config.device,
                         hint="copy the profile file from the machine that created the study")  # fmt: skip
    scorer, source = _scorer(config, space, study_pin(study, SOURCE_ATTR), worker.threads)
    target = target_trials(config, space)
    amount = f"{trials} trials" if trials is not None else f"trials until {target} are finished"
    out.print(f"worker on study {study_name!r}: {amount}; {config.device} latency ({source}), "
              f"budget '{config.budget}'; {completed(study)} of {target} already finished")  # fmt: skip
    try:
        _trial_loop(study, scorer, target=target if trials is None else None, n_trials=trials, timeout_min=None,
                    callbacks=[baselines_callback(config, space)])  # fmt: skip
    except KeyboardInterrupt:
        out.print(f"worker stopped; the study holds {completed(study)} finished trials")
        return EXIT_INTERRUPTED
    if out_dir is not None:
        paths = write_outputs(study, config, out_dir)
        out.print(f"wrote {', '.join(p.name for p in paths)} in {out_dir}")
    out.print(f"worker done; the study holds {completed(study)} finished trials")
    return 0


def _writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".hwsearch-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to output folder {out_dir}: {exc.strerror or exc}", value=str(out_dir),
                       hint="choose a writable --out") from None  # fmt: skip


def _trial_loop(study: optuna.Study, scorer: Callable[..., Objective], *, target: int | None, n_trials: int | None,
                timeout_min: float | None, callbacks: list[StudyCallback]) -> None:  # fmt: skip
    """Trials with a progress bar and one line per finished trial.

    The bar counts the study's finished trials towards ``target``, or this process's towards ``n_trials``.
    """
    out = console()
    # The CLI reports each trial and any stop itself; Optuna's own log would repeat them, with a
    # traceback for a trial cut short by Ctrl-C.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("trials", total=target or n_trials, completed=completed(study) if target else 0)

        def on_scored(s: Scored) -> None:
            tag = f" [{s.baseline}]" if s.baseline else ""
            score = f"{s.accuracy_pct:6.2f}%" if s.feasible else "rejected"
            progress.console.print(f"#{s.number:<4d}{score}  {s.latency.median_ms:8.3f} ms ({s.latency.source})  "
                                   f"{s.macs / 1e6:7.1f}M MACs  {s.train_seconds:5.1f}s  {s.arch}{tag}")  # fmt: skip

        def after_trial(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if target is None:
                progress.advance(task)
            else:  # other workers finish trials too
                progress.update(task, completed=completed(study))
            if interrupted.is_set():
                study.stop()

        interrupted, inside = threading.Event(), threading.Event()
        objective = scorer(on_scored=on_scored)

        def guarded(trial: optuna.Trial) -> tuple[float, float]:
            if interrupted.is_set():
                raise KeyboardInterrupt
            inside.set()
            try:
                return objective(trial)
            finally:
                inside.clear()

        try:
            with _remember_interrupts(interrupted, inside):
                optimise(study, guarded, target=target, n_trials=n_trials, timeout_min=timeout_min,
                         callbacks=[*callbacks, after_trial])  # fmt: skip
        finally:
            progress.stop()
        if interrupted.is_set():  # Ctrl-C came between trials, or its exception was dropped
            raise KeyboardInterrupt


@contextmanager
def _remember_interrupts(flag: threading.Event, inside: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``flag``, and raises KeyboardInterrupt only while ``inside`` a trial's work.

    Raised during Optuna's own bookkeeping, the interrupt can break it half-way (a trial
    stored but not reported); there the flag alone stops the loop after the trial. Python
    also drops an exception raised while a finaliser runs ("Exception ignored in ..."), and
    SQLAlchemy runs many: the flag covers that case too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: object) -> None:
        flag.set()
        if inside.is_set():
            raise KeyboardInterrupt

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        # Python would print the dropped interrupt with a traceback; the flag already holds it.
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    previous, previous_hook = signal.signal(signal.SIGINT, handler), sys.unraisablehook
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
