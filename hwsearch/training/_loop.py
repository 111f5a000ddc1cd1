"""Train a chosen network at its real width, with a checkpoint that a later call resumes from.

The images stay in memory at their stored size (a 60,000-image data set at 224 px would
not fit); each batch is augmented there and resized to the network's input on the fly.
The checkpoint holds the model, optimiser, schedule and random-generator states, and is
written atomically at every epoch's end and every ``checkpoint_s`` seconds within one, so
a resumed training continues the same run, step for step. It is read with
``torch.load(weights_only=True)``: tensors and plain values only, never pickled code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from hwsearch.arch import Arch
from hwsearch.data import Dataset, ImageSet
from hwsearch.errors import names_file
from hwsearch.model import MobileNet, build_model
from hwsearch.proxy.budgets import Budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.train import augment, pixel_stats
from hwsearch.training._settings import EpochLog, TrainError, TrainResult, TrainSettings

CHECKPOINT = "checkpoint.pt"
_FORMAT = 1
_EVAL_BATCH = 256

StepCallback = Callable[[int, int], None]
EpochCallbackT = Callable[[EpochLog], None]


def trained_arch(arch: Arch, data: ProxyData, settings: TrainSettings) -> Arch:
    """The network trained for ``arch``: its own widths and structure, with the data set's input
    channels and classes, at ``settings.resolution`` when given."""
    return replace(arch, in_channels=data.train.channels, num_classes=data.classes,
                   resolution=settings.resolution or arch.resolution)  # fmt: skip


def training_split(dataset: Dataset, budget: Budget) -> ProxyData:
    """Every training image of ``dataset`` except the validation split ``budget`` holds out: the
    same split the search validated on, so the two accuracies are of the same images."""
    return ProxyData.from_dataset(dataset, budget.with_overrides(train_images=len(dataset.train)))


def _tensors(images: ImageSet, stats: tuple[float, float], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images.images).to(torch.float32).div_(255.0).sub_(stats[0]).div_(stats[1])
    return x.to(device), torch.from_numpy(images.labels).to(device)


def _at(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def accuracy_pct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, size: int) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` resized to ``size`` pixels."""
    model.eval()
    correct = 0
    for i in range(0, len(x), _EVAL_BATCH):
        correct += int((model(_at(x[i : i + _EVAL_BATCH], size)).argmax(1) == y[i : i + _EVAL_BATCH]).sum())
    return 100.0 * correct / max(1, len(x))


