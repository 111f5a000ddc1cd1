"""Per-layer latency lookup tables: which layers a space has, the table file, and prediction.

A table ``device_profiles/NAME.lut.csv`` holds one measured latency per distinct layer
(kind, input and output channels, input size, stride) that a search space can produce,
each timed alone as a one-layer ONNX model (:mod:`hwsearch.latency._lut_build`). A layer
timed alone pays costs it does not pay inside a network: its own session run, and on
ONNX Runtime's x86 CPU provider a layout conversion of its input and output (NCHW to
NCHWc and back) that a network does once. So the table also holds

* ``null`` rows: a near-free layer (1x1 depthwise conv + ReLU) per activation shape,
  which measures those boundary costs on the device itself, and
* ``net`` rows: whole networks (anchors) timed as they are,

and a network's latency is predicted as ``a * sum(layers) - phi * sum(boundaries) + c``,
with ``(a, phi, c)`` fitted by least squares on the anchors (``a`` held near 1). The
anchors' residuals and their leave-one-anchor-out error travel with every prediction.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsearch.arch import Arch, Layer, Stage, Stem, conv_out_size
from hwsearch.cost import layer_cost
from hwsearch.errors import MeasurementError
from hwsearch.measurement import Measurement, utc_now
from hwsearch.space import SearchSpace

LUT_SUFFIX = ".lut.csv"
COLUMNS = ("kind", "in_channels", "out_channels", "in_size", "stride", "out_size", "macs", "latency_ms", "p90_ms",
           "cv", "runs", "arch", "measured_at")  # fmt: skip
CONV_KINDS = ("stem", "dw", "pw", "conv")
KERNEL = {"stem": 3, "dw": 3, "conv": 3, "pw": 1, "null": 1, "fc": 1}
# Ridge weight holding the sum's multiplier near 1: only the anchors' residual trend moves it.
SCALE_PRIOR_SD = 0.1
ANCHOR_NOISE = 0.03  # relative timing noise of one anchor measurement
# A missing layer is scaled from a measured one of the same kind and channels at most this
# far away in spatial size.
MAX_SIZE_RATIO = 2.0


class LookupTableError(MeasurementError):
    """A lookup table cannot be read, does not match the request, or lacks layers."""


@dataclass(frozen=True, order=True)
class LayerKey:
    """What a layer's latency depends on; ``kind`` ``null`` marks a boundary-cost reference."""

    kind: str
    in_channels: int
    out_channels: int
    in_size: int
    stride: int

    @classmethod
    def of(cls, layer: Layer) -> LayerKey:
        """The key of an expanded layer."""
        return cls(layer.kind, layer.in_channels, layer.out_channels, layer.in_size, layer.stride)

    @classmethod
    def null(cls, channels: int, size: int) -> LayerKey:
        """The boundary reference for an activation of ``channels`` x ``size`` x ``size``."""
        return cls("null", channels, channels, size, 1)

    @property
    def out_size(self) -> int:
        """Output side: 1 for pool and FC, else ceil(in_size / stride)."""
        return 1 if self.kind in ("pool", "fc") else conv_out_size(self.in_size, self.stride)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (a null layer: one per element)."""
        if self.kind == "null":
            return self.in_channels * self.in_size**2
        return layer_cost(self.layer()).macs

    def layer(self) -> Layer:
        """The :class:`Layer` this key describes."""
        kernel = self.in_size if self.kind == "pool" else KERNEL[self.kind]
        groups = self.in_channels if self.kind in ("dw", "pool", "null") else 1
        return Layer(self.kind, self.kind, self.in_channels, self.out_channels, kernel, self.stride, groups,
                     self.in_size, self.out_size)  # fmt: skip

    def token(self) -> str:
        """Compact text form, e.g. ``pw:64:128:56:1``."""
        return f"{self.kind}:{self.in_channels}:{self.out_channels}:{self.in_size}:{self.stride}"


def boundary_keys(key: LayerKey) -> tuple[LayerKey, LayerKey] | None:
    """The null references for a conv-like layer's input and output activations (None for pool, FC)."""
    if key.kind not in CONV_KINDS:
        return None
    return LayerKey.null(key.in_channels, key.in_size), LayerKey.null(key.out_channels, key.out_size)


