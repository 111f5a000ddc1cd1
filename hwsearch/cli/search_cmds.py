"""Commands of the search itself: ``run``, ``worker``, ``report`` and ``export``.

They parse options, show progress and print; every step of a run is
:class:`hwsearch.search.Session`'s. Option defaults are read from
:mod:`hwsearch.search.config`, which loads no optuna.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsearch.cli.argtypes import field_default, positive_float, positive_int
from hwsearch.cli.output import EXIT_INTERRUPTED, console, write_text
from hwsearch.cli.proxy_cmds import add_data_arguments
from hwsearch.paths import RESULTS_DIR
from hwsearch.report.choices import DEFAULT_WITHIN_PCT
from hwsearch.search.config import HEARTBEAT_S, PROMOTIONS, SAMPLERS, STUDY_NAME, RunError, SearchConfig, Worker

if TYPE_CHECKING:
    import pandas as pd

    from hwsearch.search import Session

THREADS_ENV = "HWSEARCH_THREADS"
_MACS_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}


def _default(name: str) -> Any:
    """``SearchConfig``'s default for field ``name``: the one place run defaults are defined."""
    return field_default(SearchConfig, name)


def _fraction(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in (0, 1]")
    return value


def _points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of accuracy points") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of accuracy points, 0 or more")
    return value


def _rungs(text: str) -> tuple[str, ...]:
    """``standard,full`` or ``none``; a budget spec's own commas (``standard:epochs=8,seeds=2``) stay inside it."""
    if text.strip().lower() == "none":
        return ()
    # A new rung starts where a piece names a budget (NAME or NAME:...), not a FIELD=VALUE override.
    rungs: list[str] = []
    for piece in text.split(","):
        if rungs and "=" in piece.partition(":")[0]:
            rungs[-1] += "," + piece
        else:
            rungs.append(piece.strip())
    return tuple(rungs)


