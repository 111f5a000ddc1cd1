"""Calibrated latency predictor: a roofline-style per-layer model with seven parameters.

For every layer ``l`` of kind ``k`` (stem conv, depthwise, pointwise or full 3x3 conv, FC)::

    t_l = a_k * macs_l / peak  +  a_mem * bytes_l / bandwidth  +  o_layer
    t   = sum_l t_l + c_net                                  (the whole network)

``peak`` (multiply-accumulates per ms for the configuration's threads and precision) and
``bandwidth`` come from the profile's hardware facts, so ``a_k`` are inverse efficiencies
(time over ideal time) and comparable across devices. Compute and memory time *add*
instead of overlapping through a ``max``: the model is then linear in its parameters, a
prediction is one dot product, and the fit stays well conditioned with a handful of points.

Fitting is in log space (relative errors) by Levenberg-Marquardt, in two levels:

* **Family prior** (``arm-cpu``, ``nvidia-gpu``, ``x86-cpu``): the parameters shared by
  every published point of the family, each (device, configuration) group with its own
  speed factor on compute and memory time, starting from order-of-magnitude structural
  guesses (:data:`STRUCTURAL`). The fit's posterior covariance says how firmly the
  family's points pin each parameter.
* **Device**: the device's own points (see :func:`~hwsearch.latency._points.direct_points`)
  fit one speed factor plus departures of each parameter from the family's, penalised by
  that covariance plus :data:`DEVICE_SIGMA` (a MAP estimate). One point fixes the speed;
  more points bend the curve. The device's points are left out of its own family prior.

The published points are all MobileNet V1 at different widths and resolutions, so some
parameters (``o_layer`` against ``c_net``; full 3x3 convolutions, fitted with ``a_pw``)
are set mostly by the priors. The residuals and the leave-one-out errors say how well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hwsearch.arch import Arch
from hwsearch.cost import layer_cost
from hwsearch.devices import DeviceProfile, RuntimeSpec, available_devices, load_device
from hwsearch.errors import HwsearchError, MeasurementError
from hwsearch.latency._points import Point, direct_points, published_points, target_config
from hwsearch.measurement import Measurement, utc_now

PARAMS = ("a_stem", "a_dw", "a_pw", "a_fc", "a_mem", "o_layer_ms", "c_net_ms")
# Structural guesses per family (inverse efficiencies; overheads in ms), before any data.
STRUCTURAL: dict[str, tuple[float, ...]] = {
    "arm-cpu": (5.0, 8.0, 2.5, 2.5, 2.0, 0.005, 0.05),
    "x86-cpu": (5.0, 8.0, 2.5, 2.5, 2.0, 0.005, 0.05),
    "nvidia-gpu": (10.0, 20.0, 4.0, 4.0, 2.0, 0.05, 1.0),
}
# Log-space standard deviations of those guesses: a factor e either way, overheads wider.
STRUCTURAL_SIGMA = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5])
OBS_SIGMA = 0.05  # relative noise of a published or measured figure
GROUP_SIGMA = 0.7  # how far one device's speed strays from the family's (a factor 2)
# How far one device's parameters stray from the family's: efficiencies, then overheads.
DEVICE_SIGMA = np.array([0.35, 0.35, 0.35, 0.35, 0.35, 0.7, 0.7])
# A device's speed factor scales compute and memory time; overheads (dispatch, copies,
# launches) are the family's in absolute ms until the device's own small networks say otherwise.
SPEED_MASK = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
FREE_SIGMA = 5.0  # speed prior when the profile has no hardware facts: anything goes
# Placeholder units when hardware facts are missing (the fitted speed factor absorbs them).
DEFAULT_PEAK_GMACS = 10.0
DEFAULT_BANDWIDTH_GBS = 10.0


@dataclass(frozen=True)
class HardwareScale:
    """What one configuration of a device can do: MACs per ms, bytes per ms, bytes per element."""

    peak_macs_per_ms: float
    bytes_per_ms: float
    element_bytes: int
    nominal: bool  # from the profile's hardware facts (else placeholder units)


def default_family(profile: DeviceProfile) -> str:
    """The profile's ``family``, or a guess from its measurement provider."""
    if profile.family is not None:
        return profile.family
    return "x86-cpu" if profile.measurement.provider == "cpu" else "nvidia-gpu"


