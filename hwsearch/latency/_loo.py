"""Leave-out checks of the predictor on published points.

* :func:`configuration_loo`: every configuration of a family with two or more networks
  held out whole, calibrated on ``k`` of its points, the rest predicted (what
  ``benchmarks/predictor_loo.py`` prints; see :mod:`hwsearch.latency._crossval`).
* :func:`device_loo`: one device's own points, each predicted from the others
  (``device``) or from a single other point (``one-shot``), under its family prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwsearch.arch import mobilenet_v1
from hwsearch.devices import DeviceProfile
from hwsearch.latency._corpus import config_setting
from hwsearch.latency._crossval import CV_KS, RECIPE, CvRow, Recipe, nested_rows, structural_center
from hwsearch.latency._points import Point, direct_points, target_config
from hwsearch.latency._predictor import default_family, family_pool, fit_device, fit_family


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


def device_loo(profile: DeviceProfile, profiles: Sequence[DeviceProfile]) -> list[LooRow]:
    """``device`` and ``one-shot`` rows for ``profile`` (none when it has fewer than 2 direct points)."""
    points = direct_points(profile)
    if len(points) < 2:
        return []
    config = target_config(profile)
    prior = fit_family(default_family(profile), profiles, exclude=points, setting=config_setting(config))
    rows = []
    for i, held in enumerate(points):
        rest = points[:i] + points[i + 1 :]
        model = fit_device(profile, rest, config, prior)
        rows.append(LooRow("device", profile.label, held, model.predict_ms(held.arch), f"{len(rest)} points"))
    for j, only in enumerate(points):
        model = fit_device(profile, [only], config, prior)
        for i, held in enumerate(points):
            if i != j:
                rows.append(LooRow("one-shot", profile.label, held, model.predict_ms(held.arch), point_label(only)))
    return rows


def loo_summary(rows: Sequence[LooRow]) -> tuple[float, float, float]:
    """Mean absolute error %, share within +-10 %, worst absolute error %."""
    errors = np.abs([r.error_pct for r in rows])
    if errors.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    return float(errors.mean()), float(np.mean(errors <= 10.0)), float(errors.max())


def configuration_loo(
    family: str, profiles: Sequence[DeviceProfile], ks: Sequence[int] = CV_KS, recipe: Recipe = RECIPE
) -> list[CvRow]:
    """Leave-one-configuration-out rows over ``family``'s published configurations (nested: the
    prior's strength is chosen again without the held-out configuration); ``recipe`` orders the
    calibration points."""
    shaping, _ = family_pool(family, profiles)
    return nested_rows(shaping, structural_center(family), ks, recipe)
