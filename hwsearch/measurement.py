"""The latency record and the settings a measurement is made with. Standard library only.

:class:`Measurement` is the one record every latency in hwsearch travels in, whether it
was timed on a device (``source="measured"``), read from a lookup table (``"lut"``) or
predicted by a model (``"predicted"``). The source is a required field with no default,
so nothing can turn into a measurement by omission.

:class:`MeasureSettings` says how to time a model; its :meth:`~MeasureSettings.digest`
is part of the latency-cache key, and its query form is how settings travel to a
device agent.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from hwsearch.errors import MeasurementError, SettingsError

SOURCES = ("measured", "lut", "predicted")
PROVIDERS = ("cpu", "cuda", "tensorrt", "torch-cuda")
# The provider that times the network as PyTorch runs it on an NVIDIA GPU, not through ONNX Runtime.
TORCH_CUDA = "torch-cuda"
# What hwsearch times with: onnxruntime for every provider but torch-cuda, which PyTorch runs.
ORT_RUNTIME = "onnxruntime"
TORCH_RUNTIME = "torch"
# Providers that can run a model in fp16 (the exported ONNX is fp32; TensorRT builds an fp16 engine from it).
FP16_PROVIDERS = ("tensorrt", TORCH_CUDA)
# hwsearch provider name -> the onnxruntime execution provider that implements it.
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
PRECISIONS = ("fp32", "fp16")
# Above this coefficient of variation (std / mean of the timed runs) a measurement is
# flagged noisy: something else ran on the device, or clocks changed while timing.
NOISY_CV = 0.05
# MeasureSettings.interleave: paired in bursts, each begun by a dropped run that refills the caches.
BURST_INTERLEAVE = 2
# Bump when the meaning of a settings field changes, so old cache entries stop matching.
_SETTINGS_VERSION = 1
# Old Measurement keys -> their names now (they always were in-sample residuals).
_RENAMED = {"fit_rms_pct": "fit_residual_rms_pct", "fit_max_pct": "fit_residual_max_pct"}


@dataclass(frozen=True)
class MeasureSettings:
    """How to time one model: provider, threads, precision, warm-up and stopping rule.

    Timed runs continue until *both* ``min_runs`` runs and ``min_time_s`` seconds are
    reached (the ``benchmark_model`` / ``trtexec`` habit), or ``max_runs`` runs are done.
    ``threads=0`` means every core available to the process on the measuring host.
    ``interleave`` times the candidate beside a fixed reference network, their turns in
    random order, so that a drift in the machine's speed, shared by both, cancels in their
    ratio (see :attr:`Measurement.latency_ms`): ``2`` (:data:`BURST_INTERLEAVE`, the default)
    gives each turn a burst of runs whose first, cold one is dropped, so that neither
    network is timed with caches the other filled; ``1`` alternates single runs (the first
    protocol, which makes small networks look slower and large ones faster); ``0`` times
    the candidate alone.
    ``cuda_graphs=1`` (provider ``torch-cuda`` only) replays each inference as one captured
    CUDA graph, which removes PyTorch's per-kernel launch cost.
    """

    provider: str = "cpu"
    threads: int = 0
    precision: str = "fp32"
    warmup_runs: int = 10
    min_runs: int = 50
    min_time_s: float = 0.5
    max_runs: int = 10_000
    interleave: int = BURST_INTERLEAVE
    cuda_graphs: int = 0

    def __post_init__(self) -> None:
        _check_choice("provider", self.provider, PROVIDERS)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_int("threads", self.threads, 0, 1024)
        _check_int("warmup_runs", self.warmup_runs, 0, 100_000)
        _check_int("min_runs", self.min_runs, 1, 1_000_000)
        _check_int("max_runs", self.max_runs, 1, 1_000_000)
        _check_int("interleave", self.interleave, 0, 2)
        _check_int("cuda_graphs", self.cuda_graphs, 0, 1)
        time_s = self.min_time_s
        if isinstance(time_s, bool) or not isinstance(time_s, (int, float)) or not 0 <= time_s <= 3600:
            raise SettingsError(f"min_time_s = {time_s!r} is invalid", value=time_s, hint="seconds in [0, 3600]")
        object.__setattr__(self, "min_time_s", float(time_s))
        if self.max_runs < self.min_runs:
            raise SettingsError(f"max_runs = {self.max_runs} is below min_runs = {self.min_runs}", value=self.max_runs)
        if self.precision == "fp16" and self.provider not in FP16_PROVIDERS:
            raise SettingsError(
                f"precision fp16 is not available with provider {self.provider!r}",
                value=self.precision,
                hint=f"fp16 needs provider {' or '.join(FP16_PROVIDERS)}; use fp32 otherwise",
            )
        if self.cuda_graphs and self.provider != TORCH_CUDA:
            raise SettingsError(
                f"cuda_graphs is not available with provider {self.provider!r}",
                value=self.cuda_graphs,
                hint=f"CUDA graphs need provider {TORCH_CUDA}; set cuda_graphs = 0 otherwise",
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)

    def digest(self) -> str:
        """A stable 16-hex-digit hash of the settings, for cache keys."""
        fields_ = self.to_dict()
        if not self.interleave:
            del fields_["interleave"]  # raw timing keeps the digest it had before interleaving existed
        if not self.cuda_graphs:
            del fields_["cuda_graphs"]  # likewise every setting from before CUDA graphs
        payload = json.dumps({"version": _SETTINGS_VERSION, **fields_}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_query(self) -> dict[str, str]:
        """The settings as query-string parameters (how they travel to an agent)."""
        return {key: str(value) for key, value in self.to_dict().items()}

    @classmethod
    def from_query(cls, query: Mapping[str, Sequence[str]]) -> MeasureSettings:
        """Parse ``urllib.parse.parse_qs`` output strictly; unknown or repeated keys raise."""
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, items in query.items():
            if key not in known:
                raise SettingsError(f"unknown setting {key!r}", value=key, hint=f"settings: {', '.join(known)}")
            if len(items) != 1:
                raise SettingsError(f"setting {key!r} is given {len(items)} times", value=list(items))
            text = items[0]
            kind = known[key]
            try:
                values[key] = int(text) if kind == "int" else float(text) if kind == "float" else text
            except ValueError:
                raise SettingsError(f"setting {key} = {text!r} is not a number", value=text) from None
        return cls(**values)


def measuring_runtime(provider: str) -> str:
    """The runtime hwsearch times ``provider`` with: :data:`TORCH_RUNTIME` for ``torch-cuda``, else onnxruntime."""
    return TORCH_RUNTIME if provider == TORCH_CUDA else ORT_RUNTIME


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name} = {value!r} is invalid", value=value, hint=f"one of {', '.join(allowed)}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{name} = {value!r} is invalid", value=value, hint=f"an integer in [{low}, {high}]")


@dataclass(frozen=True)
class TimingStats:
    """Summary statistics of a list of run times, in milliseconds."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    outliers: int
    runs: int


