"""Few-shot latency predictor: five additive terms, shrunk toward a hierarchical family prior.

A network's latency on one device configuration is ``sum_j T_j * count_j / count_j(1.0-224)``
over the terms of :mod:`hwsearch.latency._features` (MACs, activation traffic, weights,
layers, a per-network cost). ``T_j`` are fitted in log space:

* **Family prior** (``arm-cpu``, ``nvidia-gpu``; ``x86-cpu`` borrows the ARM shapes): a
  hierarchical fit over every published configuration of the family with at least two
  networks (:mod:`hwsearch.latency._corpus`), each with its own ``T``, all drawn around a
  shared mean shape (:mod:`hwsearch.latency._fitting`); configurations in the device's
  runtime setting (kernel library, precision, one thread or more) on other boards pull its
  prior toward their own shape. The prior's strength, the setting's share and the noise
  level are chosen by leave-one-configuration-out cross-validation
  (:mod:`hwsearch.latency._crossval`).
* **Device**: the MAP ``T`` from the device's own points under that prior. One point sets
  the level (the shape is the family's); two set the level and the balance of arithmetic
  against activation traffic (the slope in size); more bend the curve (weights, fixed cost).
  The device's own configuration is left out of its prior, so nothing is counted twice.

Every prediction carries the cross-validated mean error at its number of points
(``expected_error_pct``), and separately its in-sample residuals (``fit_residual_*``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hwsearch.arch import Arch
from hwsearch.devices import DeviceProfile, RuntimeSpec
from hwsearch.errors import MeasurementError
from hwsearch.latency._checks import family_check
from hwsearch.latency._corpus import ConfigGroup, config_setting, family_groups, figure_key, loadable_profiles
from hwsearch.latency._crossval import FamilyCheck, structural_center
from hwsearch.latency._features import REFERENCE, TERMS, counts, relative_matrix
from hwsearch.latency._fitting import Hyper, configuration_prior, fit_terms, predict, shared_settings
from hwsearch.latency._points import Point, direct_points, target_config
from hwsearch.measurement import ORT_RUNTIME, TORCH_RUNTIME, Measurement, utc_now


def default_family(profile: DeviceProfile) -> str:
    """The profile's ``family``, or a guess from its measurement provider."""
    if profile.family is not None:
        return profile.family
    return "x86-cpu" if profile.measurement.provider == "cpu" else "nvidia-gpu"


def family_profiles(include: DeviceProfile | None = None) -> list[DeviceProfile]:
    """Every loadable profile in the profile folders, with ``include`` replacing its namesake."""
    return loadable_profiles(include)


@dataclass(frozen=True)
class FamilyPrior:
    """A family's mean shape (log ms per term on 1.0-224, up to a common level) and one device's prior around it."""

    family: str
    mean: np.ndarray
    cov: np.ndarray  # a device's prior: the spread between configurations plus the mean's uncertainty
    hyper: Hyper
    check: FamilyCheck
    groups: tuple[str, ...]  # the configurations that shaped it
    points: int
    level_only: int  # single-network configurations: they fix only their own level
    setting: str | None  # the device's runtime setting
    mates: tuple[str, ...]  # the configurations in that setting that its prior is drawn toward

    def describe(self) -> str:
        """The prior in words."""
        mates = len(self.mates)
        plural = "s" if mates != 1 else ""
        drawn = f", drawn toward {mates} configuration{plural} in its runtime setting ({self.setting})" if mates else ""
        return (f"{self.family} prior from {len(self.groups)} configurations ({self.points} points){drawn}; "
                f"{self.level_only} single-network configurations fix only their own level")  # fmt: skip


def family_pool(family: str, profiles: Sequence[DeviceProfile]) -> tuple[list[ConfigGroup], list[ConfigGroup]]:
    """``(shaping, level_only)`` configuration groups for ``family``'s prior from every published point."""
    return family_groups(family, profiles, {p.name: default_family(p) for p in profiles})


@lru_cache(maxsize=64)
def _prior(
    family: str, shaping: tuple[ConfigGroup, ...], kept: tuple[ConfigGroup, ...], level_only: int,
    setting: str | None,
) -> FamilyPrior:  # fmt: skip
    check = family_check(family, shaping)  # hyperparameters and expected errors: the whole family
    settings = [g.setting for g in kept]
    data = [(relative_matrix(g.archs), np.array(g.latency_ms)) for g in kept]
    mean, cov = configuration_prior(data, check.hyper, structural_center(family), settings, setting)
    points = sum(len(g.archs) for g in kept)
    shared = setting in shared_settings(settings, setting, check.hyper)
    mates = tuple(g.name for g in kept if shared and g.setting == setting)
    names = tuple(g.name for g in kept)
    return FamilyPrior(family, mean, cov, check.hyper, check, names, points, level_only, setting, mates)


def fit_family(
    family: str, profiles: Sequence[DeviceProfile], exclude: Sequence[Point] = (), setting: str | None = None
) -> FamilyPrior:
    """``family``'s prior from every published point, leaving out configurations that hold any of
    ``exclude``, for a device in runtime ``setting`` (None: unknown, the family's prior alone)."""
    shaping, single = family_pool(family, profiles)
    keys = frozenset(figure_key(p.arch, p.latency_ms) for p in exclude)
    kept = tuple(g for g in shaping if not (g.keys & keys))
    level_only = sum(1 for g in single if not (g.keys & keys))
    return _prior(family, tuple(shaping), kept, level_only, setting)


