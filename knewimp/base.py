"""The one interface every imputer in this project follows, and the checks it shares.

Library code only: nothing here knows about Hydra, records or the harness.
"""
from __future__ import annotations

import warnings

import numpy as np


class ImputationError(RuntimeError):
    """An imputer could not produce a valid completion (diverged, NaN/Inf, ...)."""


def resolve_device(device: str | None = "auto") -> str:
    """Map ``"auto"`` to ``"cuda"`` when a GPU is visible, else ``"cpu"``; validate the rest."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asked for but no CUDA GPU is visible; use 'cpu' or 'auto'")
        return device
    raise ValueError(f"unknown device {device!r}; valid choices: 'auto', 'cpu', 'cuda', 'cuda:N'")


def check_counts(**counts: int) -> None:
    """Refuse any count argument below 1, naming it: ``check_counts(n_iter=n_iter, ...)``."""
    for name, value in counts.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value!r}")


def check_missing_matrix(X) -> np.ndarray:
    """Validate a matrix with NaN for missing values and return it as a float64 copy.

    Refuses non-numeric input, non-2D input, +/-Inf, and columns with no observed value
    (nothing can be learned about them). Missing entries are NaN.
    """
    try:
        arr = np.array(X, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"input must be numeric (NaN for missing values): {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"input must be a 2-D matrix (rows x columns), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"input needs at least 2 rows and 1 column, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("input contains +/-Inf; only NaN may mark a missing value")
    empty = np.flatnonzero(np.isnan(arr).all(axis=0))
    if empty.size:
        raise ValueError(f"column(s) {empty.tolist()} are entirely missing; drop them before imputing")
    return arr


#: An imputation farther than this many times the largest observed |z| (per-column z-scores of the
#: observed entries) is a blow-up, not an estimate (the rule the diffusion baselines use internally).
DIVERGENCE_FACTOR = 10.0


def check_in_range(X: np.ndarray, mask: np.ndarray, filled: np.ndarray, who: str = "imputer") -> None:
    """Refuse a completion with imputations far outside the observed data.

    Each column is put on the z scale of its observed entries, ``z = (x - mean_j) / sd_j`` (``sd_j``
    taken as 1 for a constant column); the limit is ``DIVERGENCE_FACTOR * max(1, max |z_obs|)``
    over all observed entries, and an imputed ``|z|`` beyond it raises :class:`ImputationError`
    naming how many entries, the largest ``|z|`` and its column. Bounded methods (column means,
    regressions on observed ranges) stay far inside; a diverged step size does not.
    """
    obs = np.where(mask, np.nan, X)
    mean = np.nanmean(obs, axis=0)
    sd = np.nanstd(obs, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z_obs = np.abs((obs - mean) / sd)
    limit = DIVERGENCE_FACTOR * max(1.0, float(np.nanmax(z_obs)))
    z_imp = np.where(mask, np.abs((filled - mean) / sd), 0.0)
    over = z_imp > limit
    if over.any():
        row, col = np.unravel_index(int(np.argmax(z_imp)), z_imp.shape)
        raise ImputationError(
            f"{who} imputations out of range: {int(over.sum())} of {int(mask.sum())} imputed entries beyond "
            f"{DIVERGENCE_FACTOR:g}x the largest observed |z| ({limit:.3g}); largest |z| {z_imp[row, col]:.3g} "
            f"in column {col} (z: the column's observed mean and sd)")


class BaseImputer:
    """Scikit-learn style imputer: ``fit_transform(X)`` returns X with every NaN filled.

    Subclasses implement ``_impute(X, mask)`` where ``X`` is a validated float64 copy with NaN
    at ``mask`` (True = missing) and return a full matrix; this class merges the observed
    entries back bit-for-bit (``x_hat = m * x_obs + (1 - m) * prediction``) and refuses a
    completion containing NaN or Inf, or imputations far outside the observed range
    (:func:`check_in_range`).
    """

    #: True for imputers that never touch torch (numpy / scikit-learn): they run on the CPU
    #: whatever ``device`` says, and a record must say so.
    cpu_only = False

    def __init__(self, random_state: int | None = None, device: str = "auto"):
        self.random_state = random_state
        self.device = device

    def compute_device(self) -> str:
        """The device the imputation actually runs on; validates ``device`` either way."""
        resolved = resolve_device(self.device)
        return "cpu" if self.cpu_only else resolved

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")}

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.random_state)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fill the NaN entries of ``X``; observed entries are returned unchanged."""
        X = check_missing_matrix(X)
        mask = np.isnan(X)
        if not mask.any():
            warnings.warn("input has no missing values; returning it unchanged", stacklevel=2)
            return X
        filled = np.asarray(self._impute(X.copy(), mask), dtype=np.float64)
        if filled.shape != X.shape:
            raise ImputationError(f"{type(self).__name__} returned shape {filled.shape}, expected {X.shape}")
        if not np.isfinite(filled[mask]).all():
            raise ImputationError(f"{type(self).__name__} produced NaN or Inf imputations")
        check_in_range(X, mask, filled, type(self).__name__)
        out = X.copy()
        out[mask] = filled[mask]
        return out
