"""Amputation: draw a missingness mask for a complete matrix.

Semantics of the rmisstastic / MissingDataOT ``produce_NA`` family that the KnewImp reference code
calls (hyperimpute's ``simulate_nan``, ``opt='logistic'``, ``p_obs=0.5``), re-expressed with an
explicit :class:`numpy.random.Generator` so that a cell's seed alone decides its mask.

Every function returns a boolean mask, True where the entry is MISSING.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import bisect

from knewimp.vocab import MECHANISMS


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logistic_weights(X_in: np.ndarray, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform(0, 1) weights, each output column rescaled so that ``X_in @ W`` has unit std."""
    W = rng.random((X_in.shape[1], n_out))
    std = (X_in @ W).std(axis=0)
    return W / np.where(std > 0, std, 1.0)


def _intercepts(Z: np.ndarray, rate: float) -> np.ndarray:
    """Per column j, the b solving mean_i sigmoid(Z_ij + b) = rate (bisection on [-50, 50])."""
    return np.array([bisect(lambda b, z=z: _sigmoid(z + b).mean() - rate, -50.0, 50.0) for z in Z.T])


def mcar(X: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each entry missing independently with probability ``rate``."""
    return rng.random(X.shape) < rate


def mar_logistic(X: np.ndarray, rate: float, rng: np.random.Generator, p_obs: float = 0.5) -> np.ndarray:
    """MAR: ``max(int(p_obs d), 1)`` random columns stay fully observed; each other column j is
    missing with probability sigmoid(X_obs w_j + b_j), with b_j set so the mean probability is ``rate``.
    The overall rate is therefore about ``rate * (d - d_obs) / d``."""
    n, d = X.shape
    d_obs = max(int(p_obs * d), 1)
    cols = rng.permutation(d)
    obs, nas = cols[:d_obs], cols[d_obs:]
    mask = np.zeros((n, d), dtype=bool)
    if nas.size == 0:
        return mask
    Z = X[:, obs] @ _logistic_weights(X[:, obs], nas.size, rng)
    probs = _sigmoid(Z + _intercepts(Z, rate))
    mask[:, nas] = rng.random((n, nas.size)) < probs
    return mask


def mnar_logistic(X: np.ndarray, rate: float, rng: np.random.Generator, p_params: float = 0.5) -> np.ndarray:
    """MNAR: a logistic model on ``max(int(p_params d), 1)`` input columns masks the other columns as
    in MAR, then the input columns themselves are masked MCAR with probability ``rate`` (so the
    missingness of the other columns depends on values that may be missing)."""
    n, d = X.shape
    d_in = max(int(p_params * d), 1)
    cols = rng.permutation(d)
    inputs, nas = cols[:d_in], cols[d_in:]
    mask = np.zeros((n, d), dtype=bool)
    if nas.size:
        Z = X[:, inputs] @ _logistic_weights(X[:, inputs], nas.size, rng)
        mask[:, nas] = rng.random((n, nas.size)) < _sigmoid(Z + _intercepts(Z, rate))
    mask[:, inputs] = rng.random((n, d_in)) < rate
    return mask


def mnar_self_masked(X: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """MNAR self-masked logistic: column j is missing with probability sigmoid(w_j x_j + b_j)."""
    w = rng.random(X.shape[1])
    std = (X * w).std(axis=0)
    Z = X * (w / np.where(std > 0, std, 1.0))
    return rng.random(X.shape) < _sigmoid(Z + _intercepts(Z, rate))


def mnar_quantile(X: np.ndarray, rate: float, rng: np.random.Generator, p_params: float = 0.5,
                  q: float = 0.25, cut: str = "both") -> np.ndarray:
    """MNAR quantile censoring: in ``max(int(p_params d), 1)`` random columns, entries beyond the
    q-quantile (``cut``: 'lower', 'upper' or 'both' tails) are missing with probability ``rate``."""
    if cut not in ("lower", "upper", "both"):
        raise ValueError(f"unknown cut {cut!r}; valid choices: lower, upper, both")
    n, d = X.shape
    cols = rng.permutation(d)[: max(int(p_params * d), 1)]
    Xc = X[:, cols]
    lo, hi = np.quantile(Xc, q, axis=0), np.quantile(Xc, 1 - q, axis=0)
    tail = {"lower": Xc <= lo, "upper": Xc >= hi, "both": (Xc <= lo) | (Xc >= hi)}[cut]
    mask = np.zeros((n, d), dtype=bool)
    mask[:, cols] = (rng.random((n, cols.size)) < rate) & tail
    return mask


_FUNCS = {"mcar": mcar, "mar": mar_logistic, "mnar": mnar_logistic,
          "mnar_self": mnar_self_masked, "mnar_quantile": mnar_quantile}


def ampute(X: np.ndarray, mechanism: str, rate: float, rng: np.random.Generator | int, **options) -> np.ndarray:
    """Missingness mask (True = missing) for complete ``X`` under ``mechanism`` at ``rate``.

    ``rng`` is a numpy Generator or an integer seed; ``options`` go to the mechanism (``p_obs`` for
    mar, ``p_params`` for mnar / mnar_quantile, ``q`` and ``cut`` for mnar_quantile).
    """
    if mechanism not in _FUNCS:
        raise ValueError(f"unknown mechanism {mechanism!r}; valid choices: {', '.join(MECHANISMS)}")
    if not 0.0 < float(rate) < 1.0:
        raise ValueError(f"missing rate must be in (0, 1), got {rate!r}")
    X = np.asarray(X, dtype=np.float64)
    if np.isnan(X).any():
        raise ValueError("amputation needs a complete matrix (found NaN)")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return _FUNCS[mechanism](X, float(rate), rng, **options)
