"""Lookup tables of blocks timed in context: the table file, and a network's prediction from it.

A table ``device_profiles/NAME.lut.csv`` holds one row per distinct block (stem, ``ds``
pair, ``conv``, head; :mod:`hwsearch.latency._lut_keys`) that a space can produce, each
timed behind a lead-in that leaves its input as its real predecessor does
(:mod:`hwsearch.latency._lut_model`); one ``null`` row per lead-in alone; and ``net``
rows, whole anchor networks. Every row is timed with the device's drift-cancelling
protocol and keeps its ratio to the reference network, so the whole table is read at
one reference level (below), whatever the device's speed while each row was timed.

A block's cost in a network is its chain's time minus its lead-in's: that difference
holds the block's kernels, any reorder between it and its predecessor, and the reorder
and copy of its own output, less those of the lead-in's output, which has the same
shape as the previous block's. Over a network the outputs' costs cancel in pairs and
the session's own cost is paid once (by the stem, timed alone), so the sum of the
differences is the network's time, up to what no block sees (the reference itself runs
faster beside a small block than beside a whole network, which inflates the blocks'
ratios): this is corrected on the anchors as ``a * sum(chains - lead-ins) + c``, ``a``
held near 1.
The anchors' leave-one-out error travels with every prediction.

The level that turns ratios into milliseconds is the reference's median over the
sessions that timed the anchors: whole networks, paired with the reference as every
measured network is, so a prediction reads like a drift-corrected measurement.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsearch.arch import Arch
from hwsearch.errors import MeasurementError
from hwsearch.latency._lut_keys import NULL, BlockKey, arch_blocks
from hwsearch.measurement import Measurement, utc_now

LUT_SUFFIX = ".lut.csv"
FORMAT = "2"
COLUMNS = ("kind", "in_channels", "out_channels", "in_size", "stride", "lead_channels", "out_size", "macs",
           "latency_ms", "ratio", "reference_ms", "p90_ms", "cv", "runs", "arch", "measured_at")  # fmt: skip
# The columns of format 1 (single layers timed alone, boundary rows), read only to say so.
OLD_COLUMNS = ("kind", "in_channels", "out_channels", "in_size", "stride", "out_size", "macs", "latency_ms", "p90_ms",
               "cv", "runs", "arch", "measured_at")  # fmt: skip
# Ridge weight holding the chains' multiplier near 1: only the anchors' residual trend moves it.
SCALE_PRIOR_SD = 0.1
ANCHOR_NOISE = 0.03  # relative timing noise of one anchor measurement
# A missing entry is scaled from a measured one of the same kind, channels and lead-in at most
# this far away in spatial size.
MAX_SIZE_RATIO = 2.0


class LookupTableError(MeasurementError):
    """A lookup table cannot be read, does not match the request, or lacks entries."""


@dataclass(frozen=True)
class OverheadFit:
    """``network = a * sum(chains) - phi * sum(lead-ins) + c_ms``, fitted on the anchors, with ``phi == a``:
    ``a`` scales the blocks' in-context costs (chain less lead-in)."""

    a: float
    phi: float
    c_ms: float
    residuals_pct: tuple[float, ...]
    loo_errors_pct: tuple[float, ...] = ()  # each anchor predicted by the fit to the others

    @property
    def expected_error_pct(self) -> float:
        """Mean absolute leave-one-anchor-out error, in percent (the rms residual with < 3 anchors)."""
        return float(np.mean(np.abs(self.loo_errors_pct))) if self.loo_errors_pct else self.rms_pct

    @property
    def error_basis(self) -> str:
        """How :attr:`expected_error_pct` was found, in words."""
        n = len(self.residuals_pct)
        if self.loo_errors_pct:
            return f"cross-validated, leave-one-out over {n} anchor networks"
        return f"in-sample residual of {n} anchor network{'s' if n != 1 else ''}: too few to cross-validate"

    @property
    def rms_pct(self) -> float:
        """Root mean square of the anchors' residuals, in percent."""
        return float(np.sqrt(np.mean(np.square(self.residuals_pct)))) if self.residuals_pct else 0.0

    @property
    def max_pct(self) -> float:
        """Largest absolute anchor residual, in percent."""
        return float(max((abs(r) for r in self.residuals_pct), default=0.0))


@dataclass(frozen=True)
class BlockSums:
    """What a network's prediction is made of: its blocks' chain times and their lead-ins' times."""

    chains_ms: float
    leads_ms: float
    blocks: int
    scaled: int  # entries scaled from a neighbouring size, not measured

    @property
    def plain_ms(self) -> float:
        """The sum of the blocks' in-context costs, before the anchors' correction."""
        return self.chains_ms - self.leads_ms


