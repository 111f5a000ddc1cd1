"""Analytic cost model: multiply-accumulates and parameters from layer shapes alone.

Conventions follow the MobileNet paper: one multiply-accumulate counts as one
Mult-Add; batch norm, ReLU and pooling cost nothing; parameters are conv and FC
weights plus the FC bias (batch norm is not counted). No torch is imported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hwsearch.arch import Arch, Layer


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer."""

    layer: Layer
    macs: int
    params: int


@dataclass(frozen=True)
class Cost:
    """Per-layer rows and totals for one architecture."""

    layers: tuple[LayerCost, ...]

    @property
    def macs(self) -> int:
        """Total multiply-accumulates."""
        return sum(row.macs for row in self.layers)

    @property
    def params(self) -> int:
        """Total parameters (conv and FC weights, FC bias)."""
        return sum(row.params for row in self.layers)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """``{layer kind: (macs, params)}`` summed over layers of that kind."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in self.layers:
            totals[row.layer.kind][0] += row.macs
            totals[row.layer.kind][1] += row.params
        return {kind: (m, p) for kind, (m, p) in totals.items()}


def layer_cost(layer: Layer) -> LayerCost:
    """MACs and parameters of a single layer."""
    if layer.kind == "pool":
        return LayerCost(layer, 0, 0)
    weights = layer.kernel * layer.kernel * (layer.in_channels // layer.groups) * layer.out_channels
    macs = weights * layer.out_size * layer.out_size
    params = weights + (layer.out_channels if layer.kind == "fc" else 0)
    return LayerCost(layer, macs, params)


def count_cost(arch: Arch) -> Cost:
    """Per-layer and total MACs and parameters of ``arch``."""
    return Cost(tuple(layer_cost(layer) for layer in arch.layers()))
