"""Build a PyTorch module from an :class:`~hwsearch.arch.Arch`.

The module mirrors :meth:`Arch.layers` one to one: every conv, depthwise and
pointwise layer is a ``Conv2d`` (no bias) followed by ``BatchNorm2d`` and ``ReLU``,
then global average pooling and a ``Linear`` classifier.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from hwsearch.arch import Arch, Layer


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU for one conv-like layer."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel,
            stride=layer.stride,
            padding=layer.kernel // 2,
            groups=layer.groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(layer.out_channels)
        self.relu = nn.ReLU(inplace=True)


class MobileNet(nn.Module):
    """``features`` (stem and blocks), then global average pooling and ``classifier``."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        layers = arch.layers()
        assert layers[-2].kind == "pool" and layers[-1].kind == "fc"
        blocks: list[nn.Module] = []
        body = iter(layers[:-2])
        for layer in body:
            if layer.kind == "dw":
                pointwise = next(body)
                assert pointwise.kind == "pw"
                blocks.append(nn.Sequential(OrderedDict(dw=ConvBNReLU(layer), pw=ConvBNReLU(pointwise))))
            else:
                blocks.append(ConvBNReLU(layer))
        fc = layers[-1]
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(fc.in_channels, fc.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build_model(arch: Arch, *, seed: int | None = None) -> MobileNet:
    """A freshly initialised :class:`MobileNet` for ``arch``.

    With ``seed`` the weights come from a private generator, so the result is
    reproducible without touching torch's global random state.
    """
    if seed is None:
        return _initialise(MobileNet(arch), None)
    # Layer constructors run their own default init from the global generator; forking
    # keeps the caller's random state exactly as it was.
    with torch.random.fork_rng(devices=[]):
        return _initialise(MobileNet(arch), torch.Generator().manual_seed(seed))


def _initialise(model: MobileNet, gen: torch.Generator | None) -> MobileNet:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=gen)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01, generator=gen)
            nn.init.zeros_(module.bias)
    return model
