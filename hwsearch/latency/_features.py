"""What the few-shot predictor sees of a network: five device-free counts, relative to MobileNet 1.0-224.

A whole-network latency is modelled as a sum of five terms, each proportional to one count::

    t(net) = sum_j T_j * count_j(net) / count_j(1.0-224)

``T_j`` is the time term ``j`` takes on the reference network (MobileNet V1 1.0-224, the
network every board's benchmark publishes), so the ``T_j`` of one device add up to its
1.0-224 latency and their shares describe the *shape* of its latency across networks.

* ``macs``: multiply-accumulates; arithmetic throughput.
* ``activations``: elements read and written by the layers (about alpha * res^2 on the
  paper's grid); activation traffic, and the per-pixel cost that does not shrink with width.
* ``weights``: parameters (about alpha^2); weights streamed or repacked once per inference.
* ``layers``: number of layers; per-operator dispatch.
* ``network``: 1; a fixed cost per inference (invocation, copies, synchronisation).

On the paper's 16 alpha x resolution networks ``layers`` is constant, so only the family
prior splits a fixed cost between ``layers`` and ``network``; searched networks of other
depths then follow the split. No hardware facts enter: a profile's peak and bandwidth do
not predict how a runtime uses them, and the published grids show the shape differs far
more between runtimes than between boards.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.cost import layer_cost

TERMS = ("macs", "activations", "weights", "layers", "network")
REFERENCE = mobilenet_v1(1.0, 224)
# The terms a device's first points move; the others follow the family unless the data insist.
PRIMARY = np.array([True, True, False, False, False])


@lru_cache(maxsize=65536)
def counts(arch: Arch) -> np.ndarray:
    """MACs, activation elements read + written, parameters, layers and 1 for ``arch``."""
    macs = activations = weights = 0
    layers = arch.layers()
    for layer in layers:
        cost = layer_cost(layer)
        macs += cost.macs
        weights += cost.params
        activations += layer.in_channels * layer.in_size**2 + layer.out_channels * layer.out_size**2
    out = np.array([macs, activations, weights, len(layers), 1.0], dtype=float)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=65536)
def relative(arch: Arch) -> np.ndarray:
    """:func:`counts` of ``arch`` divided by those of :data:`REFERENCE`."""
    out = counts(arch) / counts(REFERENCE)
    out.flags.writeable = False
    return out


def relative_matrix(archs: Sequence[Arch]) -> np.ndarray:
    """One row of :func:`relative` per network (shape ``len(archs) x 5``)."""
    return np.array([relative(a) for a in archs]).reshape(len(archs), len(TERMS))
