"""Predicted against measured: sample architectures, estimate and time each, and score the estimates."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwsearch.arch import Arch
from hwsearch.latency._estimate import Estimator, estimator_for
from hwsearch.measurement import Measurement
from hwsearch.space import RandomSuggester, SearchSpace, sample_valid

if TYPE_CHECKING:
    from hwsearch.devices import DeviceProfile
    from hwsearch.latency._cache import LatencyCache
    from hwsearch.latency._client import AgentClient

TOLERANCE_PCT = 10.0
CSV_COLUMNS = ("arch", "macs", "predicted_ms", "measured_ms", "error_pct", "source", "measured_cv")


@dataclass(frozen=True)
class ValidationRow:
    """One architecture: its estimate and its measurement."""

    arch: Arch
    predicted: Measurement
    measured: Measurement

    @property
    def error_pct(self) -> float:
        """predicted / measured - 1, in percent."""
        return 100.0 * (self.predicted.median_ms / self.measured.latency_ms - 1.0)


@dataclass(frozen=True)
class ValidationResult:
    """Every row of a validation run and the scores."""

    device: str
    source: str
    rows: tuple[ValidationRow, ...]

    def within(self, tolerance_pct: float = TOLERANCE_PCT) -> float:
        """Share of estimates within ``tolerance_pct`` percent of the measurement."""
        return float(np.mean([abs(r.error_pct) <= tolerance_pct for r in self.rows])) if self.rows else float("nan")

    @property
    def mape(self) -> float:
        """Mean absolute percentage error."""
        return float(np.mean([abs(r.error_pct) for r in self.rows])) if self.rows else float("nan")

    @property
    def spearman(self) -> float:
        """Rank correlation of estimates and measurements (NaN below 2 rows)."""
        from hwsearch.stats import spearman

        if len(self.rows) < 2:
            return float("nan")
        return spearman([r.predicted.median_ms for r in self.rows], [r.measured.latency_ms for r in self.rows])

    def title(self, space_name: str) -> str:
        """Two-line caption naming the device, the estimate's source and the scores."""
        return (
            f"{self.device}: {self.source} vs measured, {len(self.rows)} archs of {space_name}\n"
            f"within ±10%: {self.within():.0%}, MAPE {self.mape:.1f}%, Spearman {self.spearman:.3f}"
        )

    @property
    def noisy(self) -> int:
        """Measurements whose run-to-run CV was above the noisy threshold."""
        return sum(r.measured.noisy for r in self.rows)


def sample_archs(space: SearchSpace, n: int, seed: int = 0) -> list[Arch]:
    """``n`` distinct valid architectures of ``space`` (fewer if the space is smaller)."""
    rng = RandomSuggester(seed)
    found: dict[str, Arch] = {}
    for _ in range(100 * n):
        if len(found) >= n:
            break
        arch = sample_valid(space, rng)
        found.setdefault(arch.to_str(), arch)
    return list(found.values())


def validate(
    device: DeviceProfile,
    archs: list[Arch],
    *,
    source: str | None = None,
    agent: AgentClient | None = None,
    cache: LatencyCache | None = None,
    progress: Callable[[int, int, ValidationRow], None] | None = None,
    estimator: Estimator | None = None,
) -> ValidationResult:
    """Estimate (``lut`` first, else ``predicted``, or ``source``) and measure each of ``archs``.

    ``estimator`` replaces the device's own (e.g. one reading a table from another file).
    """
    from hwsearch.latency._measure import measure_arch

    estimator = estimator or estimator_for(device)
    used = check_estimable(device, source, estimator)
    rows = []
    for i, arch in enumerate(archs):
        predicted = estimator.estimate(arch, used)
        measured = measure_arch(arch, device, cache=cache, agent=agent)
        row = ValidationRow(arch, predicted, measured)
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(archs), row)
    return ValidationResult(device.name, used, tuple(rows))


def write_rows(result: ValidationResult, path: Path) -> Path:
    """The rows as CSV."""
    from hwsearch.cost import count_cost

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in result.rows:
            writer.writerow([r.arch.to_str(), count_cost(r.arch).macs, f"{r.predicted.median_ms:.6g}",
                             f"{r.measured.latency_ms:.6g}", f"{r.error_pct:.2f}", r.predicted.source,
                             f"{r.measured.cv:.4f}"])  # fmt: skip
    return path


def check_estimable(device: DeviceProfile, source: str | None, estimator: Estimator | None = None) -> str:
    """The estimate source validation will use; raises the device's one-line error if none."""
    estimator = estimator or estimator_for(device)
    have = estimator.available()
    if source is None and have:
        return have[0]
    if source in have:
        return source
    raise estimator.unavailable(source)
