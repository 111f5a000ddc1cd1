"""Weights files beside exported source: the state dict that ``model.onnx`` was exported with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from hwsearch.arch import Arch
from hwsearch.errors import names_file
from hwsearch.export.onnx_export import EXPORT_SEED
from hwsearch.model import build_model


def initial_weights(arch: Arch) -> dict[str, torch.Tensor]:
    """The untrained weights :func:`~hwsearch.export.export_onnx` exports ``arch`` with (seed 0)."""
    return build_model(arch, seed=EXPORT_SEED).state_dict()


def write_weights(path: Path, weights: Mapping[str, torch.Tensor]) -> Path:
    """Save ``weights`` (a state dict, moved to the CPU) to ``path`` atomically; returns the path.

    The file holds tensors only, so ``torch.load(path, weights_only=True)`` reads it.
    """
    plain = {key: value.detach().cpu().contiguous() for key, value in weights.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    with names_file(path):
        torch.save(plain, tmp)
        os.replace(tmp, path)
    return path
