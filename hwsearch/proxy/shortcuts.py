"""Identity shortcuts for the proxy network: a short schedule's stand-in for a long one.

A plain (shortcut-free) stack of many same-shape blocks trains *slower* than a shallower
one: after a few epochs its training loss is still higher (the degradation of plain deep
networks, He et al., 2016). The deployed candidate is trained to convergence, where its
extra blocks pay; the proxy, trained for seconds, would rank it below the shallower
network for a reason that does not survive long training.

With ``Budget.shortcuts`` on, every block whose output has its input's shape (stride 1,
same channel count) gets an identity shortcut, ``y = x + block(x)``, in the proxy network
only. The blocks, their kinds, widths and strides, and therefore the candidate's cost,
are unchanged; only the optimisation gets easier, so that depth can show what it is worth
within the budget. Downsampling and widening blocks stay plain.
"""

from __future__ import annotations

import torch
from torch import nn

from hwsearch.arch import Arch
from hwsearch.model import MobileNet


class Shortcut(nn.Module):
    """``x + block(x)`` for a block that keeps its input's shape."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def shape_preserving(arch: Arch) -> list[bool]:
    """For each entry of ``MobileNet(arch).features`` (stem, then one per block): does it keep its input's shape?"""
    keeps = []
    for layer in arch.layers():
        if layer.kind == "stem":
            keeps.append(False)
        elif layer.kind == "conv":
            keeps.append(layer.stride == 1 and layer.in_channels == layer.out_channels)
        elif layer.kind == "dw":
            keeps.append(layer.stride == 1)
        elif layer.kind == "pw":
            keeps[-1] = keeps[-1] and layer.in_channels == layer.out_channels
    return keeps


def add_shortcuts(model: MobileNet, arch: Arch) -> MobileNet:
    """``model`` (built from ``arch``) with an identity shortcut around each shape-preserving block, in place."""
    keeps = shape_preserving(arch)
    assert len(keeps) == len(model.features), "model was not built from arch"
    model.features = nn.Sequential(*(Shortcut(b) if k else b for b, k in zip(model.features, keeps, strict=True)))
    return model