def hardware_scale(profile: DeviceProfile, config: RuntimeSpec) -> HardwareScale:
    """Peak and bandwidth of ``profile`` in ``config``; a CPU's peak is shared out by threads used."""
    hw = profile.hardware
    peak = hw.peak_gmacs_fp16 if config.precision == "fp16" and hw.peak_gmacs_fp16 else hw.peak_gmacs_fp32
    nominal = peak is not None and hw.memory_bandwidth_gbs is not None
    peak = peak or DEFAULT_PEAK_GMACS
    if default_family(profile) != "nvidia-gpu" and hw.cores and config.threads:
        peak *= min(config.threads, hw.cores) / hw.cores
    element_bytes = {"fp32": 4, "fp16": 2, "int8": 1}[config.precision]
    bandwidth = hw.memory_bandwidth_gbs or DEFAULT_BANDWIDTH_GBS
    return HardwareScale(peak * 1e6, bandwidth * 1e6, element_bytes, nominal)


@lru_cache(maxsize=65536)
def layer_counts(arch: Arch) -> np.ndarray:
    """MACs of stem, depthwise, pointwise + 3x3 conv, FC; elements moved; ops: the device-free counts."""
    counts = np.zeros(6)
    slot = {"stem": 0, "dw": 1, "pw": 2, "conv": 2, "fc": 3}
    for layer in arch.layers():
        cost = layer_cost(layer)
        if layer.kind in slot:
            counts[slot[layer.kind]] += cost.macs
        # Read the input and the weights, write the output.
        counts[4] += layer.in_channels * layer.in_size**2 + layer.out_channels * layer.out_size**2 + cost.params
        counts[5] += 1
    counts.flags.writeable = False
    return counts


def features(arch: Arch, scale: HardwareScale) -> np.ndarray:
    """The model's inputs for ``arch``: ideal compute ms per kind, ideal memory ms, ops, 1."""
    c = layer_counts(arch)
    compute = c[:4] / scale.peak_macs_per_ms
    memory = c[4] * scale.element_bytes / scale.bytes_per_ms
    return np.array([*compute, memory, c[5], 1.0])


# ----- fitting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One point ready to fit: features, latency and the (device, configuration) group it belongs to."""

    x: np.ndarray
    latency_ms: float
    group: str
    point: Point


def samples_of(profile: DeviceProfile, points: Sequence[Point]) -> list[Sample]:
    """Points of ``profile`` with their features under each point's own configuration."""
    out = []
    for p in points:
        scale = hardware_scale(profile, p.config)
        out.append(Sample(features(p.arch, scale), p.latency_ms, f"{profile.name} / {p.config.label()}", p))
    return out


