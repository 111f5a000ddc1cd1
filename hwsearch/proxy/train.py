"""Short, seeded proxy training of an architecture on a real image data set.

The candidate is trained as a *proxy network*: its own structure (depths, strides,
block kinds) with every width scaled by the budget's ``width_scale`` and its input at
``round(base_resolution * rho)`` pixels, where rho is the candidate's resolution relative
to the deployment resolution. Accuracy is measured on a validation split held out of
the training images; the test split is never used for selection.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from hwsearch.arch import Arch
from hwsearch.data import ImageSet
from hwsearch.model import build_model
from hwsearch.proxy.budgets import Budget
from hwsearch.proxy.records import EpochCallback, ProxyData, ProxyResult
from hwsearch.proxy.shortcuts import add_shortcuts

REFERENCE_RESOLUTION = 224


def rho_of(arch: Arch, reference: int = REFERENCE_RESOLUTION) -> float:
    """The resolution multiplier of ``arch`` relative to the deployment reference resolution."""
    return arch.resolution / reference


def detail_size(arch: Arch, budget: Budget) -> int:
    """Pixels the images keep for ``arch`` before resizing (0 when the budget keeps all)."""
    return max(4, round(budget.detail_resolution * rho_of(arch))) if budget.detail_resolution else 0


def proxy_arch(arch: Arch, budget: Budget, channels: int, classes: int, reference: int = REFERENCE_RESOLUTION) -> Arch:
    """The network actually trained for ``arch`` under ``budget``."""
    rho = rho_of(arch, reference)
    return replace(
        arch,
        alpha=round(arch.alpha * budget.width_scale, 6),
        resolution=max(8, round(budget.base_resolution * rho)),
        in_channels=channels,
        num_classes=classes,
    )


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count or os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def pixel_stats(images: ImageSet) -> tuple[float, float]:
    """Mean and standard deviation of the pixels, in [0, 1] units."""
    pixels = images.images.astype(np.float64) / 255.0
    return float(pixels.mean()), max(float(pixels.std()), 1e-6)


def prepare_images(images: ImageSet, resolution: int, detail: int, stats: tuple[float, float],
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Normalised float images at the network's input ``resolution``, with their labels.

    With ``detail`` > 0 the images are first reduced to ``detail`` pixels, so that a lower
    resolution costs information, as it does on ImageNet.
    """
    x = torch.from_numpy(images.images).to(torch.float32).div_(255.0).sub_(stats[0]).div_(stats[1])
    if detail:
        x = _resize(x, detail)
    x = _resize(x, resolution).contiguous(memory_format=torch.channels_last).to(device)
    return x, torch.from_numpy(images.labels).to(device)


def augment(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    """A random horizontal flip and a random translation of up to ``pad`` pixels, each per image.

    Translated images are cut from a copy padded with its own edge pixels (the background on
    these data sets), so nothing wraps around.
    """
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if not pad:
        return x
    n, _, h, w = x.shape
    # Offsets are drawn on the generator's own device, which a GPU generator needs.
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n, 1), generator=gen, device=x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]
    cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    images = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[images, channels, rows, cols].contiguous(memory_format=torch.channels_last)


def build_proxy_model(net: Arch, budget: Budget, seed: int) -> torch.nn.Module:
    """The freshly initialised module trained for proxy network ``net``: with shortcuts if the budget says so."""
    model = build_model(net, seed=seed)
    return add_shortcuts(model, net) if budget.shortcuts else model


@torch.no_grad()
def _accuracy_pct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    model.eval()
    correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return 100.0 * correct / len(x)


@dataclass
class _Run:
    accuracy_pct: list[float]
    loss: list[float]
    stopped: bool = False


def _train_one(net: Arch, data: tuple[torch.Tensor, ...], budget: Budget, seed: int, *,
               on_epoch: EpochCallback | None, device: torch.device) -> _Run:  # fmt: skip
    x_train, y_train, x_val, y_val = data
    model = build_proxy_model(net, budget, seed).to(device).to(memory_format=torch.channels_last)
    gen = torch.Generator(device=device).manual_seed(seed)
    steps_per_epoch = max(1, len(x_train) // budget.batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=budget.lr, momentum=0.9, nesterov=True,
                          weight_decay=budget.weight_decay)  # fmt: skip
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=budget.lr, total_steps=budget.epochs * steps_per_epoch,
                                                pct_start=0.25)  # fmt: skip
    run = _Run([], [])
    for epoch in range(1, budget.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=gen, device=device)
        loss_sum = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            idx = order[step * budget.batch_size : (step + 1) * budget.batch_size]
            loss = F.cross_entropy(model(augment(x_train[idx], gen, budget.translate)), y_train[idx],
                                   label_smoothing=budget.label_smoothing)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach()
        run.loss.append(float(loss_sum) / steps_per_epoch)
        run.accuracy_pct.append(_accuracy_pct(model, x_val, y_val))
        if not math.isfinite(run.loss[-1]):  # diverged: more epochs cannot help
            run.stopped = True
            break
        if on_epoch is not None and epoch < budget.epochs and on_epoch(epoch, run.accuracy_pct[-1]):
            run.stopped = True
            break
    return run


def train_proxy(arch: Arch, data: ProxyData, budget: Budget, *, on_epoch: EpochCallback | None = None,
                threads: int | None = None, device: str | None = None) -> ProxyResult:  # fmt: skip
    """Train ``arch``'s proxy network under ``budget`` and return its validation accuracy.

    With several seeds the accuracy is their mean, and ``on_epoch`` sees the first seed only.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = proxy_arch(arch, budget, data.train.channels, data.classes)
    start = time.perf_counter()
    with _threads(threads), torch.random.fork_rng(devices=[]):
        detail = detail_size(arch, budget)
        stats = pixel_stats(data.train)
        tensors = (
            *prepare_images(data.train, net.resolution, detail, stats, dev),
            *prepare_images(data.val, net.resolution, detail, stats, dev),
        )
        seeds = tuple(budget.seed + i for i in range(budget.seeds))
        runs: list[_Run] = []
        for i, seed in enumerate(seeds):
            torch.manual_seed(seed)
            callback = on_epoch if i == 0 else None
            runs.append(_train_one(net, tensors, budget, seed, on_epoch=callback, device=dev))
            if runs[-1].stopped:
                break
    finals = tuple(run.accuracy_pct[-1] for run in runs)
    return ProxyResult(
        arch=arch.to_str(),
        proxy_arch=net.to_str(),
        accuracy_pct=float(np.mean(finals)),
        epoch_accuracy_pct=tuple(runs[0].accuracy_pct),
        epoch_loss=tuple(runs[0].loss),
        seeds=seeds[: len(runs)],
        seed_accuracy_pct=finals,
        epochs_run=len(runs[0].accuracy_pct),
        train_seconds=time.perf_counter() - start,
        stopped_early=runs[-1].stopped,
        budget=budget.name,
        dataset=data.name,
    )