def macs_count(text: str) -> float:
    """A MAC count as the user writes it: ``300M``, ``1.2G``, ``450K`` or a plain ``3e8``."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKmMgG]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a MAC count (e.g. 300M, 1.2G or 300000000)")
    return positive_float(match.group(1)) * _MACS_UNITS[match.group(2).upper()]


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    run = sub.add_parser("run", help="search the space for the accuracy-latency front on a device")
    run.add_argument("--device", default=_default("device"), help="device profile name or YAML path "
                     f"(default {_default('device')})")  # fmt: skip
    run.add_argument("--space", default=_default("space"), help="search space name or YAML path "
                     f"(default {_default('space')})")  # fmt: skip
    run.add_argument("--trials", type=positive_int,
                     help=f"searched trials besides the baselines (default {_default('trials')}; "
                          "with --resume, the run's own)")  # fmt: skip
    run.add_argument("--timeout", type=positive_float, metavar="MIN", help="stop starting trials after MIN minutes")
    run.add_argument("--budget", default=_default("budget"),
                     help=f"proxy fidelity every candidate is explored at: quick, standard or full "
                          f"(default {_default('budget')})")  # fmt: skip
    run.add_argument("--rungs", type=_rungs, metavar="B[,B...]", default=_default("rungs"),
                     help="the fidelities above --budget that promoted networks are trained at, cheapest first, "
                          f"or 'none' (default {','.join(_default('rungs'))})")  # fmt: skip
    run.add_argument(
        "--promote",
        type=_fraction,
        metavar="F",
        default=_default("promote_fraction"),
        help=f"share of each rung promoted to the next (default {_default('promote_fraction')})",
    )
    run.add_argument("--promotion", default=_default("promotion"),
                     help=f"{' or '.join(PROMOTIONS)}: promote once exploring is over, each promotion chosen from "
                          "the whole rung, or as each rung fills up, as ASHA does (about twice the share) "
                          f"(default {_default('promotion')})")  # fmt: skip
    run.add_argument("--confirm-seeds", type=positive_int, metavar="N", default=_default("confirm_seeds"),
                     help="seeds the front and the networks near it get at the top rung "
                          f"(default {_default('confirm_seeds')})")  # fmt: skip
    run.add_argument("--confirm-margin", type=float, metavar="PCT", default=_default("confirm_margin_pct"),
                     help="networks this many accuracy points below the front are confirmed too "
                          f"(default {_default('confirm_margin_pct')})")  # fmt: skip
    run.add_argument("--train-budget", type=positive_float, metavar="S",
                     help="stop exploring once training has taken S seconds (promotions and confirmation "
                          "still finish)")  # fmt: skip
    run.add_argument("--latency-budget-ms", type=positive_float, help="reject candidates slower than this")
    run.add_argument("--macs-budget", type=macs_count, metavar="MACS",
                     help="reject candidates above this many multiply-accumulates: a count, or with K, M or G "
                          "(300M = 300 million)")  # fmt: skip
    run.add_argument("--sampler", default=_default("sampler"),
                     help=f"{', '.join(SAMPLERS)} (default {_default('sampler')})")  # fmt: skip
    run.add_argument("--seed", type=int, default=_default("seed"))
    run.add_argument("--population", type=positive_int,
                     help="NSGA-II population size (default: a tenth of --trials, between 8 and 32)")  # fmt: skip
    run.add_argument("--agent", metavar="URL", help="measure on the board whose agent listens at URL")
    run.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite in the run folder)")
    run.add_argument("--study", default=STUDY_NAME, help="study name inside the storage")
    run.add_argument("--out", type=Path, help=f"run folder (default {RESULTS_DIR}/<device>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue the study in --out (or --storage)")
    run.add_argument("--no-baselines", action="store_true", help="skip the paper's 16 MobileNets")
    add_data_arguments(run)
    _add_worker_arguments(run)
    run.set_defaults(func=cmd_run)

    worker = sub.add_parser("worker", help="join a study in shared storage and run some of its trials")
    worker.add_argument("--storage", metavar="URL", required=True, help="the study's storage, e.g. postgresql://...")
    worker.add_argument("--study", default=STUDY_NAME, help="study name inside the storage")
    worker.add_argument("--trials", type=positive_int, help="trials this worker runs (default: until the study "
                        "holds its target)")  # fmt: skip
    worker.add_argument("--out", type=Path, help="also write the run's tables and plots here when done")
    _add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)

    report = sub.add_parser("report", help="regenerate a run's tables, plots and reports from its study")
    report.add_argument("run", type=Path, help="run folder")
    report.add_argument("--storage", metavar="URL")
    report.add_argument("--study", default=STUDY_NAME)
    report.add_argument("--within", type=_points, metavar="PTS", default=DEFAULT_WITHIN_PCT,
                        help="suggest the fastest network at most PTS accuracy points below the front's best "
                             f"(default {DEFAULT_WITHIN_PCT:g}); the knee is suggested too")  # fmt: skip
    report.set_defaults(func=cmd_report)

    export = sub.add_parser("export", help="write a chosen network as PyTorch source, ONNX and JSON")
    export.add_argument("run", type=Path, help="run folder")
    choice = export.add_mutually_exclusive_group(required=True)
    choice.add_argument("--trial", type=int, help="trial number")
    choice.add_argument("--max-latency-ms", type=positive_float, help="most accurate trial at most this slow")
    choice.add_argument("--best", action="store_true", help="most accurate feasible trial")
    export.add_argument("--out", type=Path, help="output folder (default RUN/export-<trial>)")
    export.add_argument("--storage", metavar="URL")
    export.add_argument("--study", default=STUDY_NAME)
    export.set_defaults(func=cmd_export)


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int,
                        help=f"CPU threads for proxy training (default: ${THREADS_ENV}, else every core); "
                             "give each of N workers on one machine cores/N")  # fmt: skip
    parser.add_argument("--heartbeat", type=positive_float, metavar="S", default=HEARTBEAT_S,
                        help=f"seconds between trial heartbeats (default {HEARTBEAT_S:g}); a trial silent for 6 beats "
                             "is failed and retried (use one value for every worker of a study)")  # fmt: skip


def _worker(args: argparse.Namespace) -> Worker:
    threads = args.threads
    if threads is None and os.environ.get(THREADS_ENV):
        text = os.environ[THREADS_ENV]
        if not text.isdigit() or int(text) < 1:
            raise RunError(f"{THREADS_ENV}={text!r} is invalid", value=text, hint="a positive integer")
        threads = int(text)
    return Worker(threads=threads, heartbeat_s=args.heartbeat)


def cmd_run(args: argparse.Namespace) -> int:
    from hwsearch.search import Session

    if args.resume and args.out is None and args.storage is None:
        raise RunError("--resume needs the run folder", value="--resume", hint="pass --out DIR of the run to continue")
    out_dir = args.out or RESULTS_DIR / f"{Path(args.device).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    worker = _worker(args)
    if args.resume:
        session = Session.resume(out_dir, storage=args.storage, study_name=args.study, trials=args.trials,
                                 timeout_min=args.timeout, worker=worker)  # fmt: skip
        if session.requeued:
            console().print(f"{session.requeued} trial(s) interrupted by the last stop will run again")
    else:
        config = SearchConfig(
            device=args.device, space=args.space, trials=args.trials or _default("trials"), budget=args.budget,
            sampler=args.sampler, seed=args.seed, latency_budget_ms=args.latency_budget_ms,
            macs_budget=args.macs_budget, timeout_min=args.timeout, baselines=not args.no_baselines,
            dataset=args.dataset, data_dir=None if args.data_dir is None else str(args.data_dir), agent=args.agent,
            population=args.population, rungs=args.rungs, promote_fraction=args.promote,
            promotion=args.promotion,
            confirm_seeds=args.confirm_seeds, confirm_margin_pct=args.confirm_margin, train_budget_s=args.train_budget,
        )  # fmt: skip
        session = Session.create(config, out_dir, storage=args.storage, study_name=args.study, worker=worker)
    config, target = session.config, session.target
    baselines = f" + {target - config.trials} paper baselines" if target > config.trials else ""
    console().print(f"run {out_dir}: {config.trials} trials{baselines} on {config.device}, explored at "
                    f"'{config.budget}'{_ladder_text(config)}, sampler {config.sampler}; {session.completed()} of "
                    f"{target} already finished")  # fmt: skip
    try:
        try:
            _run_with_display(session, total=target, n_trials=None)
        except KeyboardInterrupt:
            paths = session.write_outputs(out_dir)
            console().print(f"stopped after {session.completed()} finished trials; outputs in {paths[0].parent}. "
                            f"Continue with: hwsearch run --resume --out {out_dir}", soft_wrap=True)  # fmt: skip
            return EXIT_INTERRUPTED
        paths = session.write_outputs(out_dir)
    finally:
        session.close()  # the folder is free for a --resume as soon as this one is done with it
    frame = session.frame()
    front = frame[frame.on_front]
    console().print(f"{session.completed()} trials finished; {_front_text(front)}; wrote "
                    f"{', '.join(p.name for p in paths)} in {out_dir}")  # fmt: skip
    unconfirmed = _unconfirmed_text(front, session.config)
    if unconfirmed is not None:
        console().print(f"{unconfirmed}; finish with: hwsearch run --resume --out {out_dir}", soft_wrap=True)
    return 0


def _front_text(front: pd.DataFrame) -> str:
    if front.empty:
        return "no feasible network"
    seeds = int(front.seeds.min())
    return f"front of {len(front)} at '{front.budget.iloc[0]}' ({seeds}+ seeds each)"


def _unconfirmed_text(front: pd.DataFrame, config: SearchConfig) -> str | None:
    """Why the reported ``front`` (the trials table's front rows) is not the confirmed one (a
    --timeout ended the run early), or None."""
    top = config.top_budget
    if front.empty or (front.budget.iloc[0] == top and int(front.seeds.min()) >= config.confirm_seeds):
        return None
    return (f"the run stopped before its front was confirmed: it stands at '{front.budget.iloc[0]}' with "
            f"{int(front.seeds.min())}+ seed(s), not at '{top}' with {config.confirm_seeds}")  # fmt: skip


def cmd_worker(args: argparse.Namespace) -> int:
    from hwsearch.search import Session

    session = Session.join(args.storage, study_name=args.study, worker=_worker(args))
    config, target = session.config, session.target
    amount = f"{args.trials} trials" if args.trials is not None else f"trials until {target} are finished"
    console().print(f"worker on study {args.study!r}: {amount}; {config.device} latency ({session.latency_source}), "
                    f"budget '{config.budget}'; {session.completed()} of {target} already finished")  # fmt: skip
    try:
        _run_with_display(session, total=args.trials or target, n_trials=args.trials)
    except KeyboardInterrupt:
        console().print(f"worker stopped; the study holds {session.completed()} finished trials")
        return EXIT_INTERRUPTED
    if args.out is not None:
        paths = session.write_outputs(args.out)
        console().print(f"wrote {', '.join(p.name for p in paths)} in {args.out}")
    console().print(f"worker done; the study holds {session.completed()} finished trials")
    return 0


def _ladder_text(config: SearchConfig) -> str:
    if not config.rungs:
        return f", {config.confirm_seeds} seed(s) for the front" if config.confirm_seeds > 1 else ""
    rungs = " -> ".join(f"'{b}'" for b in config.rungs)
    when = "once exploring ends" if config.promotes_at_end else "as each rung fills"
    confirm = f"front confirmed with {config.confirm_seeds} seeds"
    return f", best {config.promote_fraction:g} promoted to {rungs} {when}, {confirm}"


def _run_with_display(session: Session, *, total: int, n_trials: int | None) -> None:
    from hwsearch.cli.search_progress import run_display

    towards_target = n_trials is None  # other workers' trials move the bar too
    with run_display(total, done=session.completed() if towards_target else 0, study_total=towards_target) as shown:
        session.run(n_trials=n_trials, on_scored=shown.on_scored, on_trial=shown.on_trial, on_record=shown.on_record)


def cmd_report(args: argparse.Namespace) -> int:
    from hwsearch.search import Session
    from hwsearch.search.outputs import write_report

    session = Session.open(args.run, storage=args.storage, study_name=args.study)
    paths, suggestions = write_report(session, args.run, within_pct=args.within)
    out = console()
    out.print(f"wrote {', '.join(str(p) for p in paths)}")
    for line in suggestions:
        out.print(line.removeprefix("- "))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hwsearch.arch import Arch
    from hwsearch.export import initial_weights, torch_source, write_onnx, write_weights
    from hwsearch.search import Session, choose_trial

    session = Session.open(args.run, storage=args.storage, study_name=args.study)
    config = session.config
    row = choose_trial(session.frame(), number=args.trial, max_latency_ms=args.max_latency_ms)
    arch = Arch.from_str(row.arch)
    out_dir = args.out or args.run / f"export-{int(row.number)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    source = row.latency_source or "unknown"
    facts = {
        "Device": config.device,
        "Latency": f"{row.latency_ms:.3f} ms ({source})",
        "Proxy accuracy": (
            f"{row.accuracy_pct:.2f}% ± {row.accuracy_std_pct:.2f} ({int(row.seeds)} seed(s), "
            f"{config.dataset}, budget '{row.budget}', validation split)"
        ),
        "Study trial": f"{int(row.number)}" + (f" (paper baseline {row.baseline})" if row.baseline else ""),
    }
    write_text(out_dir / "model.py", torch_source(arch, facts))
    weights = initial_weights(arch)
    write_weights(out_dir / "weights.pt", weights)
    write_onnx(arch, out_dir / "model.onnx", weights=weights)
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
        "budget": row.budget,
        "seeds": int(row.seeds),
        "accuracy_std_pct": float(row.accuracy_std_pct),
        "dataset": config.dataset,
    }
    write_text(out_dir / "scores.json", json.dumps(scores, indent=2, sort_keys=True))
    console().print(
        f"trial {int(row.number)}: {arch.to_str()}\nwrote {out_dir}/model.py, weights.pt (untrained), model.onnx, "
        "arch.json, scores.json"
    )
    return 0
