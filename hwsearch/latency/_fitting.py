"""The numerics of the few-shot predictor: a hierarchical (empirical Bayes) fit in log space.

Parameters are ``z_j = log T_j``, the log of each term's milliseconds on the reference
network (see :mod:`hwsearch.latency._features`); a prediction sums each layer's work
``sum_j exp(z_j) r_lj``, held above the per-layer floor, and the fixed cost.

* A **configuration** (one device in one runtime setting) has ``z ~ N(mu, S)``: the family's
  mean shape ``mu`` and a spread ``S = shape_sd^2 * diag(1, 1, s, s, s) + LEVEL_SD^2 * 11'``.
  The last part leaves the overall level free (a factor e^10), so one point always sets
  it; ``s = secondary^2`` says how much more (or less) the small terms vary than the two
  primary ones (MACs and activations), which is what a second point moves.
* A **figure** has relative noise ``noise``: ``log t ~ N(log prediction, noise^2)``.
* The **family** fit estimates ``mu`` jointly with every configuration's ``z_g`` (a MAP
  estimate of the hierarchical model, by Levenberg-Marquardt), starting from a weak
  structural guess. Its covariance says how firmly the configurations pin ``mu``.
* A **device** fit is the MAP of its own ``z`` under ``N(mu, S + cov(mu))``.

``shape_sd``, ``secondary`` and ``noise`` are chosen by cross-validation over the family's
configurations (:mod:`hwsearch.latency._crossval`), not set by hand.
"""

from __future__ import annotations

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
    family's), ``secondary`` (multiplier for the weights, layers and network terms) and ``noise``
    (relative noise of one figure)."""

    shape_sd: float
    secondary: float
    noise: float

    def label(self) -> str:
        """``shape sd 0.6, secondary x3, noise 5%``."""
        return f"shape sd {self.shape_sd:g}, secondary x{self.secondary:g}, noise {self.noise:.0%}"


def spread(hyper: Hyper) -> np.ndarray:
    """The covariance ``S`` of one configuration's ``z`` around the family mean."""
    scale = np.where(PRIMARY, 1.0, hyper.secondary) * hyper.shape_sd
    return np.diag(scale**2) + LEVEL_SD**2 * np.ones((N_TERMS, N_TERMS))


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


def fit_hierarchy(
    groups: Sequence[tuple[np.ndarray, np.ndarray]], hyper: Hyper, center: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The family mean ``mu`` and its covariance from configurations ``(rel, latency_ms)``.

    With no configurations the structural ``center`` stands, as uncertain as :data:`CENTER_SD`.
    """
    center_cov = np.eye(N_TERMS) * CENTER_SD**2
    if not groups:
        return center.copy(), center_cov
    root, center_root = _root(spread(hyper)), _root(center_cov)
    n_groups = len(groups)
    rel = stack([r for r, _ in groups])
    log_y = np.log(np.concatenate([y for _, y in groups]))
    owner = np.concatenate([np.full(len(y), g) for g, (_, y) in enumerate(groups)])
    n_obs, width = len(log_y), N_TERMS * (n_groups + 1)
    # Column of each observation's parameters in p = [mu, z_1, ..., z_G]: one block per group.
    obs_cols = N_TERMS * (owner[:, None] + 1) + np.arange(N_TERMS)
    block = np.kron(np.eye(n_groups), root)  # the prior rows: root @ (z_g - mu) for every group
    jac = np.zeros((n_obs + N_TERMS * n_groups + N_TERMS, width))
    jac[n_obs : n_obs + N_TERMS * n_groups, N_TERMS:] = block
    jac[n_obs : n_obs + N_TERMS * n_groups, :N_TERMS] = -np.tile(root, (n_groups, 1))
    jac[n_obs + N_TERMS * n_groups :, :N_TERMS] = center_root
    rows = np.arange(n_obs)[:, None]

    def residuals(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, z = p[:N_TERMS], p[N_TERMS:].reshape(n_groups, N_TERMS)
        log_p, grad = _log_model(z[owner], rel)
        out = jac.copy()
        out[rows, obs_cols] = grad / hyper.noise
        data = (log_p - log_y) / hyper.noise
        return np.concatenate([data, block @ (z - mu).ravel(), center_root @ (mu - center)]), out

    start = [center] + [_level_start(center, rel, y) for rel, y in groups]
    p, jac = levenberg_marquardt(residuals, np.concatenate(start))
    # Laplace approximation: the posterior covariance of mu is a block of the inverse Hessian.
    cov = np.linalg.pinv(jac.T @ jac)[:N_TERMS, :N_TERMS]
    return p[:N_TERMS], cov
