"""Train the paper's 16 alpha x rho models with the proxy and compare with the paper's trade-off."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from hwsearch.arch import Arch
from hwsearch.cost import count_cost
from hwsearch.paper import paper_grid, structural_models
from hwsearch.proxy.budgets import Budget
from hwsearch.proxy.records import ProxyData, ProxyResult
from hwsearch.proxy.train import train_proxy
from hwsearch.stats import LinearFit, log_macs_fit, spearman

Progress = Callable[[int, int, ProxyResult], None]


@dataclass(frozen=True)
class GridRow:
    """One grid model: its cost, proxy accuracy (%) and the paper's ImageNet top-1 (%)."""

    alpha: float
    resolution: int
    arch: str
    macs: int
    params: int
    proxy_accuracy_pct: float
    imagenet_top1_pct: float
    train_seconds: float


@dataclass(frozen=True)
class Reproduction:
    """The 16-model reproduction and its fidelity figures."""

    rows: tuple[GridRow, ...]
    budget: str
    dataset: str
    wall_seconds: float

    @property
    def fit(self) -> LinearFit:
        """Proxy accuracy (%) against log10(MACs)."""
        return log_macs_fit([r.macs for r in self.rows], [r.proxy_accuracy_pct for r in self.rows])

    @property
    def paper_fit(self) -> LinearFit:
        """ImageNet top-1 (%) against log10(MACs), the paper's own line."""
        return log_macs_fit([r.macs for r in self.rows], [r.imagenet_top1_pct for r in self.rows])

    @property
    def spearman_imagenet(self) -> float:
        """Rank correlation between proxy accuracy and ImageNet top-1."""
        return spearman([r.proxy_accuracy_pct for r in self.rows], [r.imagenet_top1_pct for r in self.rows])

    def records(self) -> list[dict[str, object]]:
        """Rows as plain dicts, for a table."""
        return [asdict(r) for r in self.rows]


def train_many(
    archs: list[Arch], data: ProxyData, budget: Budget, progress: Progress | None = None
) -> list[ProxyResult]:
    """Train each architecture in turn."""
    results = []
    for i, arch in enumerate(archs):
        result = train_proxy(arch, data, budget)
        results.append(result)
        if progress is not None:
            progress(i + 1, len(archs), result)
    return results


def reproduce_grid(data: ProxyData, budget: Budget, progress: Progress | None = None) -> Reproduction:
    """Train the paper's 16 grid models under ``budget`` on ``data``."""
    start = time.perf_counter()
    grid = paper_grid()
    results = train_many([m.arch for m in grid], data, budget, progress)
    rows = []
    for model, result in zip(grid, results, strict=True):
        cost = count_cost(model.arch)
        rows.append(GridRow(model.alpha, model.resolution, model.arch.to_str(), cost.macs, cost.params,
                            result.accuracy_pct, model.top1, result.train_seconds))  # fmt: skip
    return Reproduction(tuple(rows), budget.name, data.name, time.perf_counter() - start)


@dataclass(frozen=True)
class StructuralRow:
    """One network of the paper's Tables 4-5: its proxy accuracy (mean and s.d. over seeds) and ImageNet top-1."""

    name: str
    arch: str
    proxy_accuracy_pct: float
    proxy_std_pct: float
    seeds: int
    imagenet_top1_pct: float
    seed_accuracy_pct: tuple[float, ...] = ()


@dataclass(frozen=True)
class StructuralCheck:
    """Does the proxy order Conv MobileNet > MobileNet > 0.75 MobileNet > Shallow MobileNet, as ImageNet does?"""

    rows: tuple[StructuralRow, ...]
    budget: str

    @property
    def ordered_as_paper(self) -> bool:
        """True when the proxy's order of the four networks is the paper's, strictly."""
        return not self.wrong_pairs()

    @property
    def ordered_in_every_seed(self) -> bool:
        """True when each seed's own accuracies, not only their means, are in the paper's order."""
        by_seed = zip(*(r.seed_accuracy_pct for r in self.rows), strict=True)
        return all(all(a > b for a, b in itertools.pairwise(accs)) for accs in by_seed)

    def wrong_pairs(self) -> list[tuple[str, str]]:
        """Neighbouring pairs (better on ImageNet, worse on ImageNet) that the proxy puts the other way round."""
        return [(a.name, b.name) for a, b in itertools.pairwise(self.rows)
                if a.proxy_accuracy_pct <= b.proxy_accuracy_pct]  # fmt: skip


def structural_check(data: ProxyData, budget: Budget, progress: Progress | None = None, *,
                     seeds: int = 2) -> StructuralCheck:  # fmt: skip
    """Train the paper's four structural variants under ``budget`` with at least ``seeds`` seeds."""
    models = structural_models()
    trained = budget.with_overrides(seeds=max(seeds, budget.seeds))
    results = train_many([m.arch for m in models], data, trained, progress)
    rows = tuple(StructuralRow(m.name, m.arch.to_str(), r.accuracy_pct, r.accuracy_std_pct, len(r.seeds), m.top1,
                               r.seed_accuracy_pct) for m, r in zip(models, results, strict=True))  # fmt: skip
    return StructuralCheck(rows, budget.name)
