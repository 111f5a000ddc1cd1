"""Commands of the search itself: ``run``, ``report`` and ``export``."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from hwsearch.cli.output import console, write_text
from hwsearch.cli.proxy_cmds import add_data_arguments
from hwsearch.errors import HwsearchError

RESULTS = Path("results")
STUDY_NAME = "hwsearch"
THREADS_ENV = "HWSEARCH_THREADS"
DEFAULT_TRIALS = 150


class RunError(HwsearchError):
    """A run folder, trial choice or option that cannot be used."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    run = sub.add_parser("run", help="search the space for the accuracy-latency front on a device")
    run.add_argument("--device", default="jetson-nano", help="device profile name or YAML path")
    run.add_argument("--space", default="mobilenet_v1", help="search space name or YAML path")
    run.add_argument("--trials", type=_positive_int,
                     help=f"searched trials besides the baselines (default {DEFAULT_TRIALS}; "
                          "with --resume, the run's own)")  # fmt: skip
    run.add_argument("--timeout", type=_positive_float, metavar="MIN", help="stop starting trials after MIN minutes")
    run.add_argument("--budget", default="quick", help="proxy fidelity: quick, standard or full")
    run.add_argument("--latency-budget-ms", type=_positive_float, help="reject candidates slower than this")
    run.add_argument("--macs-budget", type=_positive_float, metavar="M", help="reject candidates above M MACs")
    run.add_argument("--sampler", default="nsga2", help="nsga2, tpe, random or grid")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--population", type=_positive_int,
                     help="NSGA-II population size (default: a tenth of --trials, between 8 and 32)")  # fmt: skip
    run.add_argument("--agent", metavar="URL", help="measure on the board whose agent listens at URL")
    run.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite in the run folder)")
    run.add_argument("--study", default=STUDY_NAME, help="study name inside the storage")
    run.add_argument("--out", type=Path, help="run folder (default results/<device>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the study in --out (or --storage)")
    run.add_argument("--no-baselines", action="store_true", help="skip the paper's 16 MobileNets")
    add_data_arguments(run)
    _add_worker_arguments(run)
    run.set_defaults(func=cmd_run)

    worker = sub.add_parser("worker", help="join a study in shared storage and run some of its trials")
    worker.add_argument("--storage", metavar="URL", required=True, help="the study's storage, e.g. postgresql://...")
    worker.add_argument("--study", default=STUDY_NAME, help="study name inside the storage")
    worker.add_argument("--trials", type=_positive_int, help="trials this worker runs (default: until the study "
                        "holds its target)")  # fmt: skip
    worker.add_argument("--out", type=Path, help="also write the run's tables and plots here when done")
    _add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)

    report = sub.add_parser("report", help="regenerate a run's tables, plots and reports from its study")
    report.add_argument("run", type=Path, help="run folder")
    report.add_argument("--storage", metavar="URL")
    report.add_argument("--study", default=STUDY_NAME)
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", help="write a chosen network as PyTorch source, ONNX and JSON")
    export.add_argument("run", type=Path, help="run folder")
    choice = export.add_mutually_exclusive_group(required=True)
    choice.add_argument("--trial", type=int, help="trial number")
    choice.add_argument("--max-latency-ms", type=_positive_float, help="most accurate trial at most this slow")
    choice.add_argument("--best", action="store_true", help="most accurate feasible trial")
    export.add_argument("--out", type=Path, help="output folder (default RUN/export-<trial>)")
    export.add_argument("--storage", metavar="URL")
    export.add_argument("--study", default=STUDY_NAME)
    export.set_defaults(func=cmd_export)


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_positive_int,
                        help=f"CPU threads for proxy training (default: ${THREADS_ENV}, else every core); "
                             "give each of N workers on one machine cores/N")  # fmt: skip
    parser.add_argument("--heartbeat", type=_positive_float, metavar="S", default=10.0,
                        help="seconds between trial heartbeats; a trial silent for 6 beats is failed and retried "
                             "(use one value for every worker of a study)")  # fmt: skip


def _worker(args: argparse.Namespace) -> Any:
    import os

    from hwsearch.cli.search_run import Worker

    threads = args.threads
    if threads is None and os.environ.get(THREADS_ENV):
        text = os.environ[THREADS_ENV]
        if not text.isdigit() or int(text) < 1:
            raise RunError(f"{THREADS_ENV}={text!r} is invalid", value=text, hint="a positive integer")
        threads = int(text)
    return Worker(threads=threads, heartbeat_s=args.heartbeat)


