"""Leave-one-out checks of the predictor on the published calibration points.

Four views, each row a point predicted by a model that never saw it:

* ``device``: a device with at least 2 points in its configuration; fit on the others.
* ``one-shot``: the same devices, calibrated on a single point, predicting each other one.
* ``zero-shot``: the family prior fitted without the device at all, from hardware facts only.
* ``cross-config``: a device's fit applied to its points in another configuration (other
  thread count or runtime) with nominal thread scaling: why such points do not calibrate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hwsearch.arch import mobilenet_v1
from hwsearch.devices import DeviceProfile
from hwsearch.latency._points import Point, direct_points, published_points, target_config
from hwsearch.latency._predictor import (
    DevicePredictor,
    FamilyPrior,
    default_family,
    family_samples,
    fit_device,
    fit_family,
    hardware_scale,
)


@dataclass(frozen=True)
class LooRow:
    """One left-out point and its prediction."""

    view: str
    device: str
    point: Point
    predicted_ms: float
    fitted_on: str

    @property
    def error_pct(self) -> float:
        """Prediction error in percent: predicted / published - 1."""
        return 100.0 * (self.predicted_ms / self.point.latency_ms - 1.0)


def point_label(point: Point) -> str:
    """``1.0-224`` for the paper's MobileNets, else the architecture string."""
    arch = point.arch
    if arch == mobilenet_v1(arch.alpha, arch.resolution):
        return f"{arch.alpha:g}-{arch.resolution}"
    return arch.to_str()


def _prior_for(profile: DeviceProfile, profiles: Sequence[DeviceProfile], points: Sequence[Point]) -> FamilyPrior:
    family = default_family(profile)
    return fit_family(family, family_samples(family, profiles, exclude=points))


def device_loo(profile: DeviceProfile, profiles: Sequence[DeviceProfile]) -> list[LooRow]:
    """``device`` and ``one-shot`` rows for ``profile`` (none when it has fewer than 2 direct points)."""
    points = direct_points(profile)
    if len(points) < 2:
        return []
    config = target_config(profile)
    prior = _prior_for(profile, profiles, points)
    rows = []
    for i, held in enumerate(points):
        rest = points[:i] + points[i + 1 :]
        model = fit_device(profile, rest, config, prior)
        rows.append(LooRow("device", profile.name, held, model.predict_ms(held.arch), f"{len(rest)} points"))
    for j, only in enumerate(points):
        model = fit_device(profile, [only], config, prior)
        for i, held in enumerate(points):
            if i != j:
                rows.append(LooRow("one-shot", profile.name, held, model.predict_ms(held.arch), point_label(only)))
    return rows


def zero_shot(profile: DeviceProfile, profiles: Sequence[DeviceProfile]) -> list[LooRow]:
    """Each published point of ``profile`` from the family prior fitted without this device at all."""
    family = default_family(profile)
    prior = fit_family(family, family_samples(family, profiles, skip_device=profile.name))
    rows = []
    for p in published_points(profile):
        scale = hardware_scale(profile, p.config)
        model = DevicePredictor(profile, p.config, scale, prior.theta, 0.0, (), prior)
        rows.append(LooRow("zero-shot", profile.name, p, model.predict_ms(p.arch), f"{prior.points} points"))
    return rows


def cross_config(profile: DeviceProfile, profiles: Sequence[DeviceProfile]) -> list[LooRow]:
    """The device's own fit, moved to each other configuration by nominal thread scaling only."""
    points = direct_points(profile)
    others = [p for p in published_points(profile) if p.config != target_config(profile)]
    if not points or not others:
        return []
    model = fit_device(profile, points, target_config(profile), _prior_for(profile, profiles, points))
    rows = []
    for p in others:
        moved = replace(model, config=p.config, scale=hardware_scale(profile, p.config))
        rows.append(LooRow("cross-config", profile.name, p, moved.predict_ms(p.arch), model.config.label()))
    return rows


def loo_summary(rows: Sequence[LooRow]) -> tuple[float, float, float]:
    """Mean absolute error %, share within +-10 %, worst absolute error %."""
    errors = np.abs([r.error_pct for r in rows])
    if errors.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    return float(errors.mean()), float(np.mean(errors <= 10.0)), float(errors.max())
