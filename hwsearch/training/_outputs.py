"""The files a finished training leaves: source, weights, ONNX, log and a summary."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path

from hwsearch.arch import Arch
from hwsearch.errors import names_file
from hwsearch.export import TRAINED, torch_source, write_onnx, write_weights
from hwsearch.model import MobileNet
from hwsearch.training._settings import EpochLog, TrainResult

LOG_FILE = "train_log.csv"
SUMMARY_FILE = "train.json"


def write_log(path: Path, log: tuple[EpochLog, ...]) -> Path:
    """``train_log.csv``: one row per epoch."""
    names = [f.name for f in fields(EpochLog)]
    with names_file(path), path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(row) for row in log)
    return path


def summary_of(result: TrainResult, extra: Mapping[str, object]) -> dict[str, object]:
    """The JSON summary of a training (``train.json``), with the caller's ``extra`` facts."""
    return {**extra, "arch": result.arch, "dataset": result.dataset, "epochs": len(result.log),
            "val_accuracy_pct": result.val_accuracy_pct, "test_accuracy_pct": result.test_accuracy_pct,
            "train_images": result.train_images, "val_images": result.val_images, "test_images": result.test_images,
            "train_seconds": result.train_seconds, "settings": asdict(result.settings),
            "input": input_text(result)}  # fmt: skip


def input_text(result: TrainResult) -> str:
    """What the trained network expects as input."""
    arch = Arch.from_str(result.arch)
    return (f"{arch.in_channels} x {arch.resolution} x {arch.resolution} (bilinear resize), normalised as "
            f"(pixels / 255 - {result.pixel_mean:.4f}) / {result.pixel_std:.4f}")  # fmt: skip


def write_trained(out_dir: Path, result: TrainResult, model: MobileNet, facts: Mapping[str, str],
                  extra: Mapping[str, object]) -> list[Path]:  # fmt: skip
    """Write ``model.py`` (whose ``build()`` has the trained head), ``weights.pt``, ``model.onnx``
    (the same weights, batch norm folded, any batch size), ``train_log.csv`` and ``train.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = Arch.from_str(result.arch)
    weights = model.state_dict()
    paths = [out_dir / "model.py", out_dir / "weights.pt", out_dir / "model.onnx", out_dir / LOG_FILE,
             out_dir / SUMMARY_FILE]  # fmt: skip
    with names_file(paths[0]):
        paths[0].write_text(torch_source(arch, facts, weights=TRAINED), encoding="utf-8")
    write_weights(paths[1], weights)
    write_onnx(arch, paths[2], weights=weights)
    write_log(paths[3], result.log)
    with names_file(paths[4]):
        paths[4].write_text(json.dumps(summary_of(result, extra), indent=2, sort_keys=True), encoding="utf-8")
    return paths
