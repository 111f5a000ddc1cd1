"""The published latencies the family priors are fitted to, grouped by configuration.

Two sources, merged figure by figure:

* ``hwsearch/reference/published_latency*.csv``: every published MobileNet V1 figure
  hwsearch ships, verbatim copies of the reference tables with each row's source (a
  clean clone has no ``../shared``);
* the ``calibration`` points of every loadable profile (a user's own profile may cite
  figures the tables lack).

A *configuration group* is one device in one runtime configuration (device, processor,
runtime, precision, threads as the source states them). A group with a single network
fixes only its own level and says nothing of the shape, so only groups with at least two
networks shape a family prior; the others are counted, not fitted.

Each group also carries its *runtime setting* (:func:`runtime_setting`): the kernel library
its runtime's name reveals, its precision and whether it runs on one thread, e.g.
``tflite fp32`` or ``ncnn fp32, 1 thread``. Configurations in the same setting on other
boards share one level of the family prior (:mod:`hwsearch.latency._fitting`); a runtime
whose name reveals no library known here has no setting and draws on the family alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.devices import DeviceProfile, RuntimeSpec, available_devices, load_device
from hwsearch.errors import HwsearchError
from hwsearch.latency._points import Point, published_points

REFERENCE_FILES = ("published_latency.csv", "published_latency_more.csv")
FAMILIES = ("arm-cpu", "x86-cpu", "nvidia-gpu")
# Which families' configurations a family's prior is fitted to. No x86 grid is published,
# so an x86 CPU borrows the ARM CPUs' shapes (same terms: arithmetic, traffic, dispatch).
PRIOR_POOL: dict[str, tuple[str, ...]] = {
    "arm-cpu": ("arm-cpu",),
    "x86-cpu": ("x86-cpu", "arm-cpu"),
    "nvidia-gpu": ("nvidia-gpu",),
}
_KEY_LINE = re.compile(r"^#\s+([A-Z]+[0-9]+)\s*=?\s+(.*)$")
_ARM_CPU = re.compile(r"Cortex|ARM|Kryo|Snapdragon|Kirin|\bA1[12]\b|Raspberry", re.IGNORECASE)
_NVIDIA_GPU = re.compile(r"NVIDIA|Maxwell|Pascal|Volta", re.IGNORECASE)
# The kernel library a runtime's name reveals; the first match wins, so ArmNN figures that
# name the TFLite model they ran are ArmNN's, "TFLite (no XNNPACK)" is TFLite's, and a
# TensorRT engine built by another framework is TensorRT's.
_LIBRARIES = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("armnn", r"arm\s?nn"), ("xnnpack", r"(?<!no )xnnpack"), ("ncnn", r"ncnn"), ("tf-trt", r"tf-trt"),
    ("tensorrt", r"tensorrt"), ("onednn", r"onednn|(?<!no )mkldnn"), ("paddle-lite", r"paddle-lite"),
    ("paddle", r"paddle"), ("tvm", r"\btvm\b"), ("snpe", r"\bsnpe\b"), ("onnxruntime", r"onnx\s?runtime"),
    ("tflite", r"tflite|tensorflow lite"), ("tensorflow", r"tensorflow"),
))  # fmt: skip
_PRECISIONS = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "uint8": "int8"}


@dataclass(frozen=True)
class Figure:
    """One published whole-network latency with the configuration it was measured in."""

    device: str
    processor: str
    runtime: str
    precision: str
    threads: str
    arch: Arch
    latency_ms: float
    source: str

    @property
    def key(self) -> tuple[str, float]:
        """What identifies the figure across files: the network and the number."""
        return figure_key(self.arch, self.latency_ms)


def figure_key(arch: Arch, latency_ms: float) -> tuple[str, float]:
    """``(arch string, latency rounded to 1e-6 ms)``: the same figure wherever it is copied."""
    return arch.to_str(), round(float(latency_ms), 6)


def runtime_setting(runtime: str, precision: str, threads: str | int | None) -> str | None:
    """``tflite fp32`` or ``ncnn fp32, 1 thread``: what a configuration's own words say of how it
    computes; None when the runtime names no known kernel library or the precision is unclear.

    One thread is its own regime (no threads to start or synchronise); any other count,
    or none stated, is not told apart.
    """
    library = next((name for name, pattern in _LIBRARIES if pattern.search(runtime)), None)
    bits = _PRECISIONS.get(precision.strip().lower())
    if library is None or bits is None:
        return None
    single = re.fullmatch(r"\s*1(\s.*)?", str(threads or "")) is not None
    return f"{library} {bits}" + (", 1 thread" if single else "")


def figure_family(device: str, processor: str, threads: str) -> str | None:
    """The predictor family of a published row, or None for DSPs, NPUs and phone GPUs.

    A row is a GPU row when its threads say ``GPU`` or its processor is a GPU; only
    NVIDIA GPUs form a family. Intel CPUs are ``x86-cpu``; ARM cores (Cortex, Kryo,
    Apple A11/A12, Snapdragon or Kirin CPUs) are ``arm-cpu``.
    """
    text = f"{device} {processor}"
    if threads.strip() in ("DSP", "NNAPI"):
        return None
    if threads.strip() == "GPU" or re.search(r"\bGPU\b|Adreno|Mali", processor):
        return "nvidia-gpu" if _NVIDIA_GPU.search(text) else None
    if re.search(r"Intel|Xeon", text):
        return "x86-cpu"
    return "arm-cpu" if _ARM_CPU.search(text) else None


def _sources(lines: list[str]) -> dict[str, str]:
    """Citation keys (``S1``, ``M1``) from a file's comment header; indented lines continue a key."""
    out: dict[str, str] = {}
    last = None
    for line in lines:
        if not line.startswith("#"):
            break
        found = _KEY_LINE.match(line)
        if found:
            last = found.group(1)
            out[last] = found.group(2).strip()
        elif last is not None and line.startswith("#     "):
            out[last] += " " + line[1:].strip()
        else:
            last = None
    return out


