"""``hwsearch train``: train a network a run chose, at its real width, on the user's data set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hwsearch.cli.argtypes import field_default, positive_float, positive_int
from hwsearch.cli.output import EXIT_INTERRUPTED, console
from hwsearch.data import DATASETS
from hwsearch.search.config import STUDY_NAME, RunError
from hwsearch.training import TrainSettings  # its own light module: no torch until a command runs

if TYPE_CHECKING:
    from hwsearch.training import EpochLog


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands."""
    train = sub.add_parser("train", help="train a network a run chose, at its real width, on your data set "
                                         "(resumable); writes model.py, weights.pt and model.onnx")  # fmt: skip
    train.add_argument("run", type=Path, help="run folder")
    choice = train.add_mutually_exclusive_group(required=True)
    choice.add_argument("--trial", type=int, help="trial number (the report and plots show them)")
    choice.add_argument("--best", action="store_true", help="most accurate feasible network of the front's rung")
    choice.add_argument("--max-latency-ms", type=positive_float, help="most accurate network at most this slow")
    train.add_argument("--out", type=Path, required=True, help="output folder (holds the checkpoint while training)")
    train.add_argument("--resume", action="store_true", help="continue the training whose checkpoint is in --out")
    train.add_argument("--dataset", help=f"{', '.join(DATASETS)} (default: the run's)")
    train.add_argument("--data-dir", type=Path, help="folder holding the data set's files (default: the run's)")
    train.add_argument("--epochs", type=positive_int, default=field_default(TrainSettings, "epochs"),
                       help=f"epochs (default {field_default(TrainSettings, 'epochs')})")  # fmt: skip
    train.add_argument("--resolution", type=positive_int,
                       help="input pixels to train and export at (default: the network's own)")  # fmt: skip
    train.add_argument("--batch-size", type=positive_int, default=field_default(TrainSettings, "batch_size"))
    train.add_argument(
        "--lr", type=positive_float, default=field_default(TrainSettings, "lr"), help="peak learning rate"
    )
    train.add_argument("--seed", type=int, default=field_default(TrainSettings, "seed"))
    train.add_argument("--threads", type=positive_int, help="CPU threads (default every core)")
    train.add_argument("--storage", metavar="URL")
    train.add_argument("--study", default=STUDY_NAME)
    train.set_defaults(func=cmd_train)


def _settings(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         resolution=args.resolution)  # fmt: skip


def _check_out(out: Path, resume: bool) -> None:
    from hwsearch.training import CHECKPOINT, SUMMARY_FILE

    checkpoint, summary = out / CHECKPOINT, out / SUMMARY_FILE
    if resume and not checkpoint.exists():
        raise RunError(f"{out} holds no training checkpoint to resume", value=str(out),
                       hint="start the training without --resume")  # fmt: skip
    if not resume and checkpoint.exists():
        raise RunError(f"{out} holds an unfinished training", value=str(out),
                       hint="continue it with --resume, or choose another --out")  # fmt: skip
    if not resume and summary.exists():
        raise RunError(f"{out} already holds a trained network ({SUMMARY_FILE})", value=str(out),
                       hint="choose another --out")  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    from hwsearch.arch import Arch
    from hwsearch.cli.progress import progress_bar
    from hwsearch.data import load_dataset
    from hwsearch.proxy.budgets import get_budget
    from hwsearch.search import Session, choose_trial
    from hwsearch.training import (
        CHECKPOINT,
        input_text,
        summary_of,
        train_network,
        trained_arch,
        training_split,
        write_trained,
    )

    settings = _settings(args)
    _check_out(args.out, args.resume)
    session = Session.open(args.run, storage=args.storage, study_name=args.study)
    config = session.config
    row = choose_trial(session.frame(), number=args.trial, max_latency_ms=args.max_latency_ms)
    trial = int(row.number)
    # Another data set is looked for where the user says, not in the run's data folder.
    data_dir = args.data_dir if args.data_dir is not None or args.dataset else config.data_dir
    dataset = load_dataset(args.dataset or config.dataset, data_dir=data_dir)
    data = training_split(dataset, get_budget(config.budget))
    net = trained_arch(Arch.from_str(row.arch), data, settings)
    out = console()
    out.print(f"training trial {trial} for {settings.epochs} epochs on {dataset.name} ({len(data.train)} images, "
              f"{len(data.val)} held out for validation, {len(dataset.test)} test): {net.to_str()}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    resume = f"hwsearch train {args.run} --trial {trial} --out {args.out} --resume"
    try:
        with progress_bar("steps", total=0) as bar:

            def on_step(done: int, total: int) -> None:
                bar.progress.update(bar.task_id, completed=done, total=total)

            def on_epoch(log: EpochLog) -> None:
                status = "" if bar.drawn else f"[{bar.status()}] "
                bar.print(f"{status}epoch {log.epoch:3d}/{settings.epochs}: loss {log.train_loss:.4f}, "
                          f"validation {log.val_accuracy_pct:6.2f}%, {log.seconds:7.1f}s")  # fmt: skip

            result, model = train_network(net, data, dataset.test, settings, checkpoint=args.out / CHECKPOINT,
                                          on_step=on_step, on_epoch=on_epoch, threads=args.threads)  # fmt: skip
    except KeyboardInterrupt:
        out.print(f"stopped; the checkpoint in {args.out} keeps the training. Continue with: {resume}")
        return EXIT_INTERRUPTED
    facts = {
        "Trained by": f"hwsearch train: {len(result.log)} epochs on {result.dataset}, {result.train_images} images",
        "Accuracy": f"{result.test_accuracy_pct:.2f}% on the {result.test_images} test images "
                    f"({result.val_accuracy_pct:.2f}% on the {result.val_images} validation images)",
        "Input": input_text(result),
        "Searched as": f"trial {trial} of {args.run} ({config.device}), {row.arch}",
    }  # fmt: skip
    extra = {"trial": trial, "run": str(args.run), "device": config.device,
             "search_accuracy_pct": float(row.accuracy_pct), "search_budget": row.budget}  # fmt: skip
    paths = write_trained(args.out, result, model, facts, extra)
    (args.out / CHECKPOINT).unlink(missing_ok=True)  # the outputs hold everything it did
    session.record_training(args.out, summary_of(result, extra))
    out.print(f"trial {trial}: {result.test_accuracy_pct:.2f}% test accuracy after {len(result.log)} epochs "
              f"({result.train_seconds:.0f}s); wrote {', '.join(p.name for p in paths)} in {args.out}")  # fmt: skip
    return 0
