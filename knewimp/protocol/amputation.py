"""Amputation: draw a missingness mask for a complete matrix.

Semantics of the rmisstastic / MissingDataOT ``produce_NA`` family that the KnewImp reference code
calls (hyperimpute's ``simulate_nan``, ``opt='logistic'``, ``p_obs=0.5``), re-expressed with an
explicit :class:`numpy.random.Generator` so that a cell's seed alone decides its mask.

Every function returns a boolean mask, True where the entry is MISSING.

At high rates (docs/rates.md): MAR keeps ``max(int(p_obs d), 1)`` columns fully observed, so its
realised rate is about ``rate * (d - d_obs) / d`` (about 40% when 80% is asked); MCAR and MNAR
reach the asked rate, and rows with no observed entry become common on narrow data (d = 4 at
80%: about 0.8^4 of the rows). Such rows are kept, as at 30%: dropping them would change the
data a method sees and the rows WASS is computed on. What :func:`ampute` refuses instead
(:class:`MaskError`, one line naming the values) is a mask that cannot be drawn as asked: a
logistic rate no intercept reaches, a column left with no observed entry (nothing to impute it
from), a mask with no missing entry (nothing to score). It never thins or redraws a mask, so every
mask it returns is the one the seed draws.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import bisect

from knewimp.vocab import MECHANISMS


class MaskError(ValueError):
    """The mask asked for cannot be drawn as asked; the message names mechanism, rate and why."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logistic_weights(X_in: np.ndarray, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform(0, 1) weights, each output column rescaled so that ``X_in @ W`` has unit std."""
    W = rng.random((X_in.shape[1], n_out))
    std = (X_in @ W).std(axis=0)
    return W / np.where(std > 0, std, 1.0)


def _intercepts(Z: np.ndarray, rate: float) -> np.ndarray:
    """Per column j, the b solving mean_i sigmoid(Z_ij + b) = rate (bisection on [-50, 50])."""
    out = []
    for j, z in enumerate(Z.T):
        f = lambda b, z=z: _sigmoid(z + b).mean() - rate  # noqa: E731
        if f(-50.0) > 0 or f(50.0) < 0:
            raise MaskError(f"missing_rate={rate!r}: logistic column {j} reaches only "
                            f"[{f(-50.0) + rate:.4g}, {f(50.0) + rate:.4g}] with an intercept in [-50, 50]")
        out.append(bisect(f, -50.0, 50.0))
    return np.array(out)


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
    try:
        mask = _FUNCS[mechanism](X, float(rate), rng, **options)
    except MaskError as exc:
        raise MaskError(f"mechanism={mechanism} {exc}") from None
    check_drawn(mask, mechanism, rate)
    return mask


def check_drawn(mask: np.ndarray, mechanism: str, rate: float) -> None:
    """Raise :class:`MaskError` if ``mask`` leaves a column with no observed entry or has no
    missing entry: a cell on it could not be imputed or not be scored."""
    empty = np.flatnonzero(mask.all(axis=0))
    if empty.size:
        raise MaskError(f"mechanism={mechanism} missing_rate={rate!r}: column(s) {', '.join(map(str, empty[:5]))} "
                        f"of {mask.shape[1]} left with no observed entry in {mask.shape[0]} rows; the mask cannot "
                        "be drawn as asked (it is never thinned)")
    if not mask.any():
        raise MaskError(f"mechanism={mechanism} missing_rate={rate!r}: no entry of the {mask.shape[0]} x "
                        f"{mask.shape[1]} matrix drawn missing; nothing to impute or score")
