from __future__ import annotations

import torch

from hwsearch.arch import Arch, Stage, Stem, conv_mobilenet, mobilenet_v1
from hwsearch.model import build_model


def test_output_shape_and_layer_structure():
    arch = mobilenet_v1(0.25, 96)
    model = build_model(arch, seed=0)
    out = model.eval()(torch.randn(2, 3, 96, 96))
    assert out.shape == (2, 1000)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 2 * 13
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == len(convs)
    assert all(c.bias is None for c in convs)


def test_conv_blocks_and_small_input():
    arch = Arch(0.5, 28, (Stage(32, 2, 2, "conv"), Stage(64, 1, 2, "ds")), Stem(16, 1), in_channels=1, num_classes=10)
    model = build_model(arch, seed=1)
    assert model.eval()(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    assert isinstance(model.features[1], torch.nn.Sequential) and hasattr(model.features[1], "conv")


def test_seed_makes_weights_reproducible_without_touching_global_rng():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = build_model(conv_mobilenet(0.25, 64), seed=3)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the global generator was not consumed
    b = build_model(conv_mobilenet(0.25, 64), seed=3)
    c = build_model(conv_mobilenet(0.25, 64), seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_build_model_returns_independent_modules():
    arch = mobilenet_v1(0.25, 64)
    a, b = build_model(arch, seed=0), build_model(arch, seed=0)
    with torch.no_grad():
        a.classifier.weight.add_(1.0)
    assert not torch.equal(a.classifier.weight, b.classifier.weight)
    assert arch == mobilenet_v1(0.25, 64)
