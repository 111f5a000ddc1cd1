"""The ONNX model a lookup-table entry times: a block behind a lead-in, as it runs inside a network.

Built directly with ``onnx.helper`` (no torch, a millisecond each), with the layers as an
export has them: each convolution with its batch norm folded into weights and bias, then
``Relu``; ``GlobalAveragePool`` + ``Flatten`` + ``Gemm`` for the head.

A block is fed by a *lead-in*: a cheap 1x1 convolution + ReLU from a few channels
(:attr:`BlockKey.lead_channels`) to the block's input channels, at the block's input
size; being cheap next to the block keeps the subtraction below from adding noise. Like the block's real
predecessor in a network (always a group-1 convolution) it leaves the block's input in
the layout ONNX Runtime gives a convolution's output, so any reorder between the two is
paid as in the network, and the block reads an input just written, as it does there.
The lead-in alone (the ``null`` key) is timed too; the block's in-context cost is the
chain's time minus the lead-in's, which also cancels the session's own cost and the
reorder and copy of the lead-in's output (paid instead, in the chain, on the block's
output, and in the network by no one until the head). The stem is timed alone: the
network's input is its input.
"""

from __future__ import annotations

import numpy as np

from hwsearch.latency._lut_keys import NULL, BlockKey

OPSET = 17  # as hwsearch.export writes (not imported from there: that would load torch)
IR_VERSION = 8  # what opset 17 needs; older onnxruntime builds refuse newer IR versions
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def block_onnx(key: BlockKey) -> bytes:
    """The model timed for ``key`` (input ``input``, output ``output``): lead-in then block, or the stem alone."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    size = key.in_size
    if key.kind == "stem":
        first = [1, key.in_channels, size, size]
        x = _conv((nodes, inits), INPUT_NAME, "stem", (key.in_channels, key.out_channels, 3, key.stride, 1), rng)
    else:
        first = [1, key.lead_channels, size, size]
        x = _conv((nodes, inits), INPUT_NAME, "lead", (key.lead_channels, key.in_channels, 1, 1, 1), rng)
    c_in, c_out, stride = key.in_channels, key.out_channels, key.stride
    if key.kind == "ds":
        x = _conv((nodes, inits), x, "dw", (c_in, c_in, 3, stride, c_in), rng)
        x = _conv((nodes, inits), x, "pw", (c_in, c_out, 1, 1, 1), rng)
    elif key.kind == "conv":
        x = _conv((nodes, inits), x, "conv", (c_in, c_out, 3, stride, 1), rng)
    elif key.kind == "head":
        weight = rng.standard_normal((c_out, c_in), dtype=np.float32) * 0.01
        inits += [_tensor(weight, "fc.W"), _tensor(np.zeros(c_out, np.float32), "fc.B")]
        nodes += [
            helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"),
            helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
            helper.make_node("Gemm", ["flat", "fc.W", "fc.B"], ["fc"], name="fc", transB=1),
        ]
        x = "fc"
    elif key.kind not in ("stem", NULL):
        raise ValueError(f"unknown block kind {key.kind!r}")
    nodes[-1].output[0] = OUTPUT_NAME
    out_shape = [1, c_out] if key.kind == "head" else [1, c_out, key.out_size, key.out_size]
    graph = helper.make_graph(
        nodes,
        f"hwsearch_{key.kind}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, first)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    model.producer_name = "hwsearch"
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def _tensor(array: np.ndarray, name: str) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(array.astype(np.float32), name)


def _conv(graph: tuple[list, list], x: str, name: str, shape: tuple[int, int, int, int, int],
          rng: np.random.Generator) -> str:  # fmt: skip
    """Append Conv (batch norm folded: weights and a bias) + Relu reading ``x`` to ``graph`` (nodes,
    initialisers); returns the output's name. ``shape`` is (input channels, output channels, kernel,
    stride, groups).
    """
    nodes, inits = graph
    from onnx import helper

    c_in, c_out, k, stride, groups = shape
    fan_in = (c_in // groups) * k * k
    weight = rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32) * np.sqrt(2.0 / fan_in)
    bias = rng.standard_normal(c_out, dtype=np.float32) * 0.01  # the folded batch norm's shift
    inits += [_tensor(weight, f"{name}.W"), _tensor(bias, f"{name}.B")]
    attrs = {"kernel_shape": [k, k], "pads": [k // 2] * 4, "strides": [stride] * 2, "group": groups,
             "dilations": [1, 1]}  # fmt: skip
    nodes += [
        helper.make_node("Conv", [x, f"{name}.W", f"{name}.B"], [f"{name}.conv"], name=f"{name}.conv", **attrs),
        helper.make_node("Relu", [f"{name}.conv"], [name], name=f"{name}.relu"),
    ]
    return name