@lru_cache(maxsize=1)
def reference_figures() -> tuple[Figure, ...]:
    """Every row of the shipped reference tables, with citation keys resolved."""
    out = []
    for name in REFERENCE_FILES:
        text = resources.files("hwsearch.reference").joinpath(name).read_text(encoding="utf-8")
        lines = text.splitlines()
        keys = _sources(lines)
        body = [line for line in lines if line.strip() and not line.startswith("#")]
        for row in csv.DictReader(io.StringIO("\n".join(body))):
            source = row["source"].strip()
            out.append(Figure(
                row["device"], row["processor"], row["runtime"], row["precision"], row["threads"].strip(),
                mobilenet_v1(float(row["alpha"]), int(row["resolution"])), float(row["latency_ms"]),
                f"{source}: {keys[source]}" if source in keys else source,
            ))  # fmt: skip
    return tuple(out)


@dataclass(frozen=True)
class ConfigGroup:
    """The published points of one device in one configuration."""

    name: str
    family: str
    archs: tuple[Arch, ...]
    latency_ms: tuple[float, ...]
    sources: tuple[str, ...]
    setting: str | None = None  # its runtime_setting; None: unknown

    @property
    def keys(self) -> frozenset[tuple[str, float]]:
        """The :func:`figure_key` of each point."""
        return frozenset(figure_key(a, t) for a, t in zip(self.archs, self.latency_ms, strict=True))

    @property
    def networks(self) -> int:
        """How many distinct networks the group has (what can shape a prior)."""
        return len({a.to_str() for a in self.archs})


def _group(name: str, family: str, items: Sequence[tuple[Arch, float, str]], setting: str | None) -> ConfigGroup:
    archs, times, sources = zip(*items, strict=True)
    return ConfigGroup(name, family, tuple(archs), tuple(times), tuple(sources), setting)


def reference_groups() -> list[ConfigGroup]:
    """The reference tables' figures grouped by configuration, in families."""
    grouped: dict[tuple[str, ...], list[Figure]] = {}
    for f in reference_figures():
        grouped.setdefault((f.device, f.processor, f.runtime, f.precision, f.threads), []).append(f)
    out = []
    for (device, processor, runtime, precision, threads), figures in grouped.items():
        family = figure_family(device, processor, threads)
        if family is not None:
            label = f"{device} / {runtime} {precision}" + (f", {threads} threads" if threads else "")
            setting = runtime_setting(runtime, precision, threads)
            out.append(_group(label, family, [(f.arch, f.latency_ms, f.source) for f in figures], setting))
    return out


def profile_groups(profiles: Sequence[DeviceProfile], family_of: dict[str, str]) -> list[ConfigGroup]:
    """Each profile's published points grouped by configuration (``family_of``: profile name -> family)."""
    grouped: dict[tuple[str, str], list[Point]] = {}
    for profile in profiles:
        for p in published_points(profile):
            grouped.setdefault((profile.name, p.config.label()), []).append(p)
    return [_group(f"{name} / {label}", family_of[name], [(p.arch, p.latency_ms, p.source) for p in points],
                   config_setting(points[0].config))
            for (name, label), points in grouped.items()]  # fmt: skip


def config_setting(config: RuntimeSpec) -> str | None:
    """The :func:`runtime_setting` of a profile's configuration."""
    return runtime_setting(config.name, config.precision, config.threads)


def loadable_profiles(include: DeviceProfile | None = None) -> list[DeviceProfile]:
    """Every loadable profile in the profile folders, with ``include`` replacing its namesake."""
    profiles = {}
    for name in available_devices():
        try:
            profiles[name] = load_device(name)
        except HwsearchError:
            continue  # a broken profile must not stop predictions for the others; `hwsearch devices` reports it
    if include is not None:
        profiles[include.name] = include
    return list(profiles.values())


def family_groups(
    family: str, profiles: Sequence[DeviceProfile], family_of: dict[str, str], *, exclude: frozenset = frozenset()
) -> tuple[list[ConfigGroup], list[ConfigGroup]]:
    """``(shaping, level_only)``: the configuration groups of ``family``'s prior pool.

    Reference groups come first; a profile's group adds only figures the tables lack.
    A group holding any figure in ``exclude`` (the device's own points) is left out
    whole: the prior never sees the configuration it will predict.
    """
    pool = PRIOR_POOL[family]
    groups = [g for g in reference_groups() if g.family in pool]
    known = set().union(*(g.keys for g in groups)) if groups else set()
    for g in profile_groups(profiles, family_of):
        if g.family not in pool:
            continue
        fresh = [(a, t, s) for a, t, s in zip(g.archs, g.latency_ms, g.sources, strict=True)
                 if figure_key(a, t) not in known]  # fmt: skip
        if fresh:
            groups.append(_group(g.name, g.family, fresh, g.setting))
    kept = [g for g in groups if not (g.keys & exclude)]
    return [g for g in kept if g.networks >= 2], [g for g in kept if g.networks < 2]