def _solve(
    samples: Sequence[Sample], center: np.ndarray, prior_cov: np.ndarray, group_sigma: float, iters: int = 200
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """MAP fit of ``theta`` (log parameters) and one log speed factor per group, by Levenberg-Marquardt.

    ``theta ~ N(center, prior_cov)``, each group's log speed ``~ N(0, group_sigma**2)``,
    ``log(latency) ~ N(log(prediction), OBS_SIGMA**2)``. Returns ``theta``, its posterior
    covariance (Laplace approximation) and the groups' log speeds.
    """
    groups = sorted({s.group for s in samples})
    index = np.array([groups.index(s.group) for s in samples], dtype=int)
    x = np.array([s.x for s in samples]).reshape(len(samples), len(PARAMS))
    log_y = np.log([s.latency_ms for s in samples])
    n, n_theta, n_groups = len(samples), len(PARAMS), len(groups)
    one_hot = np.zeros((n, n_groups))
    one_hot[np.arange(n), index] = 1.0
    root = np.linalg.cholesky(np.linalg.inv(prior_cov)).T  # root.T @ root = prior precision

    def residuals(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta, logs = p[:n_theta], p[n_theta:]
        parts = x * np.exp(theta + np.outer(logs[index], SPEED_MASK))
        total = parts.sum(axis=1)
        r = np.concatenate([(np.log(total) - log_y) / OBS_SIGMA, root @ (theta - center), logs / group_sigma])
        jac = np.zeros((len(r), n_theta + n_groups))
        jac[:n, :n_theta] = parts / total[:, None] / OBS_SIGMA
        jac[:n, n_theta:] = one_hot * ((parts @ SPEED_MASK) / total)[:, None] / OBS_SIGMA
        jac[n : n + n_theta, :n_theta] = root
        jac[n + n_theta :, n_theta:] = np.eye(n_groups) / group_sigma
        return r, jac

    p = np.concatenate([center, np.zeros(n_groups)])
    r, jac = residuals(p)
    cost, damping = float(r @ r), 1e-3
    for _ in range(iters):
        gradient = jac.T @ r
        if np.max(np.abs(gradient)) < 1e-9:
            break
        normal = jac.T @ jac
        step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient)
        r_new, jac_new = residuals(p + step)
        cost_new = float(r_new @ r_new)
        if cost_new < cost:
            p, r, jac, cost = p + step, r_new, jac_new, cost_new
            damping = max(damping / 3, 1e-12)
            if np.max(np.abs(step)) < 1e-10:
                break
        else:
            damping *= 4
            if damping > 1e12:
                break
    cov = np.linalg.inv(jac.T @ jac)[:n_theta, :n_theta]
    return p[:n_theta], cov, dict(zip(groups, p[n_theta:].tolist(), strict=True))


@dataclass(frozen=True)
class FamilyPrior:
    """The family's shared parameters, fitted to every published point of the family."""

    family: str
    theta: np.ndarray
    cov: np.ndarray  # posterior covariance of theta: how firmly the family's points pin it
    group_log_scales: dict[str, float]
    points: int

    @property
    def devices(self) -> list[str]:
        """The (device, configuration) groups the prior was fitted to."""
        return list(self.group_log_scales)


def structural_prior(family: str) -> np.ndarray:
    """The log parameters of the hand-set guesses for ``family``."""
    return np.log(np.array(STRUCTURAL[family]))


def fit_family(family: str, samples: Sequence[Sample]) -> FamilyPrior:
    """Fit the family prior to ``samples`` (which may be empty: the structural guesses then stand)."""
    center = structural_prior(family)
    if not samples:
        return FamilyPrior(family, center, np.diag(STRUCTURAL_SIGMA**2), {}, 0)
    theta, cov, logs = _solve(samples, center, np.diag(STRUCTURAL_SIGMA**2), GROUP_SIGMA)
    return FamilyPrior(family, theta, cov, logs, len(samples))


def family_samples(
    family: str, profiles: Sequence[DeviceProfile], *, exclude: Sequence[Point] = (), skip_device: str | None = None
) -> list[Sample]:
    """Published points of every profile in ``family``, less ``exclude`` and any of ``skip_device``."""
    excluded = {_point_key(p) for p in exclude}
    out = []
    for profile in profiles:
        if default_family(profile) != family or profile.name == skip_device:
            continue
        points = [p for p in published_points(profile) if _point_key(p) not in excluded]
        out += samples_of(profile, points)
    return out


def _point_key(p: Point) -> tuple[str, str, RuntimeSpec, float]:
    return (p.device, p.arch.to_str(), p.config, p.latency_ms)


def family_profiles(include: DeviceProfile | None = None) -> list[DeviceProfile]:
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


# ----- the device predictor ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DevicePredictor:
    """A device's fitted model: predicts whole-network latency in the profile's target configuration."""

    profile: DeviceProfile
    config: RuntimeSpec
    scale: HardwareScale
    theta: np.ndarray
    log_speed: float
    points: tuple[Point, ...]
    prior: FamilyPrior
    weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", np.exp(self.theta + self.log_speed * SPEED_MASK))

    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch`` in milliseconds."""
        return float(features(arch, self.scale) @ self.weights)

    @property
    def residuals_pct(self) -> list[float]:
        """In-sample error of each calibration point, in percent (predicted / measured - 1)."""
        return [100.0 * (self.predict_ms(p.arch) / p.latency_ms - 1.0) for p in self.points]

    @property
    def fit_rms_pct(self) -> float:
        """Root mean square of :attr:`residuals_pct`."""
        res = np.array(self.residuals_pct)
        return float(np.sqrt(np.mean(res**2))) if res.size else 0.0

    @property
    def fit_max_pct(self) -> float:
        """Largest absolute residual, in percent."""
        return float(max((abs(r) for r in self.residuals_pct), default=0.0))

    def basis(self) -> str:
        """What the prediction rests on, in words."""
        n = len(self.points)
        origins = sorted({p.origin for p in self.points})
        caveat = " (one point: its residual is 0 by construction)" if n == 1 else ""
        return (
            f"{self.prior.family} roofline model for {self.config.label()}: {n} {'/'.join(origins)} "
            f"point{'s' if n != 1 else ''}{caveat}, family prior from {self.prior.points} published points"
        )

    def parameters(self) -> dict[str, float]:
        """Fitted parameters: efficiencies (share of peak / bandwidth) and overheads in ms."""
        w = self.weights
        named = {f"{kind} efficiency": 1.0 / w[i] for i, kind in enumerate(("stem", "dw", "pw+conv", "fc"))}
        named["memory efficiency"] = 1.0 / w[4]
        named["per-layer overhead ms"] = w[5]
        named["per-network overhead ms"] = w[6]
        return {k: float(v) for k, v in named.items()}

    def predict(self, arch: Arch) -> Measurement:
        """The prediction for ``arch`` as a ``source="predicted"`` record carrying the fit's residuals."""
        t = self.predict_ms(arch)
        host = self.profile.hardware.processor or self.profile.description or self.profile.name

        gpu = default_family(self.profile) == "nvidia-gpu"
        provider = self.profile.measurement.provider if self.config.name == "onnxruntime" else "gpu" if gpu else "cpu"
        return Measurement(
            median_ms=t, p90_ms=t, mean_ms=t, std_ms=0.0, min_ms=t, max_ms=t, outliers=0, runs=0, warmup=0,
            provider=provider, threads=self.config.threads or 0, precision=self.config.precision,
            runtime=self.config.name, runtime_version="", host=host,
            timestamp=utc_now(), source="predicted", device=self.profile.name, fit_points=len(self.points),
            fit_rms_pct=self.fit_rms_pct, fit_max_pct=self.fit_max_pct, basis=self.basis(),
        )  # fmt: skip


def fit_device(
    profile: DeviceProfile,
    points: Sequence[Point],
    config: RuntimeSpec,
    prior: FamilyPrior,
) -> DevicePredictor:
    """Fit ``profile``'s speed and parameters to ``points`` (all in ``config``), shrunk toward ``prior``."""
    if not points:
        raise MeasurementError(
            f"device {profile.name!r} has no calibration points in its configuration {config.label()}",
            value=profile.name,
            hint=f"add points with 'hwsearch calibrate --device {profile.name} --points FILE.csv'",
        )
    scale = hardware_scale(profile, config)
    samples = samples_of(profile, points)
    group_sigma = GROUP_SIGMA if scale.nominal else FREE_SIGMA
    # The device's parameters: the family's, as uncertain as its points left them, plus
    # the spread between devices of one family.
    theta, _, logs = _solve(samples, prior.theta, prior.cov + np.diag(DEVICE_SIGMA**2), group_sigma)
    return DevicePredictor(profile, config, scale, theta, next(iter(logs.values())), tuple(points), prior)


def fit_predictor(profile: DeviceProfile, *, profiles: Sequence[DeviceProfile] | None = None) -> DevicePredictor:
    """The predictor of ``profile`` from its direct points and its family's prior.

    The prior leaves out the device's own direct points, so they are not counted twice.
    ``profiles`` are the family's profiles (default: every profile in the profile folders).
    """
    config = target_config(profile)
    points = direct_points(profile)
    family = default_family(profile)
    pool = family_profiles(profile) if profiles is None else profiles
    prior = fit_family(family, family_samples(family, pool, exclude=points))
    return fit_device(profile, points, config, prior)
