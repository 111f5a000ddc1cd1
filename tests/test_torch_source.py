from __future__ import annotations

import importlib.util

import torch

from hwsearch.arch import Arch, Stage, Stem, mobilenet_v1
from hwsearch.export import torch_source
from hwsearch.model import build_model


def load_generated(tmp_path, arch, facts=None):
    path = tmp_path / "model.py"
    path.write_text(torch_source(arch, facts))
    spec = importlib.util.spec_from_file_location("generated_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_network_matches_build_model(tmp_path):
    arch = Arch(0.5, 96, (Stage(32, 2, 1, "conv"), Stage(64, 2, 2), Stage(128, 1, 2)), Stem(16, 2), num_classes=7)
    module = load_generated(tmp_path, arch, {"Latency on jetson-nano": "1.234 ms (predicted)"})
    net, ref = module.build(), build_model(arch, seed=0)
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert shapes == {k: v.shape for k, v in ref.state_dict().items()}
    net.load_state_dict(ref.state_dict())  # hwsearch-trained weights load unchanged
    x = torch.randn(2, 3, 96, 96)
    assert torch.allclose(net.eval()(x), ref.eval()(x), atol=1e-6)
    assert arch.to_str() == module.ARCH and module.INPUT_SHAPE == (1, 3, 96, 96)
    doc = module.__doc__
    assert arch.to_str() in doc and "1.234 ms (predicted)" in doc and "Mult-Adds" in doc


def test_source_is_readable_and_standalone():
    source = torch_source(mobilenet_v1(0.25, 128))
    assert "import hwsearch" not in source and "from hwsearch" not in source
    assert source.count("DepthwiseSeparable(") == 13 + 1  # 13 blocks and the class definition
    assert "# s3.b5: 8x8 -> 8x8" in source and "# stem: 128x128 -> 64x64" in source
    compile(source, "model.py", "exec")


def test_build_takes_the_head_a_users_data_needs_and_says_its_weights_are_untrained(tmp_path):
    arch = mobilenet_v1(0.25, 64, num_classes=10)
    module = load_generated(tmp_path, arch)
    assert module.build()(torch.zeros(1, 3, 64, 64)).shape == (1, 10)  # the searched head by default
    assert module.build(num_classes=37)(torch.zeros(2, 3, 64, 64)).shape == (2, 37)
    assert "Weights: untrained" in module.__doc__