def space_layer_keys(space: SearchSpace) -> set[LayerKey]:
    """Every distinct layer the valid architectures of ``space`` contain.

    Depth only repeats a stage's second block, so each stage is taken at its deepest;
    what remains to enumerate is width, resolution, strides and block kinds.
    """
    keys: set[LayerKey] = set()
    strides = [space.stem.stride, *(s.stride for s in space.stages)]
    kinds = [s.block for s in space.stages]
    for alpha, resolution, (stem_stride, *stage_strides), blocks in itertools.product(
        space.alpha, space.resolutions, itertools.product(*strides), itertools.product(*kinds)
    ):
        stages = tuple(
            Stage(spec.channels, max(spec.depth), stride, kind)
            for spec, stride, kind in zip(space.stages, stage_strides, blocks, strict=True)
        )
        arch = Arch(alpha, resolution, stages, Stem(space.stem.channels, stem_stride), space.input.channels,
                    space.input.classes, space.channel_rule)  # fmt: skip
        if not space.violations(arch):
            keys.update(LayerKey.of(layer) for layer in arch.layers())
    return keys


def with_boundaries(keys: Iterable[LayerKey]) -> set[LayerKey]:
    """``keys`` plus the null references of their activations."""
    out = set(keys)
    for key in list(out):
        out.update(boundary_keys(key) or ())
    return out


# ----- the table file ------------------------------------------------------------------


@dataclass(frozen=True)
class OverheadFit:
    """``network = a * sum(layers) - phi * sum(boundaries) + c_ms``, fitted on the anchors."""

    a: float
    phi: float
    c_ms: float
    residuals_pct: tuple[float, ...]
    loo_errors_pct: tuple[float, ...] = ()  # each anchor predicted by the fit to the others

    @property
    def expected_error_pct(self) -> float:
        """Mean absolute leave-one-anchor-out error, in percent (the rms residual with < 2 anchors)."""
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
    if body and tuple(body[0].split(",")) != COLUMNS:
        raise LookupTableError(f"{path} is not an hwsearch lookup table (columns differ)", value=str(path))
    return header, list(csv.DictReader(io.StringIO("\n".join(body))))


