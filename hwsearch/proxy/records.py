"""What proxy training takes and gives, without torch: the data a budget trains on and the result record.

The search, the report and the run's records read these types; only a trial that trains
loads :mod:`hwsearch.proxy.train` and with it torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwsearch.data import Dataset, ImageSet, split_validation
from hwsearch.proxy.budgets import Budget

# Called after each evaluated epoch with (epoch, validation accuracy in %); returning True stops training.
EpochCallback = Callable[[int, float], bool]


@dataclass(frozen=True)
class ProxyResult:
    """Outcome of one proxy training; every accuracy is a validation accuracy in percent.

    With several seeds ``accuracy_pct`` is their mean and ``accuracy_std_pct`` their sample
    standard deviation (0 for one seed); the epoch curve is the first seed's.
    """

    arch: str
    proxy_arch: str
    accuracy_pct: float
    epoch_accuracy_pct: tuple[float, ...]
    epoch_loss: tuple[float, ...]
    seeds: tuple[int, ...]
    seed_accuracy_pct: tuple[float, ...]
    epochs_run: int
    train_seconds: float
    stopped_early: bool
    budget: str
    dataset: str

    @property
    def accuracy_std_pct(self) -> float:
        """Sample standard deviation of the seeds' accuracies (0 with one seed)."""
        return float(np.std(self.seed_accuracy_pct, ddof=1)) if len(self.seed_accuracy_pct) > 1 else 0.0


@dataclass(frozen=True, eq=False)
class ProxyData:
    """The fixed training subset and validation split a budget uses, ready for every candidate."""

    train: ImageSet
    val: ImageSet
    name: str

    @classmethod
    def from_dataset(cls, dataset: Dataset, budget: Budget) -> ProxyData:
        """Hold out ``budget.val_images`` and take a seeded ``budget.train_images`` of the rest.

        A small data set (a user's image folder) keeps at least four fifths of its images for training.
        """
        val_count = max(1, min(budget.val_images, len(dataset.train) // 5))
        rest, val = split_validation(dataset.train, val_count, seed=budget.data_seed)
        count = min(budget.train_images, len(rest))
        pick = np.sort(np.random.default_rng(budget.data_seed + 1).permutation(len(rest))[:count])
        return cls(rest.subset(pick), val, dataset.name)

    @property
    def classes(self) -> int:
        """Number of classes."""
        return len(self.train.classes)
