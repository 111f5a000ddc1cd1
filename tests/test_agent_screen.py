"""The agent's model screen: the bombs a hostile client can send are refused before onnxruntime sees them."""

from __future__ import annotations

import resource
import time

import pytest
from _bombs import expand_bomb, function_bomb, huge_input, huge_pads, loop_bomb, model
from _latency_support import FAST, running_agent
from onnx import TensorProto, helper

from hwsearch.arch import conv_mobilenet, mobilenet_v1
from hwsearch.errors import AgentError, InvalidModelError
from hwsearch.export import export_onnx
from hwsearch.latency import AgentClient
from hwsearch.latency._onnx_check import check_cnn_model, check_onnx_bytes
from hwsearch.space import RandomSuggester, load_space, sample_valid

TOKEN = "a-test-token-of-enough-length"


BOMBS = {
    "Expand to 2^29": (expand_bomb, "operator 'Expand'"),
    "Loop of 2^62 trips": (loop_bomb, "operator 'Loop'"),
    "nested local functions": (function_bomb, "local functions"),
    "input of [2^20, 2^20]": (huge_input, "dimension of 1048576"),
    "Conv with pads of 2^20": (huge_pads, "Conv.pads"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_screen_refuses_each_bomb_and_names_why(name):
    build, reason = BOMBS[name]
    model = build()
    assert len(model) < 4096  # each is a few hundred bytes
    check_onnx_bytes(model)  # self-contained: the old screen let every one of them through
    with pytest.raises(InvalidModelError, match=reason) as info:
        check_cnn_model(model)
    assert str(info.value).startswith("the ONNX model is outside what this agent runs")


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
    relu = model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Exp", ["r"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])  # fmt: skip
    with running_agent(token=TOKEN) as strict, pytest.raises(AgentError, match="operator 'Exp'"):
        AgentClient(strict.url, TOKEN, retries=0).measure(relu, FAST)
    with running_agent(token=TOKEN, allow_any_model=True) as lenient:
        assert AgentClient(lenient.url, TOKEN, retries=0).measure(relu, FAST).is_measured


def test_with_the_screen_off_the_child_process_limits_still_stop_the_bombs():
    legit = export_onnx(mobilenet_v1(0.25, 32, num_classes=10))
    with running_agent(token=TOKEN, allow_any_model=True, max_memory_bytes=1 << 30, max_seconds=3.0) as server:
        client = AgentClient(server.url, TOKEN, retries=0)
        with pytest.raises(AgentError, match=r"422.*(memory limit of 1024 MiB|died)"):
            client.measure(expand_bomb(), FAST)  # 2 GiB asked for, 1 GiB allowed
        started = time.monotonic()
        with pytest.raises(AgentError, match=r"422.*time limit of 3 s"):
            client.measure(loop_bomb(), FAST)
        held = time.monotonic() - started
        assert 3.0 <= held < 10.0  # the slot is freed when the limit is reached, not never
        assert client.measure(legit, FAST).is_measured  # and the agent lives on