def _overhead_coef(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(a, phi, c)`` by least squares in relative errors, plus a ridge row pulling ``a`` to 1."""
    design = np.vstack([x / y[:, None] / ANCHOR_NOISE, [1.0 / SCALE_PRIOR_SD, 0.0, 0.0]])
    goal = np.append(np.ones(len(y)) / ANCHOR_NOISE, 1.0 / SCALE_PRIOR_SD)
    if len(y) == 1:
        design[:, 2] = 0.0  # one anchor cannot tell phi from c: fit phi alone
    return np.linalg.lstsq(design, goal, rcond=None)[0]


class LayerTable:
    """A loaded lookup table: per-layer medians, boundary references, anchors and the overhead fit."""

    def __init__(self, path: Path, header: dict[str, str], rows: list[dict[str, str]]) -> None:
        self.path = path
        self.header = header
        self.entries: dict[LayerKey, float] = {}
        self.nets: dict[str, float] = {}
        try:
            for row in rows:
                if row["kind"] == "net":
                    self.nets[row["arch"]] = float(row["latency_ms"])
                else:
                    key = LayerKey(row["kind"], int(row["in_channels"]), int(row["out_channels"]),
                                   int(row["in_size"]), int(row["stride"]))  # fmt: skip
                    self.entries[key] = float(row["latency_ms"])
        except (KeyError, ValueError, TypeError) as exc:
            raise LookupTableError(f"{path}: unreadable row ({exc})", value=str(path)) from None
        self._by_shape: dict[tuple[str, int, int, int], list[tuple[int, float]]] = defaultdict(list)
        for key, ms in self.entries.items():
            self._by_shape[(key.kind, key.in_channels, key.out_channels, key.stride)].append((key.in_size, ms))
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

    def entry_ms(self, key: LayerKey) -> tuple[float, bool]:
        """The latency of ``key`` and whether it was scaled from a neighbouring size (not measured)."""
        found = self.entries.get(key)
        if found is not None:
            return found, False
        near = self._by_shape.get((key.kind, key.in_channels, key.out_channels, key.stride), [])
        best = min(near, key=lambda item: abs(math.log(item[0] / key.in_size)), default=None)
        if best is None or max(best[0], key.in_size) / min(best[0], key.in_size) > MAX_SIZE_RATIO:
            raise LookupTableError(
                f"the lookup table {self.path} has no entry near layer {key.token()}",
                value=key.token(),
                hint="build the table for this space: hwsearch profile --device DEVICE --space SPACE",
            )
        size, ms = best
        ref = LayerKey(key.kind, key.in_channels, key.out_channels, size, key.stride)
        # Time grows with the output's area (work and data both do).
        return ms * (key.out_size / ref.out_size) ** 2, True

    def sums(self, arch: Arch) -> tuple[float, float, int, int]:
        """Sum of layer latencies, sum of boundary costs, layer count and how many were scaled."""
        total = boundary = 0.0
        scaled = 0
        layers = arch.layers()
        for layer in layers:
            key = LayerKey.of(layer)
            ms, was_scaled = self.entry_ms(key)
            total += ms
            scaled += was_scaled
            pair = boundary_keys(key)
            if pair is not None:
                boundary += 0.5 * (self.entry_ms(pair[0])[0] + self.entry_ms(pair[1])[0])
        return total, boundary, len(layers), scaled

    def _fit_overhead(self) -> OverheadFit:
        rows, targets = [], []
        for text, ms in self.nets.items():
            try:
                total, boundary, _, _ = self.sums(Arch.from_str(text))
            except LookupTableError:
                continue  # a partial table: this anchor counts once its layers are measured

            rows.append((total, -boundary, 1.0))
            targets.append(ms)
        if not rows:
            return OverheadFit(1.0, 0.0, 0.0, ())
        x, y = np.array(rows), np.array(targets)
        coef = _overhead_coef(x, y)
        residuals = tuple(float(v) for v in 100.0 * (x @ coef / y - 1.0))
        loo = []
        if len(y) >= 3:  # the in-sample residuals flatter the fit; each anchor left out says what a new network gets
            for i in range(len(y)):
                keep = np.arange(len(y)) != i
                loo.append(float(100.0 * (x[i] @ _overhead_coef(x[keep], y[keep]) / y[i] - 1.0)))
        return OverheadFit(float(coef[0]), float(coef[1]), float(coef[2]), residuals, tuple(loo))

    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch`` in milliseconds."""
        total, boundary, _, _ = self.sums(arch)
        fit = self.overhead
        return max(fit.a * total - fit.phi * boundary + fit.c_ms, 0.0)

    def predict(self, arch: Arch, device: str = "") -> Measurement:
        """The prediction for ``arch`` as a ``source="lut"`` record carrying the anchors' residuals."""
        total, boundary, n, scaled = self.sums(arch)
        fit = self.overhead
        t = max(fit.a * total - fit.phi * boundary + fit.c_ms, 0.0)
        settings = self.settings
        note = f" ({scaled} scaled from a neighbouring size)" if scaled else ""
        anchors = len(fit.residuals_pct)
        basis = (f"lookup table {self.path.name}: {n} layers{note}; overhead fitted on {anchors} networks "
                 f"(a {fit.a:.3f}, phi {fit.phi:.3f}, c {fit.c_ms:.3f} ms)")  # fmt: skip

        return Measurement(
            median_ms=t, p90_ms=t, mean_ms=t, std_ms=0.0, min_ms=t, max_ms=t, outliers=0, runs=0, warmup=0,
            provider=str(settings.get("provider", "")), threads=int(self.header.get("threads", "0") or 0),
            precision=str(settings.get("precision", "")), runtime=self.header.get("runtime", "onnxruntime"),
            runtime_version=self.header.get("runtime_version", ""), host=self.header.get("host", ""),
            timestamp=utc_now(), source="lut", device=device or self.header.get("device", ""),
            fit_points=len(fit.residuals_pct), fit_residual_rms_pct=fit.rms_pct, fit_residual_max_pct=fit.max_pct,
            expected_error_pct=fit.expected_error_pct, error_basis=fit.error_basis, basis=basis,
        )  # fmt: skip

    def missing(self, keys: Iterable[LayerKey]) -> list[LayerKey]:
        """Which of ``keys`` have no measured entry."""
        return sorted(k for k in keys if k not in self.entries)
