"""What the few-shot predictor sees of a network: device-free counts per layer, relative to MobileNet 1.0-224.

A whole-network latency is modelled from five terms. Each layer costs its work, the sum of
three terms proportional to its counts, but never less than a per-layer floor; a fixed
cost per inference comes on top::

    work_l = sum_{j in macs, activations, weights} T_j * count_j(l) / count_j(1.0-224)
    t(net) = sum_l smax(work_l, T_layers / layers(1.0-224)) + T_network

``smax`` is a smooth maximum (the ``SHARPNESS``-norm of the two): a layer too small to keep
every core busy costs what starting it and synchronising its threads costs, which is why
small networks on multi-threaded CPU runtimes are slower than their counts say. At
``SHARPNESS`` = 1 the floor becomes a plain additive cost per layer.

``T_j`` is the time term ``j`` takes on the reference network (MobileNet V1 1.0-224, the
network every board's benchmark publishes); their shares describe the *shape* of a device's
latency across networks (they add up to its 1.0-224 latency when no floor binds).

* ``macs``: multiply-accumulates; arithmetic throughput.
* ``activations``: elements read and written by the layers (about alpha * res^2 on the
  paper's grid); activation traffic, and the per-pixel cost that does not shrink with width.
* ``weights``: parameters (about alpha^2); weights streamed or repacked once per inference.
* ``layers``: number of layers; the per-layer floor (dispatch and thread synchronisation).
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
WORK = 3  # the first three terms are a layer's work; then the floor and the fixed cost
SHARPNESS = 4.0  # of the smooth maximum of a layer's work and the floor
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
def layer_matrix(arch: Arch) -> np.ndarray:
    """One row per layer of ``arch``: its MACs, activation elements and parameters, each divided
    by the whole :data:`REFERENCE` network's, and a 1 (the mask :func:`stack` pads with 0)."""
    rows = []
    for layer in arch.layers():
        cost = layer_cost(layer)
        act = layer.in_channels * layer.in_size**2 + layer.out_channels * layer.out_size**2
        rows.append((cost.macs, act, cost.params))
    work = np.array(rows, dtype=float).reshape(-1, WORK) / counts(REFERENCE)[:WORK]
    out = np.hstack([work, np.ones((len(work), 1))])
    out.flags.writeable = False
    return out


def relative_matrix(archs: Sequence[Arch]) -> np.ndarray:
    """The networks' :func:`layer_matrix` as one array, shape ``len(archs) x layers x 4``; the
    last column is 1 for a layer and 0 for the padding of networks shallower than the deepest."""
    return stack([layer_matrix(a) for a in archs])


def stack(blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Arrays of :func:`relative_matrix` (``networks x layers x 4``, or one ``layers x 4``) stacked
    along the networks, padded with masked-out layers to the deepest."""
    blocks = [b[None] if b.ndim == 2 else b for b in blocks]
    depth = max((b.shape[1] for b in blocks), default=0)
    if len(blocks) == 1:
        return blocks[0]
    padded = [np.pad(b, ((0, 0), (0, depth - b.shape[1]), (0, 0))) for b in blocks]
    return np.concatenate(padded) if padded else np.zeros((0, 0, WORK + 1))
