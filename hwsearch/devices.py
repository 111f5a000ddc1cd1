"""Device profiles: YAML files naming a target and how to measure latency on it.

A profile ``device_profiles/NAME.yaml`` is validated on load; every problem is a
:class:`DeviceError` naming the file, the key, the value and what is allowed. Today a
profile has a name, a description, a kind (``local``: measured on this machine;
``remote``: a board reached through a device agent), the measurement settings and an
optional agent URL.

Optional sections describe the device for latency *prediction* (see
:mod:`hwsearch.latency`): ``family`` (which prior to borrow), ``hardware``
(nominal facts: processor, cores, clock, peak multiply-accumulates per second, memory
bandwidth), ``runtime`` (the runtime configuration the profile's figures refer to),
``sources`` (citations by key) and ``calibration`` (published or measured whole-network
latencies, each with its source). Files without them stay valid.

A board measured under several runtimes names each one under ``configurations`` (e.g.
``ncnn``, ``tflite-uint8``) instead of one ``runtime``; ``NAME:CONFIG`` (``--device
raspberry-pi-4:tflite-uint8``) chooses one, and a calibration point says which it belongs
to with ``config:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hwsearch.arch import Arch
from hwsearch.errors import ArchError, DeviceError
from hwsearch.measurement import FP16_PROVIDERS, TORCH_CUDA, MeasureSettings, measuring_runtime
from hwsearch.yamlfile import available_names, named_dirs, parse_model, read_text, resolve_named

PROFILE_FOLDER = "device_profiles"
DEFAULT_DEVICE = "local-cpu"
CONFIG_SEPARATOR = ":"  # NAME:CONFIG chooses one of a profile's configurations

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Family = Literal["arm-cpu", "x86-cpu", "nvidia-gpu"]
Precision = Literal["fp32", "fp16", "int8"]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host, e.g. http://192.168.1.20:8765")
    return url


AgentUrl = Annotated[str, AfterValidator(_check_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasurementSpec(_Model):
    """How latency is measured on the device; becomes a :class:`MeasureSettings`."""

    provider: Literal["cpu", "cuda", "tensorrt", "torch-cuda"] = "cpu"
    threads: Literal["auto"] | PositiveInt = "auto"
    precision: Literal["fp32", "fp16"] = "fp32"
    warmup_runs: NonNegativeInt = 10
    min_runs: PositiveInt = 50
    min_time_s: Annotated[float, Field(ge=0, le=3600)] = 0.5
    max_runs: PositiveInt = 10_000
    # Time each run beside a fixed reference network, so that drift cancels (MeasureSettings.interleave).
    interleave: bool = bool(MeasureSettings.interleave)
    # Replay each inference as one CUDA graph (provider torch-cuda only; MeasureSettings.cuda_graphs).
    cuda_graphs: bool = bool(MeasureSettings.cuda_graphs)

    @model_validator(mode="after")
    def _consistent(self) -> MeasurementSpec:
        if self.max_runs < self.min_runs:
            raise ValueError(f"max_runs ({self.max_runs}) is below min_runs ({self.min_runs})")
        if self.precision == "fp16" and self.provider not in FP16_PROVIDERS:
            raise ValueError(f"precision fp16 needs provider {' or '.join(FP16_PROVIDERS)}")
        if self.cuda_graphs and self.provider != TORCH_CUDA:
            raise ValueError(f"cuda_graphs needs provider {TORCH_CUDA}")
        return self

    def settings(self) -> MeasureSettings:
        """The settings record (``threads: auto`` becomes 0, resolved on the measuring host)."""
        return MeasureSettings(
            provider=self.provider,
            threads=0 if self.threads == "auto" else self.threads,
            precision=self.precision,
            warmup_runs=self.warmup_runs,
            min_runs=self.min_runs,
            min_time_s=self.min_time_s,
            max_runs=self.max_runs,
            interleave=MeasureSettings.interleave if self.interleave else 0,
            cuda_graphs=int(self.cuda_graphs),
        )


class HardwareSpec(_Model):
    """Nominal hardware facts; units are in the names. Every field is optional."""

    processor: str = ""
    cores: PositiveInt | None = None
    clock_ghz: PositiveFloat | None = None
    macs_per_cycle: PositiveFloat | None = None  # per CPU core, fp32 SIMD
    gpu_cores: PositiveInt | None = None
    gpu_clock_ghz: PositiveFloat | None = None
    peak_gmacs_fp32: PositiveFloat | None = None  # whole chip (all CPU cores or the GPU), 1e9 MACs/s
    peak_gmacs_fp16: PositiveFloat | None = None
    memory_bandwidth_gbs: PositiveFloat | None = None
    notes: str = ""


class RuntimeSpec(_Model):
    """One runtime configuration: the software, its arithmetic precision and CPU threads."""

    name: Annotated[str, Field(min_length=1)]
    precision: Precision = "fp32"
    threads: PositiveInt | None = None  # None: not applicable (GPU) or every core

    def label(self) -> str:
        """e.g. ``ncnn fp32, 4 threads``."""
        threads = "" if self.threads is None else f", {self.threads} thread{'s' if self.threads > 1 else ''}"
        return f"{self.name} {self.precision}{threads}"


class CalibrationPoint(_Model):
    """A whole-network latency: the paper's MobileNet at ``alpha``/``resolution``, or any ``arch`` string.

    ``config`` names one of the profile's ``configurations``; otherwise ``runtime``,
    ``threads`` and ``precision`` default to the profile's default configuration.
    ``source`` is a key of the profile's ``sources`` or a free-text citation.
    """

    alpha: Annotated[float, Field(gt=0, le=4)] | None = None
    resolution: PositiveInt | None = None
    arch: str | None = None
    latency_ms: PositiveFloat
    config: Annotated[str, Field(min_length=1)] | None = None  # a key of the profile's configurations
    runtime: Annotated[str, Field(min_length=1)] | None = None
    threads: PositiveInt | None = None
    precision: Precision | None = None
    source: Annotated[str, Field(min_length=1)]
    note: str = ""

    @model_validator(mode="after")
    def _one_network(self) -> CalibrationPoint:
        paper = (self.alpha is not None, self.resolution is not None)
        if (self.arch is None and paper != (True, True)) or (self.arch is not None and any(paper)):
            raise ValueError("give either arch or both alpha and resolution")
        if self.arch is not None:
            try:
                Arch.from_str(self.arch)
            except ArchError as exc:
                raise ValueError(f"arch is not a valid architecture string: {exc}") from None
        if self.config is not None and (self.runtime, self.threads, self.precision) != (None, None, None):
            raise ValueError("give either config or runtime/threads/precision, not both")
        return self


class DeviceProfile(_Model):
    """A validated device profile; see ``device_profiles/local-cpu.yaml`` for the file form."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    description: str = ""
    kind: Literal["local", "remote"]
    family: Family | None = None
    hardware: HardwareSpec = HardwareSpec()
    runtime: RuntimeSpec | None = None
    configurations: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")], RuntimeSpec] = {}
    configuration: str | None = None  # the chosen one (NAME:CONFIG); None: the first, or the user's points
    measurement: MeasurementSpec = MeasurementSpec()
    agent_url: AgentUrl | None = None
    sources: dict[str, Annotated[str, Field(min_length=1)]] = {}
    calibration: tuple[CalibrationPoint, ...] = ()
    source: str = Field(default="<memory>", exclude=True)

    @field_validator("calibration")
    @classmethod
    def _sources_known(cls, points: tuple[CalibrationPoint, ...], info: ValidationInfo) -> tuple[CalibrationPoint, ...]:
        sources = info.data.get("sources") or {}
        configs = info.data.get("configurations") or {}
        for i, point in enumerate(points):
            # A one-word source is a citation key (S1, S3, ...); a typo must not pass as free text.
            if not any(ch.isspace() for ch in point.source) and point.source not in sources:
                known = ", ".join(sources) or "none defined"
                raise ValueError(f"point {i}: source {point.source!r} is not a key of sources ({known})")
            if point.config is not None and point.config not in configs:
                known = ", ".join(configs) or "none defined"
                raise ValueError(f"point {i}: config {point.config!r} is not a key of configurations ({known})")
        return points

    @model_validator(mode="after")
    def _one_runtime(self) -> DeviceProfile:
        if self.configurations and self.runtime is not None:
            raise ValueError("give either runtime or configurations, not both")
        if self.configuration is not None and self.configuration not in self.configurations:
            raise ValueError(f"configuration {self.configuration!r} is not one of {self.configuration_names()}")
        return self

    def configuration_names(self) -> str:
        """The configuration keys, comma-separated (``none`` for a one-runtime profile)."""
        return ", ".join(self.configurations) or "none"

    @property
    def default_configuration(self) -> str | None:
        """The configuration used when none is chosen: the chosen one, else the first listed."""
        return self.configuration or next(iter(self.configurations), None)

    def with_configuration(self, name: str) -> DeviceProfile:
        """This profile with configuration ``name`` chosen; :class:`DeviceError` lists the valid ones."""
        if name not in self.configurations:
            valid = ", ".join(self.configurations) or "none: this profile has a single runtime"
            raise DeviceError(self.source, "configuration", name, f"a configuration of {self.name}: {valid}")
        return self.model_copy(update={"configuration": name})

    @property
    def label(self) -> str:
        """``NAME`` or ``NAME:CONFIG`` when a configuration is chosen: what ``--device`` takes."""
        return f"{self.name}{CONFIG_SEPARATOR}{self.configuration}" if self.configuration else self.name

    @property
    def settings(self) -> MeasureSettings:
        """The measurement settings of this profile."""
        return self.measurement.settings()

    @property
    def measurement_config(self) -> RuntimeSpec:
        """What hwsearch measures with: ONNX Runtime (PyTorch for ``torch-cuda``) at the measurement settings."""
        threads = None if self.measurement.threads == "auto" else self.measurement.threads
        name = measuring_runtime(self.measurement.provider)
        return RuntimeSpec(name=name, precision=self.measurement.precision, threads=threads)

    @property
    def runtime_config(self) -> RuntimeSpec:
        """The configuration the profile predicts by default: the chosen or first of ``configurations``,
        else ``runtime``, else the measured one."""
        name = self.default_configuration
        if name is not None:
            return self.configurations[name]
        return self.runtime if self.runtime is not None else self.measurement_config

    def config_name(self, config: RuntimeSpec) -> str | None:
        """The key of ``config`` in ``configurations``, or None."""
        return next((name for name, spec in self.configurations.items() if spec == config), None)

    def point_config(self, point: CalibrationPoint) -> RuntimeSpec:
        """The runtime configuration of ``point``: its ``config``, else its own fields with the
        profile's first configuration (or ``runtime``) for the rest."""
        if point.config is not None:
            return self.configurations[point.config]
        name = next(iter(self.configurations), None)
        base = self.configurations[name] if name is not None else self.runtime_config
        same_runtime = point.runtime in (None, base.name)
        threads = point.threads if point.threads is not None or not same_runtime else base.threads
        precision = point.precision or base.precision
        return RuntimeSpec(name=point.runtime or base.name, precision=precision, threads=threads)

    def citation(self, point: CalibrationPoint) -> str:
        """The full source text of ``point`` (its key resolved through ``sources``)."""
        return self.sources.get(point.source, point.source)

    def sidecar(self, suffix: str) -> Path | None:
        """``NAME<suffix>`` next to the profile file (e.g. ``.lut.csv``); None for a profile not read from a file."""
        if self.source.startswith("<"):
            return None
        path = Path(self.source)
        return path.with_name(path.stem + suffix)

    def identity(self, agent_url: str | None = None) -> str:
        """The device part of a latency-cache key.

        A remote profile *is* its board, whatever URL reaches it. A local profile sent to
        an agent describes another machine, so the agent URL joins its name and its
        figures never mix with this machine's.
        """
        if self.kind == "local" and agent_url is not None:
            return f"{self.name}@{agent_url.rstrip('/')}"
        return self.name