@dataclass
class _State:
    """Where a training stands: what the checkpoint holds besides the module states."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished within the next epoch
    order: torch.Tensor | None = None
    loss_sum: float = 0.0
    epoch_seconds: float = 0.0
    log: tuple[EpochLog, ...] = ()


def _identity(net: Arch, dataset: str, settings: TrainSettings, sizes: tuple[int, int]) -> dict[str, object]:
    return {"arch": net.to_str(), "dataset": dataset, "train_images": sizes[0], "val_images": sizes[1],
            **settings.identity()}  # fmt: skip


def _save(path: Path, identity: dict, state: _State, parts: dict[str, object]) -> None:
    payload = {"format": _FORMAT, "identity": identity, "epoch": state.epoch, "step": state.step,
               "order": state.order, "loss_sum": state.loss_sum, "epoch_seconds": state.epoch_seconds,
               "log": [asdict(row) for row in state.log], **parts}  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    with names_file(path):
        torch.save(payload, tmp)
        os.replace(tmp, path)


def _load(path: Path, identity: dict) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises several kinds
        raise TrainError(f"cannot read the checkpoint {path}: {exc}", value=str(path),
                         hint="remove it to start over") from None  # fmt: skip
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise TrainError(f"{path} is not an hwsearch training checkpoint", value=str(path))
    if payload["identity"] != identity:
        changed = sorted(k for k in identity if payload["identity"].get(k) != identity[k])
        raise TrainError(f"the checkpoint {path} belongs to another training (differs in {', '.join(changed)})",
                         value=str(path), hint="use another --out, or the same settings as before")  # fmt: skip
    return payload


DEFAULT_SETTINGS = TrainSettings()


def train_network(arch: Arch, data: ProxyData, test: ImageSet, settings: TrainSettings = DEFAULT_SETTINGS, *,
                  checkpoint: Path | None = None, on_step: StepCallback | None = None,
                  on_epoch: EpochCallbackT | None = None, device: str | None = None,
                  threads: int | None = None) -> tuple[TrainResult, MobileNet]:  # fmt: skip
    """Train ``arch`` (at its real width) on ``data.train``; return the result and the trained module.

    With ``checkpoint`` the training resumes from that file when it exists (it must be of this
    very training) and keeps it up to date. ``on_step(done, total)`` sees every optimiser step,
    ``on_epoch`` every finished epoch. ``threads``: CPU threads (default every core).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        trainer = _Trainer(arch, data, settings, checkpoint, torch.device(device or _default_device()))
        while trainer.state.epoch < settings.epochs:
            row = trainer.epoch(on_step)
            if on_epoch is not None:
                on_epoch(row)
        return trainer.result(test), trainer.model.cpu()
    finally:
        torch.set_num_threads(before)


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class _Trainer:
    """One training's model, optimiser, schedule, random stream and progress, restored from its
    checkpoint when there is one."""

    def __init__(self, arch: Arch, data: ProxyData, settings: TrainSettings, checkpoint: Path | None,
                 dev: torch.device) -> None:  # fmt: skip
        self.net = trained_arch(arch, data, settings)
        self.settings, self.checkpoint, self.dev, self.data = settings, checkpoint, dev, data
        self.identity = _identity(self.net, data.name, settings, (len(data.train), len(data.val)))
        self.stats = pixel_stats(data.train)
        self.x_train, self.y_train = _tensors(data.train, self.stats, dev)
        self.x_val, self.y_val = _tensors(data.val, self.stats, dev)
        self.model = build_model(self.net, seed=settings.seed).to(dev).to(memory_format=torch.channels_last)
        self.steps = max(1, len(self.x_train) // settings.batch_size)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=settings.lr, momentum=0.9, nesterov=True,
                                   weight_decay=settings.weight_decay)  # fmt: skip
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=settings.lr, pct_start=0.15,
                                                         total_steps=settings.epochs * self.steps)  # fmt: skip
        self.gen = torch.Generator(device=dev).manual_seed(settings.seed)
        self.state = _State()
        if checkpoint is not None and checkpoint.exists():
            saved = _load(checkpoint, self.identity)
            self.model.load_state_dict(saved["model"])
            self.opt.load_state_dict(saved["optimizer"])
            self.sched.load_state_dict(saved["scheduler"])
            self.gen.set_state(saved["generator"])
            self.state = _State(saved["epoch"], saved["step"], saved["order"], saved["loss_sum"],
                                saved["epoch_seconds"], tuple(EpochLog(**row) for row in saved["log"]))  # fmt: skip
        self.resumed_from = self.state.epoch
        self.last_save = time.monotonic()

    def save(self) -> None:
        """Write the checkpoint (when there is one) as the training stands now."""
        if self.checkpoint is not None:
            parts = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                     "scheduler": self.sched.state_dict(), "generator": self.gen.get_state()}  # fmt: skip
            _save(self.checkpoint, self.identity, self.state, parts)
        self.last_save = time.monotonic()

    def epoch(self, on_step: StepCallback | None) -> EpochLog:
        """Finish the current epoch (from where a checkpoint left it) and validate."""
        settings, state, size = self.settings, self.state, self.net.resolution
        started = time.perf_counter() - state.epoch_seconds
        self.model.train()
        if state.order is None:
            state.order = torch.randperm(len(self.x_train), generator=self.gen, device=self.dev)
        for step in range(state.step, self.steps):
            idx = state.order[step * settings.batch_size : (step + 1) * settings.batch_size]
            batch = _at(augment(self.x_train[idx], self.gen, settings.translate), size)
            loss = F.cross_entropy(self.model(batch), self.y_train[idx], label_smoothing=settings.label_smoothing)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            state.loss_sum += float(loss.detach())
            state.step = step + 1
            if on_step is not None:
                on_step(state.epoch * self.steps + state.step, settings.epochs * self.steps)
            if time.monotonic() - self.last_save > settings.checkpoint_s and state.step < self.steps:
                state.epoch_seconds = time.perf_counter() - started
                self.save()
        val = accuracy_pct(self.model, self.x_val, self.y_val, size)
        row = EpochLog(state.epoch + 1, state.loss_sum / self.steps, val, float(self.sched.get_last_lr()[0]),
                       time.perf_counter() - started)  # fmt: skip
        self.state = _State(state.epoch + 1, log=(*state.log, row))
        self.save()
        return row

    def result(self, test: ImageSet) -> TrainResult:
        """The finished training's record, with its accuracy on ``test``."""
        x_test, y_test = _tensors(test, self.stats, self.dev)
        size, log = self.net.resolution, self.state.log
        val = log[-1].val_accuracy_pct if log else accuracy_pct(self.model, self.x_val, self.y_val, size)
        return TrainResult(arch=self.net.to_str(), dataset=self.data.name, settings=self.settings, log=log,
                           val_accuracy_pct=val, test_accuracy_pct=accuracy_pct(self.model, x_test, y_test, size),
                           train_images=len(self.x_train), val_images=len(self.x_val), test_images=len(x_test),
                           resumed_from_epoch=self.resumed_from, pixel_mean=self.stats[0],
                           pixel_std=self.stats[1])  # fmt: skip
