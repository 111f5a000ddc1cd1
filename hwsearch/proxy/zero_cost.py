"""Zero-cost accuracy proxies: scores of an untrained network from one minibatch, in seconds.

- **synflow** (Tanaka et al., 2020; used as a NAS proxy by Abdelfattah et al., 2021): with
  every weight replaced by its absolute value and an all-ones input, the sum over parameters
  of ``|theta * dR/dtheta|`` where ``R`` is the summed output. Data-free. Reported as its
  natural logarithm, because the raw value spans hundreds of orders of magnitude.
- **NASWOT** (Mellor et al., 2021, "Neural Architecture Search without Training"): the
  log-determinant of the kernel ``K = sum over ReLU layers of (c c^T + (1-c)(1-c)^T)``, where
  ``c`` are the binary activation codes of the minibatch's images. Networks that separate the
  images' activation patterns score higher.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hwsearch.arch import Arch
from hwsearch.proxy.budgets import Budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.train import build_proxy_model, detail_size, pixel_stats, prepare_images, proxy_arch


@dataclass(frozen=True)
class ZeroCostScores:
    """Both zero-cost scores of one architecture's proxy network."""

    arch: str
    synflow: float
    naswot: float
    seconds: float


def synflow_score(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """log of the synflow saliency of ``model`` (modified in place: pass a fresh copy)."""
    model = model.double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    model.zero_grad(set_to_none=True)
    model(torch.ones((1, *input_shape[1:]), dtype=torch.float64)).sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return math.log(total) if total > 0 else float("-inf")


@torch.no_grad()
def naswot_score(model: nn.Module, images: torch.Tensor) -> float:
    """NASWOT log-determinant of ``model``'s ReLU activation-code kernel on ``images``."""
    count = images.shape[0]
    kernel = torch.zeros(count, count, dtype=torch.float64)

    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes = (output.reshape(count, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        model.train()  # batch statistics, as at the start of training
        model(images)
    finally:
        for handle in handles:
            handle.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def zero_cost_scores(arch: Arch, data: ProxyData, budget: Budget, *, batch: int = 64, seed: int = 0) -> ZeroCostScores:
    """synflow and NASWOT of ``arch``'s proxy network (as ``budget`` trains it) on one seeded minibatch of ``data``."""
    start = time.perf_counter()
    net = proxy_arch(arch, budget, data.train.channels, data.classes)
    pick = np.sort(np.random.default_rng(seed).choice(len(data.train), size=min(batch, len(data.train)), replace=False))
    batch_set = data.train.subset(pick)
    x, _ = prepare_images(batch_set, net.resolution, detail_size(arch, budget), pixel_stats(data.train))
    with torch.random.fork_rng(devices=[]):
        syn = synflow_score(build_proxy_model(net, budget, seed), tuple(x.shape))
        wot = naswot_score(build_proxy_model(net, budget, seed), x)
    return ZeroCostScores(arch.to_str(), syn, wot, time.perf_counter() - start)