@dataclass(frozen=True, eq=False)
class DevicePredictor:
    """A device's fitted model: predicts whole-network latency in the profile's target configuration."""

    profile: DeviceProfile
    config: RuntimeSpec
    log_terms: np.ndarray  # log ms of each term on the reference network
    points: tuple[Point, ...]
    prior: FamilyPrior
    expected_error_pct: float
    error_basis: str

    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch`` in milliseconds."""
        return float(predict(self.log_terms, relative_matrix([arch]))[0])

    @property
    def residuals_pct(self) -> list[float]:
        """In-sample error of each calibration point, in percent (predicted / measured - 1)."""
        return [100.0 * (self.predict_ms(p.arch) / p.latency_ms - 1.0) for p in self.points]

    @property
    def fit_residual_rms_pct(self) -> float:
        """Root mean square of :attr:`residuals_pct`: in-sample, not a prediction error."""
        res = np.array(self.residuals_pct)
        return float(np.sqrt(np.mean(res**2))) if res.size else 0.0

    @property
    def fit_residual_max_pct(self) -> float:
        """Largest absolute in-sample residual, in percent."""
        return float(max((abs(r) for r in self.residuals_pct), default=0.0))

    @property
    def uncertainty(self) -> str:
        """``±9% (cross-validated, 2 points, ...)``."""
        return f"±{self.expected_error_pct:.0f}% ({self.error_basis})"

    def basis(self) -> str:
        """What the prediction rests on, in words."""
        n = len(self.points)
        origins = "/".join(sorted({p.origin for p in self.points}))
        return (f"few-shot model for {self.config.label()}: {n} {origins} point{'s' if n != 1 else ''}; "
                f"{self.prior.describe()}")  # fmt: skip

    def parameters(self) -> dict[str, float]:
        """Fitted milliseconds of each term on MobileNet 1.0-224 (the floor of one layer for the layers term)."""
        t = np.exp(self.log_terms)
        out = {f"{name} ms at 1.0-224": float(v) for name, v in zip(TERMS, t, strict=True) if name != "layers"}
        out["ms floor per layer"] = float(t[TERMS.index("layers")] / counts(REFERENCE)[TERMS.index("layers")])
        return out

    def predict(self, arch: Arch) -> Measurement:
        """The prediction for ``arch`` as a ``source="predicted"`` record with its expected error."""
        t = self.predict_ms(arch)
        host = self.profile.hardware.processor or self.profile.description or self.profile.name
        gpu = default_family(self.profile) == "nvidia-gpu"
        measuring = self.config.name in (ORT_RUNTIME, TORCH_RUNTIME)
        provider = self.profile.measurement.provider if measuring else "gpu" if gpu else "cpu"
        return Measurement(
            median_ms=t, p90_ms=t, mean_ms=t, std_ms=0.0, min_ms=t, max_ms=t, outliers=0, runs=0, warmup=0,
            provider=provider, threads=self.config.threads or 0, precision=self.config.precision,
            runtime=self.config.name, runtime_version="", host=host,
            timestamp=utc_now(), source="predicted", device=self.profile.label, fit_points=len(self.points),
            fit_residual_rms_pct=self.fit_residual_rms_pct, fit_residual_max_pct=self.fit_residual_max_pct,
            expected_error_pct=self.expected_error_pct, error_basis=self.error_basis, basis=self.basis(),
        )  # fmt: skip


def fit_device(
    profile: DeviceProfile, points: Sequence[Point], config: RuntimeSpec, prior: FamilyPrior
) -> DevicePredictor:
    """Fit ``profile``'s terms to ``points`` (all in ``config``), shrunk toward ``prior``."""
    if not points:
        raise MeasurementError(
            f"device {profile.label!r} has no calibration points in its configuration {config.label()}",
            value=profile.label,
            hint=f"add points with 'hwsearch calibrate --device {profile.label} --points FILE.csv'",
        )
    rel = relative_matrix([p.arch for p in points])
    y = np.array([p.latency_ms for p in points])
    z = fit_terms(rel, y, prior.mean, prior.cov, prior.hyper.noise)
    n_networks = len({p.arch.to_str() for p in points})
    error_pct, basis = prior.check.expected_error(n_networks)
    return DevicePredictor(profile, config, z, tuple(points), prior, error_pct, basis)


def fit_predictor(profile: DeviceProfile, *, profiles: Sequence[DeviceProfile] | None = None) -> DevicePredictor:
    """The predictor of ``profile`` from its direct points and its family's prior.

    The prior leaves out every configuration that holds one of the device's own points, and
    is drawn toward the others in the device's runtime setting.
    ``profiles`` are the family's profiles (default: every profile in the profile folders).
    """
    config = target_config(profile)
    points = direct_points(profile)
    pool = family_profiles(profile) if profiles is None else profiles
    prior = fit_family(default_family(profile), pool, exclude=points, setting=config_setting(config))
    return fit_device(profile, points, config, prior)