def summarize(times_ms: Sequence[float]) -> TimingStats:
    """Median, p90 (linear interpolation), mean, sample std, extremes and Tukey outliers.

    An outlier is a run outside ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``; the count makes
    interference visible even when the median is unaffected.
    """
    if not times_ms:
        raise MeasurementError("no timed runs to summarise", value=list(times_ms))
    data = sorted(float(t) for t in times_ms)
    n = len(data)
    if n == 1:
        only = data[0]
        return TimingStats(only, only, only, 0.0, only, only, 0, 1)
    deciles = statistics.quantiles(data, n=10, method="inclusive")
    q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    fence = 1.5 * (q3 - q1)
    outliers = sum(1 for t in data if t < q1 - fence or t > q3 + fence)
    return TimingStats(
        median_ms=statistics.median(data),
        p90_ms=deciles[8],
        mean_ms=statistics.fmean(data),
        std_ms=statistics.stdev(data),
        min_ms=data[0],
        max_ms=data[-1],
        outliers=outliers,
        runs=n,
    )


def model_identity(label: str, sha256_hex: str) -> str:
    """``label@sha256-prefix``: how a measurement names its drift reference, the exact model timed."""
    return f"{label or 'model'}@{sha256_hex[:12]}"


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Measurement:
    """One latency figure for one model on one device, with its provenance.

    Times are per inference at batch 1, in milliseconds. ``warmup`` runs preceded the
    ``runs`` timed ones. ``host`` names the machine (board model or CPU model);
    ``device`` the hwsearch device profile, when known. ``source`` says whether the
    figure was measured, read from a lookup table, or predicted.

    A ``lut`` or ``predicted`` figure has no timed runs (``runs == 0``, every statistic
    equal to the estimate) and says how far it can be trusted: ``expected_error_pct`` is
    its expected relative error, cross-validated at its number of calibration points
    (``error_basis`` says how, e.g. ``cross-validated, 1 point``). ``fit_points``
    whole-network measurements fitted its model, leaving in-sample residuals of
    ``fit_residual_rms_pct`` (root mean square) and ``fit_residual_max_pct`` (largest)
    percent: how well the model passes through its own points, not how well it predicts
    others (one point always fits exactly). ``basis`` names what it rests on in words.
    A measured figure has ``expected_error_pct == 0`` and an empty ``error_basis``; its
    spread is in its timing statistics (:attr:`cv`). :attr:`uncertainty` says either in words.

    A measurement timed against a drift reference (``MeasureSettings.interleave``) names
    it (``reference``: its architecture and model hash), keeps the reference's median in
    the same session (``reference_ms``), the median of the candidate-to-reference ratios
    of adjacent runs (``drift_ratio``) and the reference's long-run median on the device
    (``reference_long_run_ms``). The timing statistics stay the raw ones;
    :attr:`corrected_ms` is the ratio times the long-run median, and :attr:`latency_ms`
    the figure to use: corrected when there is a reference, raw otherwise.
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    outliers: int
    runs: int
    warmup: int
    provider: str
    threads: int
    precision: str
    runtime: str
    runtime_version: str
    host: str
    timestamp: str
    source: str
    device: str = ""
    model_sha256: str = ""
    fit_points: int = 0
    fit_residual_rms_pct: float = 0.0
    fit_residual_max_pct: float = 0.0
    expected_error_pct: float = 0.0
    error_basis: str = ""
    basis: str = ""
    reference: str = ""
    reference_ms: float = 0.0
    drift_ratio: float = 0.0
    reference_long_run_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise MeasurementError(
                f"measurement source {self.source!r} is unknown", value=self.source, hint=f"one of {', '.join(SOURCES)}"
            )
        for name in ("median_ms", "p90_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "fit_residual_rms_pct",
                     "fit_residual_max_pct", "expected_error_pct", "reference_ms", "drift_ratio",
                     "reference_long_run_ms"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise MeasurementError(f"measurement {name} = {value!r} is invalid", value=value)
            object.__setattr__(self, name, float(value))
        for name in ("outliers", "runs", "warmup", "threads", "fit_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MeasurementError(f"measurement {name} = {value!r} is invalid", value=value)
        for name in (
            "provider",
            "precision",
            "runtime",
            "runtime_version",
            "host",
            "timestamp",
            "device",
            "model_sha256",
            "error_basis",
            "basis",
            "reference",
        ):
            if not isinstance(getattr(self, name), str):
                raise MeasurementError(f"measurement {name} = {getattr(self, name)!r} is not a string", value=name)
        if self.source == "measured" and self.runs < 1:
            raise MeasurementError("a measured latency needs at least one timed run", value=self.runs)
        if self.reference and (self.source != "measured" or not self.drift_ratio > 0 or not self.reference_ms > 0):
            raise MeasurementError("a drift reference needs a measurement with its ratio and median",
                                   value=self.reference)  # fmt: skip

    @classmethod
    def from_times(cls, times_ms: Sequence[float], **provenance: Any) -> Measurement:
        """Summarise ``times_ms`` into a record; ``provenance`` gives the remaining fields."""
        stats = summarize(times_ms)
        return cls(**asdict(stats), **provenance)

    @property
    def corrected_ms(self) -> float:
        """:attr:`drift_ratio` x the reference's long-run median: the drift-corrected latency (0 without one)."""
        if not self.reference:
            return 0.0
        return self.drift_ratio * (self.reference_long_run_ms or self.reference_ms)

    @property
    def latency_ms(self) -> float:
        """The latency to use: :attr:`corrected_ms` when timed against a reference, else the raw median."""
        return self.corrected_ms or self.median_ms

    @property
    def cv(self) -> float:
        """Coefficient of variation of the timed runs: std / mean (0 when the mean is 0)."""
        return self.std_ms / self.mean_ms if self.mean_ms > 0 else 0.0

    @property
    def noisy(self) -> bool:
        """True when :attr:`cv` is above :data:`NOISY_CV`: the timings were disturbed."""
        return self.cv > NOISY_CV

    @property
    def uncertainty(self) -> str:
        """How far the figure can be trusted, in words.

        ``±14% (cross-validated, 1 point)`` for an estimate; ``measured, 50 runs, cv 1.2%``
        for a measurement.
        """
        if self.is_measured:
            drift = f", drift-corrected against {self.reference.split('@')[0]}" if self.reference else ""
            return f"measured, {self.runs} run{'s' if self.runs != 1 else ''}, cv {self.cv:.1%}{drift}"
        basis = self.error_basis or "no cross-validated error recorded"
        return f"±{self.expected_error_pct:.0f}% ({basis})"

    @property
    def is_measured(self) -> bool:
        """True only for a latency timed on a device, never for a table look-up or prediction."""
        return self.source == "measured"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the stored fields (``cv``, ``noisy``, ``uncertainty``, ``corrected_ms`` and
        ``latency_ms`` are derived, not stored)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Rebuild from :meth:`to_dict`; unknown or missing keys raise :class:`MeasurementError`.

        Records written before the residual fields were renamed (``fit_rms_pct``,
        ``fit_max_pct``: cache entries, agent answers, stored trials) read under the new
        names; they carry no expected error (0, with an empty ``error_basis``).
        """
        if not isinstance(data, Mapping):
            raise MeasurementError("a measurement must be a JSON object", value=data)
        data = {_RENAMED.get(key, key): value for key, value in data.items()}
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise MeasurementError(f"unknown key {unknown[0]!r} in a measurement", value=unknown[0])
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise MeasurementError(f"missing key {missing[0]!r} in a measurement", value=missing[0])
        return cls(**dict(data))

    def to_json(self) -> str:
        """Deterministic JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Measurement:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MeasurementError(f"measurement JSON does not parse: {exc}", value=text[:80]) from None
        return cls.from_dict(data)
