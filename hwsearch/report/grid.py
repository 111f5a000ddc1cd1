"""The paper's α × ρ grid beside a run: its ImageNet line, and how far the proxy ranks the grid the same way."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from hwsearch.cost import count_cost
from hwsearch.paper import GRID_SOURCE, paper_grid
from hwsearch.stats import spearman

# Below this many grid models a rank correlation says little and is not shown.
GRID_RANK_MIN_MODELS = 4


@dataclass(frozen=True)
class GridRank:
    """Spearman correlation of the proxy's accuracy with ImageNet top-1 over the paper's models in a run."""

    spearman: float
    models: int
    budget: str

    def text(self, *, with_budget: bool = True) -> str:
        """One line for a report, or without the budget for a plot whose title already names it."""
        # Equal proxy scores for every model leave the ranks, and so the correlation, undefined.
        value = "undefined (all scored alike)" if math.isnan(self.spearman) else f"{self.spearman:+.2f}"
        where = f" at '{self.budget}'" if with_budget else ""
        return f"proxy vs ImageNet top-1 on the paper's grid: Spearman {value} ({self.models} MobileNets{where})"


@dataclass(frozen=True)
class PaperLine:
    """The paper's 16 models: Mult-Adds as counted here, and their published ImageNet top-1."""

    macs: tuple[int, ...]
    top1_pct: tuple[float, ...]
    names: tuple[str, ...]
    source: str = GRID_SOURCE


def grid_name(alpha: float, resolution: int) -> str:
    """A grid model's baseline name in a run, e.g. ``0.5-160``."""
    return f"{alpha:g}-{resolution}"


def paper_line() -> PaperLine:
    """The paper's ImageNet trade-off, cheapest model first."""
    rows = sorted((count_cost(m.arch).macs, m.top1, grid_name(m.alpha, m.resolution)) for m in paper_grid())
    macs, top1, names = zip(*rows, strict=True)
    return PaperLine(tuple(macs), tuple(top1), tuple(names))


def grid_rank(baselines: pd.DataFrame, column: str, budget: str) -> GridRank | None:
    """The rank correlation of ``column`` with ImageNet top-1 over the paper's models among ``baselines``.

    ``baselines`` are rows of a trials table whose ``baseline`` names a grid model, all scored at
    ``budget``. ``None`` when fewer than :data:`GRID_RANK_MIN_MODELS` of them are there.
    """
    top1 = {grid_name(m.alpha, m.resolution): m.top1 for m in paper_grid()}
    rows = baselines[baselines.baseline.isin(top1)].drop_duplicates("baseline")
    rows = rows[rows[column].notna()]
    if len(rows) < GRID_RANK_MIN_MODELS:
        return None
    value = spearman(rows[column].astype(float).tolist(), [top1[name] for name in rows.baseline])
    return GridRank(value, len(rows), budget)
