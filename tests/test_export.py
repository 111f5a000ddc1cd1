from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwsearch.arch import conv_mobilenet, mobilenet_v1
from hwsearch.export import INPUT_NAME, OUTPUT_NAME, ExportError, export_onnx, write_onnx
from hwsearch.model import build_model

ARCH = mobilenet_v1(0.25, 32, num_classes=10)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return export_onnx(ARCH)


def _dims(value_info: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_export_is_a_checked_batch_1_model_with_named_io(model_bytes):
    proto = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    assert _dims(proto.graph.input[0]) == [1, 3, 32, 32]
    assert _dims(proto.graph.output[0]) == [1, 10]
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert {p.key: p.value for p in proto.metadata_props}["hwsearch.arch"] == ARCH.to_str()
    assert proto.producer_name == "hwsearch"


def test_export_folds_batch_norm(model_bytes):
    ops = {node.op_type for node in onnx.load_from_string(model_bytes).graph.node}
    assert "Conv" in ops
    assert "BatchNormalization" not in ops


def test_export_is_deterministic_within_a_process(model_bytes):
    assert export_onnx(ARCH) == model_bytes


def test_export_is_deterministic_across_processes(model_bytes):
    code = (
        "import hashlib, sys\n"
        "from hwsearch.arch import Arch\n"
        "from hwsearch.export import export_onnx\n"
        "sys.stdout.write(hashlib.sha256(export_onnx(Arch.from_str(sys.argv[1]))).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, ARCH.to_str()], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout == hashlib.sha256(model_bytes).hexdigest()


def test_export_computes_the_same_function_as_the_torch_model(model_bytes):
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32), dtype=np.float32)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {INPUT_NAME: x})
    with torch.no_grad():
        want = build_model(ARCH, seed=0).eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_different_archs_give_different_bytes(model_bytes):
    other = export_onnx(mobilenet_v1(0.25, 32, num_classes=11))
    assert hashlib.sha256(other).digest() != hashlib.sha256(model_bytes).digest()


def test_conv_blocks_and_other_input_channels_export():
    arch = conv_mobilenet(0.25, 32)
    proto = onnx.load_from_string(export_onnx(arch, opset=18))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18
    grey = export_onnx(mobilenet_v1(0.25, 32, in_channels=1, num_classes=10))
    assert _dims(onnx.load_from_string(grey).graph.input[0]) == [1, 1, 32, 32]


@pytest.mark.parametrize("opset", [16, 99, True])
def test_unsupported_opset_is_refused(opset):
    with pytest.raises(ExportError, match="opset"):
        export_onnx(ARCH, opset=opset)


def test_write_onnx_writes_the_exported_bytes(tmp_path):
    path = write_onnx(ARCH, tmp_path / "sub" / "tiny.onnx")
    assert path.read_bytes() == export_onnx(ARCH, dynamic_batch=True)
    assert [p.name for p in path.parent.iterdir()] == ["tiny.onnx"]  # no temporary file left behind


def test_write_onnx_leaves_a_file_others_can_read(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_onnx(ARCH, tmp_path / "model.onnx")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as open() would make it, not mkstemp's 0600


def test_the_written_model_takes_any_batch_and_gives_each_image_its_batch_1_logits(tmp_path):
    path = write_onnx(ARCH, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).standard_normal((2, ARCH.in_channels, ARCH.resolution, ARCH.resolution),
                                                     dtype=np.float32)  # fmt: skip
    both = session.run(None, {INPUT_NAME: batch})[0]
    alone = np.concatenate([session.run(None, {INPUT_NAME: batch[i : i + 1]})[0] for i in range(2)])
    assert both.shape == (2, ARCH.num_classes) and np.allclose(both, alone, atol=1e-5)
    timed = ort.InferenceSession(export_onnx(ARCH), providers=["CPUExecutionProvider"])
    assert timed.get_inputs()[0].shape[0] == 1  # what latency is measured on stays fixed
