"""One entry point for a latency: measured when possible, else the lookup table, else the predictor.

:func:`latency_for` is what a search calls for every candidate. The order is

1. ``measured``: timed here (a ``local`` profile), through an agent, or found in the cache;
2. ``lut``: the device's lookup table ``device_profiles/NAME.lut.csv``;
3. ``predicted``: the calibrated predictor, from the profile's calibration points.

The returned :class:`Measurement` always says which (``source``), and a table or model
figure carries its cross-validated expected error and its fit's in-sample residuals.
Tables and predictors are loaded once per process and reloaded only when their files
change, so an estimate costs tens of microseconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hwsearch.errors import MeasurementError, ProviderUnavailableError
from hwsearch.latency._points import direct_points, points_path, target_config
from hwsearch.measurement import SOURCES, TORCH_CUDA, Measurement

if TYPE_CHECKING:
    from hwsearch.arch import Arch
    from hwsearch.devices import DeviceProfile
    from hwsearch.latency._cache import LatencyCache
    from hwsearch.latency._client import AgentClient
    from hwsearch.latency._lut import LayerTable
    from hwsearch.latency._predictor import DevicePredictor


class Estimator:
    """A device's lookup table and predictor, each loaded on first use (or None when it has none)."""

    def __init__(self, device: DeviceProfile, *, lut_path: Path | None = None) -> None:
        self.device = device
        self._lut_path = lut_path
        self._lut: LayerTable | None = None
        self._predictor: DevicePredictor | None = None
        self._loaded: set[str] = set()

    @property
    def lut_path(self) -> Path | None:
        """Where the device's table is or would be (``device_profiles/NAME.lut.csv`` unless given)."""
        from hwsearch.latency._lut_build import lut_path

        return self._lut_path or lut_path(self.device)

    @property
    def lut(self) -> LayerTable | None:
        """The device's lookup table, or None when there is no table file."""
        if "lut" not in self._loaded:
            from hwsearch.latency._lut import LayerTable

            path = self.lut_path
            self._lut = LayerTable.load(path) if path is not None and path.is_file() else None
            self._loaded.add("lut")
        return self._lut

    @property
    def predictor(self) -> DevicePredictor | None:
        """The device's fitted predictor, or None when it has no calibration points in its configuration."""
        if "predicted" not in self._loaded:
            from hwsearch.latency._predictor import fit_predictor

            self._predictor = fit_predictor(self.device) if direct_points(self.device) else None
            self._loaded.add("predicted")
        return self._predictor

    def available(self) -> list[str]:
        """The estimate sources this device has: ``lut``, ``predicted``, both or neither."""
        return [name for name, have in (("lut", self.lut), ("predicted", self.predictor)) if have is not None]

    def estimate(self, arch: Arch, source: str | None = None) -> Measurement:
        """A ``lut`` or ``predicted`` figure for ``arch`` (the table first when ``source`` is None)."""
        if source in (None, "lut") and self.lut is not None:
            return self.lut.predict(arch, self.device.name)
        if source in (None, "predicted") and self.predictor is not None:
            return self.predictor.predict(arch)
        raise self.unavailable(source)

    def unavailable(self, source: str | None) -> MeasurementError:
        """The error for a device that cannot give ``source`` (or any estimate, for None)."""
        name = self.device.label
        if source == "lut":
            return MeasurementError(
                f"device {name!r} has no lookup table at {self.lut_path}",
                value=name,
                hint=f"build it with 'hwsearch profile --device {name}'",
            )
        if source == "predicted":
            return MeasurementError(
                f"device {name!r} has no calibration points in {target_config(self.device).label()}",
                value=name,
                hint=f"add measured points with 'hwsearch calibrate --device {name} --points FILE.csv'",
            )
        remote = self.device.kind == "remote"
        agent = "start 'hwsearch agent' on the board and pass --agent URL; or " if remote else ""
        # A torch-cuda profile times whole networks only: its table would have to come from onnxruntime.
        table = (
            ""
            if self.device.settings.provider == TORCH_CUDA
            else f"build a table with 'hwsearch profile --device {name}'; or "
        )
        return MeasurementError(
            f"device {name!r} has no lookup table and no calibration points{' and no agent' if remote else ''}",
            value=name,
            hint=f"{agent}{table}add measured points with 'hwsearch calibrate --device {name} --points FILE.csv'",
        )


_ESTIMATORS: dict[tuple[str, str], tuple[tuple[float, ...], Estimator]] = {}


def _stamp(device: DeviceProfile) -> tuple[float, ...]:
    from hwsearch.latency._lut_build import lut_path

    stamps = []
    for path in (Path(device.source) if not device.source.startswith("<") else None, lut_path(device),
                 points_path(device)):  # fmt: skip
        try:
            stamps.append(os.stat(path).st_mtime if path is not None else 0.0)
        except OSError:
            stamps.append(-1.0)
    return tuple(stamps)


def estimator_for(device: DeviceProfile) -> Estimator:
    """The shared :class:`Estimator` of ``device``, rebuilt when its profile, table or points file changes."""
    key = (device.source, device.label)  # each chosen configuration has its own predictor
    stamp = _stamp(device)
    found = _ESTIMATORS.get(key)
    if found is None or found[0] != stamp or found[1].device != device:
        found = (stamp, Estimator(device))
        _ESTIMATORS[key] = found
    return found[1]


def latency_for(
    arch: Arch,
    device: DeviceProfile,
    *,
    agent: AgentClient | None = None,
    cache: LatencyCache | None = None,
    source: str | None = None,
    remeasure: bool = False,
) -> Measurement:
    """The latency of ``arch`` on ``device`` from the best available source, or from ``source``.

    ``measured`` needs a local profile, an agent (given, or the profile's ``agent_url``)
    or a cached measurement (``remeasure`` skips the cache); a local profile whose provider
    is missing here falls back to the table or predictor when ``source`` is None. Raises
    :class:`MeasurementError` when no source can answer.
    """
    from hwsearch.latency._measure import cache_key, measure_arch

    if source is not None and source not in SOURCES:
        raise MeasurementError(f"unknown latency source {source!r}", value=source, hint=f"one of {', '.join(SOURCES)}")
    estimator = estimator_for(device)
    can_measure = agent is not None or device.agent_url is not None or device.kind == "local"
    if source == "measured" or (source is None and can_measure):
        if source is None and agent is None and device.agent_url is None:
            try:
                from hwsearch.latency._measure import check_measurable

                check_measurable(device.settings.provider)
            except ProviderUnavailableError:
                if not estimator.available():
                    raise
                return estimator.estimate(arch)
        return measure_arch(arch, device, cache=cache, agent=agent, remeasure=remeasure)
    if source is None and cache is not None and not remeasure:
        found = cache.get(cache_key(arch, device))
        if found is not None:
            return found
    return estimator.estimate(arch, source)
