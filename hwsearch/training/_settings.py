"""What a full training of a chosen network is: its settings, its per-epoch log and its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hwsearch.errors import HwsearchError


class TrainError(HwsearchError, ValueError):
    """A training that cannot start or continue: a bad setting, or a checkpoint of another training."""


@dataclass(frozen=True)
class TrainSettings:
    """Settings of :func:`~hwsearch.training.train_network`; each default is defined here once.

    The schedule is SGD with Nesterov momentum under a one-cycle learning rate, as the proxy
    uses, but at the network's real width and, unless ``resolution`` says otherwise, at its
    own input resolution. ``translate`` is in pixels of the stored images, before resizing.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    translate: int = 2
    seed: int = 0
    resolution: int | None = None
    checkpoint_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainError(f"{name} = {value!r} is invalid", value=value, hint="a positive integer")
        if self.resolution is not None and (not isinstance(self.resolution, int) or not 8 <= self.resolution <= 2048):
            raise TrainError(f"resolution = {self.resolution!r} is invalid", value=self.resolution,
                             hint="8 to 2048 pixels")  # fmt: skip
        ranges = {"lr": (self.lr > 0, "a positive number"), "weight_decay": (self.weight_decay >= 0, "0 or more"),
                  "label_smoothing": (0 <= self.label_smoothing < 1, "0 to 1, 1 excluded"),
                  "translate": (self.translate >= 0, "0 or more pixels")}  # fmt: skip
        for name, (ok, hint) in ranges.items():
            if not ok:
                raise TrainError(f"{name} = {getattr(self, name)!r} is out of range", value=getattr(self, name),
                                 hint=hint)  # fmt: skip

    def identity(self) -> dict[str, object]:
        """What makes two trainings the same one (a checkpoint resumes only its own training)."""
        return {k: v for k, v in asdict(self).items() if k != "checkpoint_s"}


@dataclass(frozen=True)
class EpochLog:
    """One finished epoch: the ``train_log.csv`` row."""

    epoch: int
    train_loss: float
    val_accuracy_pct: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """A finished training: the trained network's architecture, its log and its held-out accuracies.

    ``val_accuracy_pct`` is on the validation split the search also held out;
    ``test_accuracy_pct`` is on the data set's test split, which neither the search nor the
    training looked at, so it is the figure to quote. The network expects images resized to its
    resolution and normalised as ``(pixels / 255 - pixel_mean) / pixel_std``.
    """

    arch: str
    dataset: str
    settings: TrainSettings
    log: tuple[EpochLog, ...]
    val_accuracy_pct: float
    test_accuracy_pct: float
    train_images: int
    val_images: int
    test_images: int
    resumed_from_epoch: int
    pixel_mean: float
    pixel_std: float

    @property
    def train_seconds(self) -> float:
        """Seconds of training in all its sessions."""
        return sum(row.seconds for row in self.log)
