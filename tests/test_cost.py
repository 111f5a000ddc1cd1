from __future__ import annotations

import pytest
import torch
from torch import nn

from hwsearch.arch import Layer, conv_mobilenet, mobilenet_v1, shallow_mobilenet
from hwsearch.cost import count_cost, layer_cost
from hwsearch.model import build_model
from hwsearch.space import RandomSuggester, load_space, sample_valid


@pytest.mark.parametrize(
    ("alpha", "resolution", "macs", "params"),
    [(1.0, 224, 567_716_352, 3_185_088), (0.75, 128, 106_002_432, 1_800_144)],
)
def test_tf_slim_body_totals_exact(alpha, resolution, macs, params):
    cost = count_cost(mobilenet_v1(alpha, resolution))
    fc_macs, fc_params = cost.by_kind()["fc"]
    assert cost.macs - fc_macs == macs
    assert cost.params - fc_params == params


def test_fc_layer_closed_form():
    cost = count_cost(mobilenet_v1(0.5, 160))
    assert cost.by_kind()["fc"] == (512 * 1000, 512 * 1000 + 1000)
    assert cost.macs == 76_524_800  # `hwsearch cost --alpha 0.5 --resolution 160` prints 76.5M


def test_table3_single_layer_closed_form():
    full = layer_cost(Layer("c", "conv", 512, 512, 3, 1, 1, 14, 14))
    assert full.macs == 3 * 3 * 512 * 512 * 14 * 14
    dw = layer_cost(Layer("d", "dw", 512, 512, 3, 1, 512, 14, 14))
    pw = layer_cost(Layer("p", "pw", 512, 512, 1, 1, 1, 14, 14))
    assert dw.macs + pw.macs == 3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14
    assert dw.params == 3 * 3 * 512 and pw.params == 512 * 512


@pytest.mark.parametrize(
    ("arch", "macs_m", "params_m"),
    [(conv_mobilenet(), 4866, 29.3), (shallow_mobilenet(), 307, 2.9)],
)
def test_paper_variants(arch, macs_m, params_m):
    cost = count_cost(arch)
    assert cost.macs / 1e6 == pytest.approx(macs_m, rel=0.005)
    assert round(cost.params / 1e6, 1) == params_m


def test_pooling_is_free():
    rows = {row.layer.kind: row for row in count_cost(mobilenet_v1()).layers}
    assert rows["pool"].macs == rows["pool"].params == 0


def _hook_macs(model: nn.Module, resolution: int, in_channels: int) -> int:
    total = 0

    def conv_hook(module: nn.Conv2d, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += out.numel() * k * module.in_channels // module.groups

    def linear_hook(module: nn.Linear, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * module.in_features

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(conv_hook)
        elif isinstance(module, nn.Linear):
            module.register_forward_hook(linear_hook)
    with torch.no_grad():
        model.eval()(torch.zeros(1, in_channels, resolution, resolution))
    return total


def _archs_to_check():
    space = load_space()
    rng = RandomSuggester(7)
    samples = [sample_valid(space, rng) for _ in range(6)]
    return [mobilenet_v1(0.25, 128), mobilenet_v1(0.75, 160, channel_rule="div8"), shallow_mobilenet(0.5, 96), *samples]


@pytest.mark.parametrize("arch", _archs_to_check(), ids=lambda a: a.to_str())
def test_cost_matches_built_module(arch):
    model = build_model(arch, seed=0)
    cost = count_cost(arch)
    no_bn = sum(p.numel() for name, p in model.named_parameters() if ".bn." not in name)
    assert no_bn == cost.params
    assert _hook_macs(model, arch.resolution, arch.in_channels) == cost.macs
    by_kind = cost.by_kind()
    assert by_kind["stem"][1] == model.features[0].conv.weight.numel()
