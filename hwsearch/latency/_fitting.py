"""The numerics of the few-shot predictor: a hierarchical (empirical Bayes) fit in log space.

Parameters are ``z_j = log T_j``, the log of each term's milliseconds on the reference
network (see :mod:`hwsearch.latency._features`); a prediction sums each layer's work
``sum_j exp(z_j) r_lj``, held above the per-layer floor, and the fixed cost.

* A **configuration** (one device in one runtime setting) has ``z ~ N(mu, S)``: the family's
  mean shape ``mu`` and a spread ``S = shape_sd^2 * diag(1, 1, s, s, s) + LEVEL_SD^2 * 11'``.
  The last part leaves the overall level free (a factor e^10), so one point always sets
  it; ``s = secondary^2`` says how much more (or less) the small terms vary than the two
  primary ones (MACs and activations), which is what a second point moves.
* Configurations in the same **runtime setting** (kernel library, precision, one thread or
  more: :func:`~hwsearch.latency._corpus.runtime_setting`) share part of that spread: the
  setting has its own mean ``m ~ N(mu, f D)`` and its configurations ``z ~ N(m, (1 - f) D +
  level)``, where ``D`` is the shape part of ``S`` and ``f`` (``setting_share``) the share of
  the spread the setting explains. A configuration whose setting no other one shares is
  ``N(mu, S)`` as before: with nothing to borrow, the setting changes nothing.
* A **figure** has relative noise ``noise``: ``log t ~ N(log prediction, noise^2)``.
* The **family** fit estimates ``mu`` (and each shared setting's ``m``) jointly with every
  configuration's ``z_g`` (a MAP estimate of the hierarchical model, by
  Levenberg-Marquardt), starting from a weak structural guess. Its covariance says how
  firmly the configurations pin the mean a new configuration is drawn around.
* A **device** fit is the MAP of its own ``z`` under ``N(m or mu, spread + cov(m or mu))``
  (:func:`configuration_prior`).

``shape_sd``, ``secondary``, ``setting_share`` and ``noise`` are chosen by cross-validation
over the family's configurations (:mod:`hwsearch.latency._crossval`), not set by hand; only
where no two configurations share a setting, so that no fold can test it, the setting share
takes a stated default. ``setting_share`` must stay below 1: a setting never fixes a shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwsearch.latency._features import PRIMARY, REFERENCE, SHARPNESS, TERMS, WORK, counts, stack

LEVEL_SD = 10.0  # log sd of the overall level: free for all practical purposes
CENTER_SD = 2.0  # log sd of the structural guess the family mean starts from
N_TERMS = len(TERMS)


@dataclass(frozen=True)
class Hyper:
    """Prior strength and noise: ``shape_sd`` (log sd of a configuration's term times around the
    family's), ``secondary`` (multiplier for the weights, layers and network terms), ``noise``
    (relative noise of one figure) and ``setting_share`` (the share of the spread between
    configurations that their runtime setting explains; 0: settings are ignored)."""

    shape_sd: float
    secondary: float
    noise: float
    setting_share: float

    def label(self) -> str:
        """``shape sd 0.6, secondary x3, noise 5%, setting share 90%``."""
        return (f"shape sd {self.shape_sd:g}, secondary x{self.secondary:g}, noise {self.noise:.0%}, "
                f"setting share {self.setting_share:.0%}")  # fmt: skip


def _shape_spread(hyper: Hyper) -> np.ndarray:
    scale = np.where(PRIMARY, 1.0, hyper.secondary) * hyper.shape_sd
    return np.diag(scale**2)


def _level_spread() -> np.ndarray:
    return LEVEL_SD**2 * np.ones((N_TERMS, N_TERMS))


def spread(hyper: Hyper) -> np.ndarray:
    """The covariance ``S`` of one configuration's ``z`` around the family mean."""
    return _shape_spread(hyper) + _level_spread()


def within_spread(hyper: Hyper) -> np.ndarray:
    """The covariance of one configuration's ``z`` around the mean of its runtime setting."""
    return (1.0 - hyper.setting_share) * _shape_spread(hyper) + _level_spread()


def predict(z: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Predicted milliseconds of each network of ``rel`` (:func:`~hwsearch.latency._features.relative_matrix`)."""
    return np.exp(log_model(z, rel)[0])


def log_model(z: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log prediction of each network of ``rel`` under one device's ``z``, and its gradient in ``z``."""
    return _log_model(np.broadcast_to(z, (len(rel), N_TERMS)), rel)


def _log_model(z: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log prediction of each network and its gradient in that network's row of ``z`` (``networks x 5``)."""
    t = np.exp(z)
    mask = rel[:, :, WORK]
    per_term = rel[:, :, :WORK] * t[:, None, :WORK]  # each layer's share of each work term, in ms
    work = per_term.sum(axis=2)
    floor = (t[:, WORK] / float(counts(REFERENCE)[WORK]))[:, None]
    top = np.maximum(work, floor)  # the smooth maximum, computed relative to the larger for range
    u, v = work / top, floor / top
    norm = (u**SHARPNESS + v**SHARPNESS) ** (1.0 / SHARPNESS)
    layer = top * norm
    total = (mask * layer).sum(axis=1) + t[:, WORK + 1]
    # d layer / d work = (work / layer)^(n-1), and likewise for the floor.
    d_work = mask * (u / norm) ** (SHARPNESS - 1.0)
    d_floor = mask * (v / norm) ** (SHARPNESS - 1.0)
    grad = np.empty((len(rel), N_TERMS))
    grad[:, :WORK] = (d_work[:, :, None] * per_term).sum(axis=1)
    grad[:, WORK] = (d_floor * floor).sum(axis=1)
    grad[:, WORK + 1] = t[:, WORK + 1]
    return np.log(total), grad / total[:, None]


Residuals = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def levenberg_marquardt(residuals: Residuals, start: np.ndarray, iters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``|r(p)|^2`` from ``start``; returns the solution and the Jacobian there."""
    p = start
    r, jac = residuals(p)
    cost, damping = float(r @ r), 1e-3
    for _ in range(iters):
        gradient = jac.T @ r
        if np.max(np.abs(gradient)) < 1e-9:
            break
        normal = jac.T @ jac
        scale = np.diag(normal) + 1e-12
        step = np.linalg.solve(normal + damping * np.diag(scale), -gradient)
        r_new, jac_new = residuals(p + step)
        cost_new = float(r_new @ r_new)
        if cost_new < cost:
            # Converged when a step no longer changes the fit meaningfully (1e-6 in log units).
            done = np.max(np.abs(step)) < 1e-6 or cost - cost_new < 1e-12 * (1.0 + cost)
            p, r, jac, cost = p + step, r_new, jac_new, cost_new
            damping = max(damping / 10, 1e-12)
            if done:
                break
        else:
            damping *= 10
            if damping > 1e12:
                break
    return p, jac


def _root(cov: np.ndarray) -> np.ndarray:
    """``R`` with ``R.T @ R = inv(cov)``: turns a Gaussian prior into least-squares rows."""
    return np.linalg.cholesky(np.linalg.inv(cov)).T


def _level_start(mean: np.ndarray, rel: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    # Start from the prior's shape at the level the points ask for: LM then only bends it.
    return mean + float(np.mean(np.log(latency_ms) - np.log(predict(mean, rel))))


def fit_terms(rel: np.ndarray, latency_ms: np.ndarray, mean: np.ndarray, cov: np.ndarray, noise: float) -> np.ndarray:
    """MAP ``z`` of one configuration from its points (``rel`` rows, ``latency_ms``) under ``N(mean, cov)``."""
    root = _root(cov)
    log_y = np.log(latency_ms)

    def residuals(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_p, grad = log_model(z, rel)
        return np.concatenate([(log_p - log_y) / noise, root @ (z - mean)]), np.vstack([grad / noise, root])

    return levenberg_marquardt(residuals, _level_start(mean, rel, latency_ms))[0]


def shared_settings(settings: Sequence[str | None], target: str | None, hyper: Hyper) -> list[str]:
    """The settings that get their own mean: those two or more configurations share, and
    ``target``'s when one configuration has it; none when ``hyper`` ignores settings."""
    if hyper.setting_share <= 0.0:
        return []
    counts = Counter(s for s in settings if s is not None)
    return sorted(s for s, n in counts.items() if n >= 2 or s == target)


def fit_hierarchy(
    groups: Sequence[tuple[np.ndarray, np.ndarray]],
    hyper: Hyper,
    center: np.ndarray,
    settings: Sequence[str | None] = (),
    target: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The mean a new configuration in runtime setting ``target`` is drawn around, and its
    covariance, from configurations ``(rel, latency_ms)`` in ``settings`` (one each; empty: none
    known): the mean of ``target``'s setting when a configuration shares it, else the family's.

    With no configurations the structural ``center`` stands, as uncertain as :data:`CENTER_SD`.
    """
    center_cov = np.eye(N_TERMS) * CENTER_SD**2
    if not groups:
        return center.copy(), center_cov
    own = list(settings) if settings else [None] * len(groups)
    means = shared_settings(own, target, hyper)
    n_groups, n_means = len(groups), len(means)
    z_at = N_TERMS * (1 + n_means)  # p = [mu, m_1 .. m_K, z_1 .. z_G]
    rel = stack([r for r, _ in groups])
    log_y = np.log(np.concatenate([y for _, y in groups]))
    owner = np.concatenate([np.full(len(y), g) for g, (_, y) in enumerate(groups)])
    n_obs, width = len(log_y), z_at + N_TERMS * n_groups
    # The prior rows are linear in p: root @ (child - parent) for every configuration and
    # shared setting, and the structural guess for mu; only the data rows change with p.
    prior = np.zeros((N_TERMS * (n_groups + n_means + 1), width))
    total, within = _root(spread(hyper)), _root(within_spread(hyper))
    for g, setting in enumerate(own):
        rows, cols = slice(N_TERMS * g, N_TERMS * (g + 1)), slice(z_at + N_TERMS * g, z_at + N_TERMS * (g + 1))
        parent = 1 + means.index(setting) if setting in means else 0
        prior[rows, cols] = within if parent else total
        prior[rows, N_TERMS * parent : N_TERMS * (parent + 1)] = -(within if parent else total)
    if n_means:
        between = _root(hyper.setting_share * _shape_spread(hyper))
        for c in range(n_means):
            rows = slice(N_TERMS * (n_groups + c), N_TERMS * (n_groups + c + 1))
            prior[rows, N_TERMS * (1 + c) : N_TERMS * (2 + c)] = between
            prior[rows, :N_TERMS] = -between
    center_root = _root(center_cov)
    prior[-N_TERMS:, :N_TERMS] = center_root
    offset = np.concatenate([np.zeros(N_TERMS * (n_groups + n_means)), center_root @ center])
    jac = np.vstack([np.zeros((n_obs, width)), prior])
    obs_cols = z_at + N_TERMS * owner[:, None] + np.arange(N_TERMS)
    rows = np.arange(n_obs)[:, None]

    def residuals(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_p, grad = _log_model(p[z_at:].reshape(n_groups, N_TERMS)[owner], rel)
        out = jac.copy()
        out[rows, obs_cols] = grad / hyper.noise
        return np.concatenate([(log_p - log_y) / hyper.noise, prior @ p - offset]), out

    start = [center] * (1 + n_means) + [_level_start(center, rel, y) for rel, y in groups]
    p, final = levenberg_marquardt(residuals, np.concatenate(start))
    # Laplace approximation: the posterior covariance of a mean is a block of the inverse Hessian.
    at = N_TERMS * (1 + means.index(target)) if target in means else 0
    cov = np.linalg.pinv(final.T @ final)[at : at + N_TERMS, at : at + N_TERMS]
    return p[at : at + N_TERMS], cov


def configuration_prior(
    groups: Sequence[tuple[np.ndarray, np.ndarray]],
    hyper: Hyper,
    center: np.ndarray,
    settings: Sequence[str | None] = (),
    target: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The prior ``(mean, cov)`` of a new configuration in setting ``target``
    (:func:`fit_hierarchy`, with the spread around the mean it is drawn around)."""
    mean, mean_cov = fit_hierarchy(groups, hyper, center, settings, target)
    shared = bool(groups) and target in shared_settings(settings or [None] * len(groups), target, hyper)
    return mean, (within_spread(hyper) if shared else spread(hyper)) + mean_cov