def _storage_url(run_dir: Path, storage: str | None, *, must_exist: bool) -> str:
    from hwsearch.search.runner import check_study_file, sqlite_url

    if storage is not None:
        return storage
    if must_exist:
        check_study_file(run_dir / "study.db")
    return sqlite_url(run_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from hwsearch.search.config import SearchConfig

    if args.resume and args.out is None and args.storage is None:
        raise RunError("--resume needs the run folder", value="--resume", hint="pass --out DIR of the run to continue")
    out_dir = args.out or RESULTS / f"{Path(args.device).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    config = SearchConfig(
        device=args.device, space=args.space, trials=args.trials or DEFAULT_TRIALS, budget=args.budget,
        sampler=args.sampler, seed=args.seed, latency_budget_ms=args.latency_budget_ms, macs_budget=args.macs_budget,
        timeout_min=args.timeout, baselines=not args.no_baselines, dataset=args.dataset,
        data_dir=None if args.data_dir is None else str(args.data_dir), agent=args.agent, population=args.population,
    )  # fmt: skip
    from hwsearch.cli.search_run import execute

    return execute(
        config,
        out_dir,
        storage=args.storage,
        study_name=args.study,
        resume=args.resume,
        keep_trials=args.trials is None,
        worker=_worker(args),
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from hwsearch.cli.search_run import join

    return join(args.storage, args.study, trials=args.trials, out_dir=args.out, worker=_worker(args))


def cmd_report(args: argparse.Namespace) -> int:
    from hwsearch.cli.search_run import write_outputs
    from hwsearch.search.runner import load_study, open_storage
    from hwsearch.space import load_space

    storage = open_storage(_storage_url(args.run, args.storage, must_exist=True))
    study, config, _ = load_study(storage, args.study, load_space)
    paths = write_outputs(study, config, args.run)
    console().print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _choose_trial(frame: Any, args: argparse.Namespace) -> Any:
    feasible = frame[frame.feasible]
    if args.trial is not None:
        rows = frame[frame.number == args.trial]
        if rows.empty:
            known = f"trials {frame.number.min()}-{frame.number.max()}" if len(frame) else "none finished"
            raise RunError(f"no finished trial {args.trial}", value=args.trial, hint=known)
        return rows.iloc[0]
    if feasible.empty:
        raise RunError("the run has no feasible trial yet", value=str(args.run))
    if args.max_latency_ms is not None:
        fast = feasible[feasible.latency_ms <= args.max_latency_ms]
        if fast.empty:
            raise RunError(f"no feasible trial within {args.max_latency_ms} ms", value=args.max_latency_ms,
                           hint=f"the fastest takes {feasible.latency_ms.min():.3f} ms")  # fmt: skip
        feasible = fast
    return feasible.sort_values(["accuracy_pct", "latency_ms"], ascending=[False, True]).iloc[0]


def cmd_export(args: argparse.Namespace) -> int:
    from hwsearch.arch import Arch
    from hwsearch.export import torch_source, write_onnx
    from hwsearch.search.results import trials_frame
    from hwsearch.search.runner import load_study, open_storage
    from hwsearch.space import load_space

    storage = open_storage(_storage_url(args.run, args.storage, must_exist=True))
    study, config, _ = load_study(storage, args.study, load_space)
    row = _choose_trial(trials_frame(study), args)
    arch = Arch.from_str(row.arch)
    out_dir = args.out or args.run / f"export-{int(row.number)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    source = row.latency_source or "unknown"
    facts = {
        "Device": config.device,
        "Latency": f"{row.latency_ms:.3f} ms ({source})",
        "Proxy accuracy": f"{row.accuracy_pct:.2f}% ({config.dataset}, budget '{config.budget}', validation split)",
        "Study trial": f"{int(row.number)}" + (f" (paper baseline {row.baseline})" if row.baseline else ""),
    }
    write_text(out_dir / "model.py", torch_source(arch, facts))
    write_onnx(arch, out_dir / "model.onnx")
    write_text(out_dir / "arch.json", arch.to_json())
    scores = {
        "arch": arch.to_str(),
        "trial": int(row.number),
        "accuracy_pct": float(row.accuracy_pct),
        "latency_ms": float(row.latency_ms),
        "latency_source": source,
        "device": config.device,
        "macs": int(row.macs),
        "params": int(row.params),
        "budget": config.budget,
        "dataset": config.dataset,
    }
    write_text(out_dir / "scores.json", json.dumps(scores, indent=2, sort_keys=True))
    console().print(
        f"trial {int(row.number)}: {arch.to_str()}\nwrote {out_dir}/model.py, model.onnx, arch.json, scores.json"
    )
    return 0