def read_rows(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The ``# key: value`` header and the data rows of a table file (a torn last line is ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LookupTableError(f"cannot read the lookup table {path}: {exc}", value=str(path)) from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # written up to a crash: the last row is incomplete
    header: dict[str, str] = {}
    body = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                header.setdefault(key.strip(), value.strip())
        elif line.strip():
            body.append(line)
    columns = tuple(body[0].split(",")) if body else COLUMNS
    if columns == OLD_COLUMNS:
        raise LookupTableError(
            f"{path} is a lookup table of format 1 (single layers timed alone, without the drift reference); "
            f"this hwsearch reads format {FORMAT} (blocks timed in context)",
            value=str(path),
            hint="rebuild it: hwsearch profile --device DEVICE --restart",
        )
    if columns != COLUMNS:
        raise LookupTableError(f"{path} is not an hwsearch lookup table (columns differ)", value=str(path))
    return header, list(csv.DictReader(io.StringIO("\n".join(body))))


def _coef(plain: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(a, c)`` minimising the anchors' errors relative to their latencies ``y``; a ridge row pulls ``a`` to 1."""
    design = np.vstack([np.column_stack([plain / y, 1.0 / y]) / ANCHOR_NOISE, [1.0 / SCALE_PRIOR_SD, 0.0]])
    goal = np.append(np.ones(len(y)) / ANCHOR_NOISE, 1.0 / SCALE_PRIOR_SD)
    return np.linalg.lstsq(design, goal, rcond=None)[0]


def fit_overhead(plain_ms: list[float], latencies_ms: list[float]) -> OverheadFit:
    """The correction fitted on anchors whose blocks sum to ``plain_ms``, with their leave-one-out errors."""
    if not plain_ms:
        return OverheadFit(1.0, 1.0, 0.0, ())
    x, y = np.array(plain_ms, dtype=float), np.array(latencies_ms, dtype=float)

    def error_pct(coef: np.ndarray, i: np.ndarray | int) -> np.ndarray:
        return 100.0 * ((coef[0] * x[i] + coef[1]) / y[i] - 1.0)

    coef = _coef(x, y)
    residuals = tuple(float(v) for v in error_pct(coef, np.arange(len(y))))
    loo = []
    if len(y) >= 3:  # the in-sample residuals flatter the fit; each anchor left out says what a new network gets
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            loo.append(float(error_pct(_coef(x[keep], y[keep]), i)))
    return OverheadFit(float(coef[0]), float(coef[0]), float(coef[1]), residuals, tuple(loo))


class LayerTable:
    """A loaded lookup table: block chains, lead-ins and anchors at one reference level, and the fit."""

    def __init__(self, path: Path, header: dict[str, str], rows: list[dict[str, str]]) -> None:
        self.path = path
        self.header = header
        ratios: dict[BlockKey | str, tuple[float, float]] = {}
        references: dict[bool, list[float]] = {True: [], False: []}  # by: was it an anchor's session
        try:
            for row in rows:
                ratio, raw_ms = float(row["ratio"]), float(row["latency_ms"])
                name: BlockKey | str = row["arch"] if row["kind"] == "net" else _key_of(row)
                ratios[name] = (ratio, raw_ms)
                if ratio > 0:
                    references[row["kind"] == "net"].append(float(row["reference_ms"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise LookupTableError(f"{path}: unreadable row ({exc})", value=str(path)) from None
        # One level for every row, far steadier than any one session's: the reference's median
        # beside the anchors (beside all rows while there are none). A table timed without the
        # reference keeps its raw medians.
        levels = references[True] or references[False]
        self.reference_ms = statistics.median(levels) if levels else 0.0
        values = {name: ratio * self.reference_ms if ratio > 0 else raw for name, (ratio, raw) in ratios.items()}
        self.entries: dict[BlockKey, float] = {k: v for k, v in values.items() if isinstance(k, BlockKey)}
        self.nets: dict[str, float] = {k: v for k, v in values.items() if isinstance(k, str)}
        self._by_shape: dict[tuple[str, int, int, int, int], list[tuple[int, float]]] = defaultdict(list)
        for key, ms in self.entries.items():
            shape = (key.kind, key.in_channels, key.out_channels, key.stride, key.lead_channels)
            self._by_shape[shape].append((key.in_size, ms))
        self.overhead = self._fit_overhead()

    @classmethod
    def load(cls, path: str | Path) -> LayerTable:
        """Read the table at ``path``."""
        path = Path(path)
        header, rows = read_rows(path)
        return cls(path, header, rows)

    @property
    def settings(self) -> dict[str, object]:
        """The measurement settings the table was built with."""
        return json.loads(self.header.get("settings", "{}"))

    def entry_ms(self, key: BlockKey) -> tuple[float, bool]:
        """The latency of ``key``'s row and whether it was scaled from a neighbouring size (not measured)."""
        found = self.entries.get(key)
        if found is not None:
            return found, False
        near = self._by_shape.get((key.kind, key.in_channels, key.out_channels, key.stride, key.lead_channels), [])
        best = min(near, key=lambda item: abs(math.log(item[0] / key.in_size)), default=None)
        if best is None or max(best[0], key.in_size) / min(best[0], key.in_size) > MAX_SIZE_RATIO:
            raise LookupTableError(
                f"the lookup table {self.path} has no entry near block {key.token()}",
                value=key.token(),
                hint="build the table for this space: hwsearch profile --device DEVICE --space SPACE",
            )
        size, ms = best
        ref = BlockKey(key.kind, key.in_channels, key.out_channels, size, key.stride, key.lead_channels)
        # Time grows with the activations' area (work and data both do); the head's with its input's.
        scale = (key.in_size / size) ** 2 if key.kind in ("head", NULL) else (key.out_size / ref.out_size) ** 2
        return ms * scale, True

    def sums(self, arch: Arch) -> BlockSums:
        """The chain times of ``arch``'s blocks and the times of their lead-ins."""
        chains = leads = 0.0
        scaled = 0
        blocks = arch_blocks(arch)
        for key in blocks:
            ms, was_scaled = self.entry_ms(key)
            chains += ms
            scaled += was_scaled
            if key.lead is not None:
                lead_ms, lead_scaled = self.entry_ms(key.lead)
                leads += lead_ms
                scaled += lead_scaled
        return BlockSums(chains, leads, len(blocks), scaled)

    def _fit_overhead(self) -> OverheadFit:
        rows, targets = [], []
        for text, ms in self.nets.items():
            try:
                found = self.sums(Arch.from_str(text))
            except LookupTableError:
                continue  # a partial table: this anchor counts once its blocks are measured
            rows.append(found.plain_ms)
            targets.append(ms)
        return fit_overhead(rows, targets)

    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch`` in milliseconds."""
        return self._predicted(self.sums(arch))

    def _predicted(self, found: BlockSums) -> float:
        fit = self.overhead
        return max(fit.a * found.plain_ms + fit.c_ms, 0.0)

    def predict(self, arch: Arch, device: str = "") -> Measurement:
        """The prediction for ``arch`` as a ``source="lut"`` record with the anchors' cross-validated error."""
        found = self.sums(arch)
        t = self._predicted(found)
        fit = self.overhead
        settings = self.settings
        note = f" ({found.scaled} scaled from a neighbouring size)" if found.scaled else ""
        level = f", reference level {self.reference_ms:.3f} ms" if self.reference_ms else ""
        basis = (f"lookup table {self.path.name}: {found.blocks} blocks timed in context{note}{level}; "
                 f"fitted on {len(fit.residuals_pct)} networks (a {fit.a:.3f}, c {fit.c_ms:.3f} ms)")  # fmt: skip
        return Measurement(
            median_ms=t, p90_ms=t, mean_ms=t, std_ms=0.0, min_ms=t, max_ms=t, outliers=0, runs=0, warmup=0,
            provider=str(settings.get("provider", "")), threads=int(self.header.get("threads", "0") or 0),
            precision=str(settings.get("precision", "")), runtime=self.header.get("runtime", "onnxruntime"),
            runtime_version=self.header.get("runtime_version", ""), host=self.header.get("host", ""),
            timestamp=utc_now(), source="lut", device=device or self.header.get("device", ""),
            fit_points=len(fit.residuals_pct), fit_residual_rms_pct=fit.rms_pct, fit_residual_max_pct=fit.max_pct,
            expected_error_pct=fit.expected_error_pct, error_basis=fit.error_basis, basis=basis,
        )  # fmt: skip

    def missing(self, keys: Iterable[BlockKey]) -> list[BlockKey]:
        """Which of ``keys`` have no measured entry."""
        return sorted(k for k in keys if k not in self.entries)


def _key_of(row: dict[str, str]) -> BlockKey:
    return BlockKey(row["kind"], int(row["in_channels"]), int(row["out_channels"]), int(row["in_size"]),
                    int(row["stride"]), int(row["lead_channels"]))  # fmt: skip
