"""The agent's model screen: the bombs a hostile client can send are refused before onnxruntime sees them."""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest
from _latency_support import FAST, running_agent
from onnx import TensorProto, helper, numpy_helper

from hwsearch.arch import conv_mobilenet, mobilenet_v1
from hwsearch.errors import AgentError, InvalidModelError
from hwsearch.export import export_onnx
from hwsearch.latency import AgentClient
from hwsearch.latency._onnx_check import check_cnn_model, check_onnx_bytes
from hwsearch.space import RandomSuggester, load_space, sample_valid

TOKEN = "a-test-token-of-enough-length"


def _model(nodes, inputs, outputs, initializers=(), functions=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             functions=list(functions)).SerializeToString()  # fmt: skip


def _expand_bomb() -> bytes:
    """A 1-element input expanded to 2^29 floats (2 GiB)."""
    shape = numpy_helper.from_array(np.array([1 << 29], dtype=np.int64), "shape")
    return _model([helper.make_node("Expand", ["x", "shape"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape])  # fmt: skip


def _loop_bomb() -> bytes:
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
    return _model([helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [trips, cond])  # fmt: skip


def _function_bomb() -> bytes:
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


def _huge_input() -> bytes:
    """A declared input of [2^20, 2^20]: onnxruntime would try to allocate 4 TiB for the feed."""
    return _model([helper.make_node("Relu", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 20, 1 << 20])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 20, 1 << 20])])  # fmt: skip


def _huge_pads() -> bytes:
    weight = numpy_helper.from_array(np.ones((1, 1, 1, 1), dtype=np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1 << 20] * 4)
    return _model([conv], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])  # fmt: skip


BOMBS = {
    "Expand to 2^29": (_expand_bomb, "operator 'Expand'"),
    "Loop of 2^62 trips": (_loop_bomb, "operator 'Loop'"),
    "nested local functions": (_function_bomb, "local functions"),
    "input of [2^20, 2^20]": (_huge_input, "dimension of 1048576"),
    "Conv with pads of 2^20": (_huge_pads, "Conv.pads"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_screen_refuses_each_bomb_and_names_why(name):
    build, reason = BOMBS[name]
    model = build()
    assert len(model) < 4096  # each is a few hundred bytes
    check_onnx_bytes(model)  # self-contained: the old screen let every one of them through
    with pytest.raises(InvalidModelError, match=reason):
        check_cnn_model(model)


def test_every_network_this_tool_exports_passes_the_screen():
    space, rng = load_space(), RandomSuggester(3)
    for arch in [mobilenet_v1(1.0, 224), mobilenet_v1(0.25, 128), conv_mobilenet(0.5, 128)] + [
        sample_valid(space, rng) for _ in range(4)
    ]:
        check_cnn_model(export_onnx(arch))


def test_a_real_agent_refuses_the_bombs_with_400_and_keeps_serving():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with running_agent(token=TOKEN) as server:
        client = AgentClient(server.url, TOKEN, retries=0)
        for name, (build, reason) in BOMBS.items():
            started = time.monotonic()
            with pytest.raises(AgentError, match=reason):
                client.measure(build(), FAST)
            assert time.monotonic() - started < 5, name
        assert client.measure(export_onnx(mobilenet_v1(0.25, 32, num_classes=10)), FAST).is_measured
        assert client.info()["agent"] == "hwsearch"
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 512 * 1024  # the 2 GiB Expand never ran


def test_allow_any_model_keeps_a_users_own_network_timeable():
    relu = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Exp", ["r"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])  # fmt: skip
    with running_agent(token=TOKEN) as strict, pytest.raises(AgentError, match="operator 'Exp'"):
        AgentClient(strict.url, TOKEN, retries=0).measure(relu, FAST)
    with running_agent(token=TOKEN, allow_any_model=True) as lenient:
        assert AgentClient(lenient.url, TOKEN, retries=0).measure(relu, FAST).is_measured
