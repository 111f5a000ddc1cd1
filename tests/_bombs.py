"""ONNX models a hostile client can send a device agent: each a few hundred bytes (shared by
``tests/test_agent_screen.py`` and ``benchmarks/agent_abuse.py``; not a test module)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, initializers=(), functions=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             functions=list(functions)).SerializeToString()  # fmt: skip


def expand_bomb() -> bytes:
    """A 1-element input expanded to 2^29 floats (2 GiB)."""
    shape = numpy_helper.from_array(np.array([1 << 29], dtype=np.int64), "shape")
    return model([helper.make_node("Expand", ["x", "shape"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape])  # fmt: skip


def loop_bomb() -> bytes:
    """A Loop of 2^62 trips: it holds the measurement lock for ever."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["v"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    trips = numpy_helper.from_array(np.array(1 << 62, dtype=np.int64), "trips")
    cond = numpy_helper.from_array(np.array(True), "cond")
    return model([helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [trips, cond])  # fmt: skip


def function_bomb() -> bytes:
    """Nested local functions, each calling the next twice."""
    functions = [helper.make_function("local", "f0", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])],
                                      [helper.make_opsetid("", 17)])]  # fmt: skip
    for i in range(1, 8):
        nodes = [helper.make_node(f"f{i - 1}", ["x"], ["t"], domain="local"),
                 helper.make_node(f"f{i - 1}", ["t"], ["y"], domain="local")]  # fmt: skip
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
        functions.append(helper.make_function("local", f"f{i}", ["x"], ["y"], nodes, opsets))
    graph = helper.make_graph([helper.make_node("f7", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    return helper.make_model(graph, opset_imports=opsets, functions=functions).SerializeToString()


def huge_input() -> bytes:
    """A declared input of [2^20, 2^20]: onnxruntime would try to allocate 4 TiB for the feed."""
    return model([helper.make_node("Relu", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 20, 1 << 20])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 20, 1 << 20])])  # fmt: skip


def huge_pads() -> bytes:
    weight = numpy_helper.from_array(np.ones((1, 1, 1, 1), dtype=np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1 << 20] * 4)
    return model([conv], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])  # fmt: skip
