"""The kernels ONNX Runtime actually runs for a model, and those a lookup table's entries stand for.

ONNX Runtime rewrites a model before running it: it fuses each convolution with its
ReLU, and on the x86 CPU provider moves convolutions to the blocked NCHWc layout,
inserting reorders where a channel count needs them. :func:`model_kernels` reads that
optimised graph (``SessionOptions.optimized_model_filepath``) and the shapes each node
ran with (one profiled run), so a table's blocks can be checked against the kernels of
a real network: :func:`block_kernels` gives the kernels one entry times (its chain less
the lead-in and the chain's output reorder), and :func:`kernel_mismatches` compares the
concatenation over an architecture's blocks with the network's own.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hwsearch.arch import Arch
from hwsearch.latency._lut_keys import BlockKey, arch_blocks
from hwsearch.latency._lut_model import block_onnx
from hwsearch.measurement import MeasureSettings

SIGNATURE_ATTRS = ("activation", "group", "kernel_shape", "strides", "channels")


@dataclass(frozen=True)
class Kernel:
    """One node of an optimised graph: operator (with its domain), key attributes and the shapes it ran with."""

    op: str
    attrs: tuple[tuple[str, str], ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    to_output: bool = False  # writes a graph output

    def describe(self) -> str:
        """One line, e.g. ``nchwc.Conv activation=Relu group=1 (1, 16, 56, 56) -> (1, 32, 56, 56)``."""
        attrs = " ".join(f"{k}={v}" for k, v in self.attrs)
        shapes = " ".join(map(str, self.input_shapes[:1])) + " -> " + " ".join(map(str, self.output_shapes))
        return f"{self.op} {attrs} {shapes}".replace("  ", " ")

    def same(self, other: Kernel) -> bool:
        """The same kernel: operator, attributes and every shape (weights included)."""
        return (self.op, self.attrs, self.input_shapes, self.output_shapes) == (
            other.op, other.attrs, other.input_shapes, other.output_shapes)  # fmt: skip


def model_kernels(model_bytes: bytes, settings: MeasureSettings | None = None) -> tuple[Kernel, ...]:
    """The kernels of ``model_bytes`` after ONNX Runtime's full optimisation, in execution order."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from hwsearch.latency._runtime import _provider_list, resolve_threads

    settings = settings or MeasureSettings(threads=1)
    with tempfile.TemporaryDirectory(prefix="hwsearch-kernels-") as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_threads(settings.threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(folder) / "optimised.onnx")
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        options.log_severity_level = 3
        session = ort.InferenceSession(model_bytes, options, providers=_provider_list(settings))
        first = session.get_inputs()[0]
        session.run(None, {first.name: np.zeros(first.shape, dtype=np.float32)})
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
        graph = onnx.load(str(Path(folder) / "optimised.onnx")).graph
    shapes = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            args = event.get("args", {})
            shapes[event["name"][: -len("_kernel_time")]] = (_shapes(args.get("input_type_shape", [])),
                                                             _shapes(args.get("output_type_shape", [])))  # fmt: skip
    outputs = {value.name for value in graph.output}
    kernels = []
    for node in graph.node:
        inputs, outs = shapes.get(node.name, ((), ()))
        attrs = tuple(
            (a.name, _text(onnx.helper.get_attribute_value(a))) for a in node.attribute if a.name in SIGNATURE_ATTRS
        )
        op = f"{node.domain.rpartition('.')[2]}.{node.op_type}" if node.domain else node.op_type
        kernels.append(Kernel(op, tuple(sorted(attrs)), inputs, outs, any(o in outputs for o in node.output)))
    return tuple(kernels)


def block_kernels(key: BlockKey, settings: MeasureSettings | None = None) -> tuple[Kernel, ...]:
    """The kernels a table entry stands for: its chain's, less the lead-in and the reorder of the chain's output."""
    kernels = list(model_kernels(block_onnx(key), settings))
    if key.lead is not None:
        first_conv = next(i for i, k in enumerate(kernels) if k.op.endswith("Conv"))
        kernels = kernels[first_conv + 1 :]
    if key.kind != "head" and kernels and kernels[-1].to_output and "Reorder" in kernels[-1].op:
        kernels = kernels[:-1]  # the network hands this output to the next block as it is
    return tuple(kernels)


def arch_table_kernels(arch: Arch, settings: MeasureSettings | None = None) -> tuple[Kernel, ...]:
    """The kernels of ``arch`` as its table entries time them, block after block."""
    return tuple(k for key in arch_blocks(arch) for k in block_kernels(key, settings))


def kernel_mismatches(arch: Arch, model_bytes: bytes, settings: MeasureSettings | None = None) -> list[str]:
    """Where the table's kernels for ``arch`` differ from those of its export ``model_bytes`` (empty: none)."""
    table = arch_table_kernels(arch, settings)
    network = model_kernels(model_bytes, settings)
    found = [f"kernel {i}: table {a.describe()} | network {b.describe()}"
             for i, (a, b) in enumerate(zip(table, network, strict=False)) if not a.same(b)]  # fmt: skip
    if len(table) != len(network):
        found.append(f"the table has {len(table)} kernels, the network {len(network)}")
    return found


def _shapes(items: list) -> tuple[tuple[int, ...], ...]:
    """Profiler shapes (``[{"float": [1, 16, 56, 56]}, ...]``) as tuples."""
    return tuple(tuple(int(d) for d in next(iter(item.values()))) for item in items if isinstance(item, dict) and item)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)
