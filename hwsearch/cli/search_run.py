"""``hwsearch run``: wire the space, device latency, proxy and study together, with progress."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hwsearch.arch import Arch
from hwsearch.cli.output import console
from hwsearch.data import load_dataset
from hwsearch.latency.measurement import Measurement
from hwsearch.proxy.budgets import get_budget
from hwsearch.proxy.train import EpochCallback, ProxyData, ProxyResult, train_proxy
from hwsearch.report.run_report import write_run_report
from hwsearch.search.config import SearchConfig
from hwsearch.search.objective import AccuracyFn, LatencyFn, Objective, Scored
from hwsearch.search.results import trials_frame
from hwsearch.search.runner import (
    completed,
    create_study,
    fail_interrupted,
    load_study,
    open_storage,
    optimise,
    requeue_baselines,
    sqlite_url,
    target_trials,
)
from hwsearch.space import SearchSpace, load_space

EXIT_INTERRUPTED = 130


def latency_function(config: SearchConfig) -> LatencyFn:
    """The run's latency: the best source for its device (measured, then table, then predictor).

    The source is chosen once, on a probe network, and then used for every candidate, so a
    front never mixes measurements with estimates.
    """
    from hwsearch.arch import mobilenet_v1
    from hwsearch.devices import load_device
    from hwsearch.latency import LatencyCache, default_cache_path
    from hwsearch.latency.client import AgentClient
    from hwsearch.latency.estimate import latency_for

    device = load_device(config.device)
    cache = LatencyCache(default_cache_path())
    agent = None if config.agent is None else AgentClient(config.agent, _token())
    source = latency_for(mobilenet_v1(0.25, 128), device, agent=agent, cache=cache).source

    def latency(arch: Arch) -> Measurement:
        return latency_for(arch, device, agent=agent, cache=cache, source=source)

    return latency


def _token() -> str | None:
    import os

    from hwsearch.latency.agent import TOKEN_ENV

    return os.environ.get(TOKEN_ENV) or None


def accuracy_function(config: SearchConfig) -> AccuracyFn:
    """Proxy training on the run's data set, remembering each architecture's result."""
    budget = get_budget(config.budget)
    data = ProxyData.from_dataset(load_dataset(config.dataset, data_dir=config.data_dir), budget)
    seen: dict[str, ProxyResult] = {}

    def accuracy(arch: Arch, on_epoch: EpochCallback | None) -> ProxyResult:
        # Samplers revisit architectures; the proxy is deterministic, so train each once.
        key = arch.to_str()
        if key not in seen:
            seen[key] = train_proxy(arch, data, budget, on_epoch=on_epoch)
        return seen[key]

    return accuracy


def write_outputs(study: optuna.Study, config: SearchConfig, out_dir: Path) -> list[Path]:
    """Trials table, plots and reports of ``study`` into ``out_dir``."""
    meta = {"device": config.device, "space": config.space, "sampler": config.sampler, "seed": str(config.seed),
            "proxy": f"budget '{config.budget}' on {config.dataset}", "study": study.study_name}  # fmt: skip
    outputs = write_run_report(trials_frame(study), out_dir, device=Path(config.device).stem, meta=meta)
    return [p for p in vars(outputs).values() if p is not None]


def _prepare(config: SearchConfig, out_dir: Path, url: str, name: str,
             resume: bool) -> tuple[optuna.Study, SearchConfig, SearchSpace]:  # fmt: skip
    storage = open_storage(url)
    if resume:
        study, stored, space = load_study(storage, name, load_space)
        # The study fixes what is searched; only the amount of searching may change.
        config = replace(stored, trials=config.trials, timeout_min=config.timeout_min)
        return study, config, space
    space = load_space(config.space)
    return create_study(config, storage, name, space), config, space


def execute(config: SearchConfig, out_dir: Path, *, storage: str | None, study_name: str, resume: bool) -> int:
    """Run (or resume) a search and write its outputs; returns the exit code."""
    out = console()
    # The CLI reports each trial and any stop itself; Optuna's own log would repeat them, with a
    # traceback for a trial cut short by Ctrl-C.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = storage or sqlite_url(out_dir)
    if not resume and storage is None and (out_dir / "study.db").exists():
        from hwsearch.search.runner import StudyError

        raise StudyError(f"{out_dir} already holds a run", value=str(out_dir),
                         hint="pass --resume to continue it, or another --out")  # fmt: skip
    if resume:  # the study decides what is searched
        study, config, space = _prepare(config, out_dir, url, study_name, resume)
    # A bad device, budget or data set fails here, before a new study is written.
    latency_fn = latency_function(config)
    accuracy_fn = accuracy_function(config)
    if not resume:
        out_dir.mkdir(parents=True, exist_ok=True)
        study, config, space = _prepare(config, out_dir, url, study_name, resume)
    else:
        retried = fail_interrupted(study) if storage is None else 0
        retried += requeue_baselines(study, space) if config.baselines else 0
        if retried:
            out.print(f"{retried} trial(s) interrupted by the last stop will run again")
    target = target_trials(config, space)
    baselines = f" + {target - config.trials} paper baselines" if target > config.trials else ""
    out.print(f"run {out_dir}: {config.trials} trials{baselines} on {config.device}, budget '{config.budget}', "
              f"sampler {config.sampler}; {completed(study)} of {target} already finished")  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("trials", total=target, completed=completed(study))

        def on_scored(s: Scored) -> None:
            tag = f" [{s.baseline}]" if s.baseline else ""
            score = f"{s.accuracy_pct:6.2f}%" if s.feasible else "rejected"
            progress.console.print(f"#{s.number:<4d}{score}  {s.latency.median_ms:8.3f} ms ({s.latency.source})  "
                                   f"{s.macs / 1e6:7.1f}M MACs  {s.train_seconds:5.1f}s  {s.arch}{tag}")  # fmt: skip

        def after_trial(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            progress.update(task, completed=completed(study))

        objective = Objective(space, latency_fn, accuracy_fn, latency_budget_ms=config.latency_budget_ms,
                              macs_budget=config.macs_budget, on_scored=on_scored)  # fmt: skip
        try:
            optimise(study, objective, target=target, timeout_min=config.timeout_min, callbacks=[after_trial])
        except KeyboardInterrupt:
            progress.stop()
            paths = write_outputs(study, config, out_dir)
            out.print(f"stopped after {completed(study)} finished trials; outputs in {paths[0].parent}. "
                      f"Continue with: hwsearch run --resume --out {out_dir}", soft_wrap=True)  # fmt: skip
            return EXIT_INTERRUPTED
    paths = write_outputs(study, config, out_dir)
    out.print(f"{completed(study)} trials finished; wrote {', '.join(p.name for p in paths)} in {out_dir}")
    return 0
