"""Export an architecture for deployment: ONNX bytes and standalone PyTorch source."""

from __future__ import annotations

from hwsearch.export.onnx_export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, ExportError, export_onnx, write_onnx
from hwsearch.export.torch_source import TRAINED, UNTRAINED, torch_source
from hwsearch.export.weights import initial_weights, write_weights

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "TRAINED",
    "UNTRAINED",
    "ExportError",
    "export_onnx",
    "initial_weights",
    "torch_source",
    "write_onnx",
    "write_weights",
]  # fmt: skip
