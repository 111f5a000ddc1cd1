"""Standalone PyTorch source for an architecture: readable layers, no hwsearch import.

The generated module's layer names match :func:`hwsearch.model.build_model`, so a state
dict trained with hwsearch loads into it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from hwsearch.arch import Arch, Layer
from hwsearch.cost import count_cost

_PRELUDE = '''
from __future__ import annotations

import torch
from torch import nn

ARCH = {arch!r}
INPUT_SHAPE = (1, {channels}, {resolution}, {resolution})


class ConvBNReLU(nn.Sequential):
    """A k x k convolution without bias, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 (stride on the depthwise layer), then pointwise 1x1; each with BN and ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = ConvBNReLU(cin, cin, 3, stride, groups=cin)
        self.pw = ConvBNReLU(cin, cout, 1)


class Net(nn.Module):
    """The exported network: features, global average pooling, linear classifier of ``num_classes``."""

    def __init__(self, num_classes: int = {fc_out}) -> None:
        super().__init__()
        self.features = nn.Sequential(
{features}
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear({fc_in}, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build(num_classes: int = {fc_out}) -> Net:
    """A freshly initialised network (untrained) with a head of ``num_classes`` outputs."""
    return Net(num_classes)


if __name__ == "__main__":
    net = build().eval()
    print(net(torch.zeros(INPUT_SHAPE)).shape, sum(p.numel() for p in net.parameters()), "parameters")
'''


def _feature_lines(arch: Arch) -> list[str]:
    lines = []
    body = iter(arch.layers()[:-2])
    for layer in body:
        where = f"{layer.in_size}x{layer.in_size} -> {layer.out_size}x{layer.out_size}"
        if layer.kind == "dw":
            pointwise: Layer = next(body)
            code = f"DepthwiseSeparable({layer.in_channels}, {pointwise.out_channels}, stride={layer.stride}),"
            name = layer.name.rsplit(".", 1)[0]
        else:
            code = f"ConvBNReLU({layer.in_channels}, {layer.out_channels}, 3, stride={layer.stride}),"
            name = layer.name.rsplit(".", 1)[0] if layer.kind == "conv" else layer.name
        lines.append(f"            {code:<58} # {name}: {where}")
    return lines


UNTRAINED = (
    "Weights: untrained. weights.pt beside this file holds the initial weights model.onnx was",
    "exported with; build() alone initialises them as PyTorch does. Train the network (hwsearch",
    "train RUN --trial N), or load a state dict of the same layers (hwsearch's model has the same names).",
)
TRAINED = (
    "Weights: trained, in weights.pt beside this file (a state dict; model.onnx holds the same):",
    "    net = build(); net.load_state_dict(torch.load('weights.pt', weights_only=True)); net.eval()",
)


def torch_source(arch: Arch, facts: Mapping[str, str] | None = None, *, weights: tuple[str, ...] = UNTRAINED) -> str:
    """Python source defining ``Net`` for ``arch``; ``facts`` become lines of its docstring, and
    ``weights`` the lines that say where its weights are (:data:`UNTRAINED` or :data:`TRAINED`)."""
    cost = count_cost(arch)
    fc = arch.layers()[-1]
    header = [
        "Network exported by hwsearch. Standalone: needs only torch.",
        "",
        f"Architecture: {arch.to_str()}",
        f"Input: {arch.in_channels} x {arch.resolution} x {arch.resolution}; classes: {arch.num_classes}",
        f"Mult-Adds: {cost.macs / 1e6:.1f}M ({cost.macs:,}); parameters: {cost.params / 1e6:.3f}M ({cost.params:,})"
        " (conv and FC weights, FC bias; batch norm not counted)",
    ]
    header += [f"{key}: {value}" for key, value in (facts or {}).items()]
    header += ["", *weights]
    docstring = '"""' + "\n".join(header).replace('"""', "'''") + '\n"""\n'
    body = _PRELUDE.format(
        arch=arch.to_str(),
        channels=arch.in_channels,
        resolution=arch.resolution,
        features="\n".join(_feature_lines(arch)),
        fc_in=fc.in_channels,
        fc_out=fc.out_channels,
    )
    return docstring + body