# ----- loading -------------------------------------------------------------------------


def profile_dirs() -> list[Path]:
    """Folders searched for a profile given by name: ./device_profiles, then the project's."""
    return named_dirs(PROFILE_FOLDER)


def available_devices() -> list[str]:
    """Names of the profiles found in :func:`profile_dirs`."""
    return available_names(PROFILE_FOLDER)


def split_selector(name_or_path: str | Path) -> tuple[str | Path, str | None]:
    """``"raspberry-pi-4:tflite-uint8"`` -> ``("raspberry-pi-4", "tflite-uint8")``; else ``(name_or_path, None)``."""
    if isinstance(name_or_path, Path):
        return name_or_path, None
    head, sep, tail = name_or_path.rpartition(CONFIG_SEPARATOR)
    # A configuration key has no path separator; "C:/x.yaml" or "dir:x/y.yaml" stays a path.
    if not sep or not head or not tail or "/" in tail or "\\" in tail or tail.endswith((".yaml", ".yml")):
        return name_or_path, None
    return head, tail


def resolve_device(name_or_path: str | Path) -> Path:
    """The file for a profile name or path (a ``:CONFIG`` suffix is ignored); :class:`DeviceError`
    lists the known names if none matches."""
    return resolve_named(split_selector(name_or_path)[0], PROFILE_FOLDER, DeviceError, "device")


def load_device(name_or_path: str | Path = DEFAULT_DEVICE) -> DeviceProfile:
    """Load and validate a device profile from a name in :func:`profile_dirs` or a YAML path,
    optionally followed by ``:CONFIG`` to choose one of its configurations.

    The profile's ``name`` must equal the file name without ``.yaml``, so that a name
    always means one file.
    """
    target, config = split_selector(name_or_path)
    path = resolve_device(target)
    profile = parse_device(read_text(path, DeviceError), source=str(path))
    if profile.name != path.stem:
        raise DeviceError(str(path), "name", profile.name, f"the file name without .yaml, {path.stem!r}")
    return profile if config is None else profile.with_configuration(config)


def parse_device(text: str, *, source: str = "<string>") -> DeviceProfile:
    """Validate YAML text as a device profile."""
    return parse_model(text, DeviceProfile, source=source, error=DeviceError, keys="name, kind, measurement")
