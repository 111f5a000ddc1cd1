"""Export an :class:`~hwsearch.arch.Arch` to ONNX for latency measurement.

The model comes from :func:`~hwsearch.model.build_model` with a fixed seed, in eval
mode, so the bytes depend on the architecture alone: the same arch gives the same
bytes (and the same SHA-256) in every process with the same torch and onnx versions.
Latency does not depend on weight values, so no trained weights are needed.

torch 2.13's default exporter (``dynamo=True``) needs the ``onnxscript`` package and
is slower; the TorchScript exporter (``dynamo=False``) ships with torch, folds batch
norm into the convolutions, and exports a MobileNet in a fraction of a second.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import onnx
import torch

from hwsearch import __version__
from hwsearch.arch import Arch
from hwsearch.errors import HwsearchError
from hwsearch.model import build_model

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17
MIN_OPSET = 17
# The newest opset torch's TorchScript exporter writes.
MAX_OPSET = 20
EXPORT_SEED = 0


class ExportError(HwsearchError):
    """An architecture could not be exported, or the export did not check."""


def export_onnx(
    arch: Arch,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    weights: Mapping[str, torch.Tensor] | None = None,
) -> bytes:
    """ONNX bytes of ``arch`` at batch 1: input ``input`` (1, C, R, R), output ``logits`` (1, classes).

    The weights are hwsearch's seed-0 initialisation unless ``weights``, a state dict of
    :func:`~hwsearch.model.build_model`'s module (a trained one), is given.

    With ``dynamic_batch`` the first axis of both is ``batch``, of any size: the form a
    deployed model needs. Latency is timed on the fixed batch-1 form, which the device
    agent's screen requires (static shapes only).

    The model is checked with :func:`onnx.checker.check_model`. Doc strings are removed
    and the producer is set to hwsearch, so the bytes depend only on the architecture,
    the opset and the installed torch / onnx versions.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"opset {opset!r} is not supported", value=opset, hint=f"{MIN_OPSET} to {MAX_OPSET}")
    model = build_model(arch, seed=EXPORT_SEED)
    if weights is not None:
        try:
            model.load_state_dict(weights)
        except (RuntimeError, KeyError) as exc:
            raise ExportError(f"the weights do not fit {arch}: {exc}", value=arch.to_str()) from None
    model.eval()
    dummy = torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation on every call.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            do_constant_folding=True,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    _normalise(proto, arch)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported model of {arch} does not check: {exc}", value=arch.to_str()) from None
    return proto.SerializeToString(deterministic=True)


def _normalise(proto: onnx.ModelProto, arch: Arch) -> None:
    """Drop what varies without changing the network, and name what it is."""
    proto.doc_string = ""
    proto.graph.doc_string = ""
    for node in proto.graph.node:
        node.doc_string = ""
    proto.producer_name = "hwsearch"
    proto.producer_version = __version__
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "hwsearch.arch", arch.to_str()


def write_onnx(
    arch: Arch,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    weights: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Export ``arch`` (with a batch axis of any size, unless ``dynamic_batch`` is off; with
    ``weights`` when given) and write the bytes to ``path`` atomically; returns the path."""
    path = Path(path)
    data = export_onnx(arch, opset=opset, dynamic_batch=dynamic_batch, weights=weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a model is written for others to read, as open() would.
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
