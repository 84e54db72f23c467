"""A cell's input: the complete standardised matrix and the mask drawn from the cell's seed.

The mask depends only on (dataset, mechanism, options, missing rate, seed), so every method of a
cell sees the same missing entries.

Scaling (``scaling``, :data:`SCALINGS`):

* ``complete`` (the paper's protocol, as the authors' code does it, and the default): z-scores
  with the complete matrix's column means and standard deviations, taken before masking. It is
  the protocol's one look at the truth: a method that fills with zero starts at the true column
  mean, which matters under MNAR.
* ``observed``: the same mask (drawn as under ``complete``, so the two protocols compare on the
  same missing entries), then z-scores with each column's mean and standard deviation over its
  observed entries only. Metrics are then in those units, the units the methods saw.
"""
from __future__ import annotations

import hashlib

import numpy as np
from sklearn.preprocessing import StandardScaler

from knewimp.protocol.amputation import ampute
from knewimp.protocol.datasets import load_dataset


def standardise(X: np.ndarray) -> np.ndarray:
    """Z-scores fitted on the complete matrix (the protocol's scaling); constant columns are only
    centred."""
    return StandardScaler().fit_transform(X)


#: How a cell's data is scaled; the first is the default (the paper's protocol).
SCALINGS = ("complete", "observed")


def standardise_observed(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Z-scores with each column's mean and (population) standard deviation over its observed
    entries (``mask`` False); a column with no spread among them (or fewer than one observed
    entry) is only centred, as :func:`standardise` does for a constant column."""
    X = np.asarray(X, dtype=float)
    obs = np.where(mask, np.nan, X)
    if np.all(mask, axis=0).any():
        raise ValueError("a column has no observed entry: it cannot be scaled on observed entries")
    mean = np.nanmean(obs, axis=0)
    std = np.nanstd(obs, axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X - mean) / std


def make_cell_input(dataset: str, mechanism: str, missing_rate: float, seed: int, data_dir=None,
                    download: bool | None = None, mechanism_options: dict | None = None,
                    scaling: str = SCALINGS[0]):
    """(standardised matrix, mask) of a cell; True in the mask marks a missing entry.
    ``scaling``: one of :data:`SCALINGS` (see the module docstring)."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r}: must be one of {', '.join(SCALINGS)}")
    raw = load_dataset(dataset, data_dir=data_dir, download=download)
    X = standardise(raw)
    mask = ampute(X, mechanism, missing_rate, np.random.default_rng(seed), **(mechanism_options or {}))
    if scaling == "observed":
        X = standardise_observed(raw, mask)
    return X, mask


def mask_digest(mask: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of a mask's shape and bits: equal digests prove equal masks."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    h = hashlib.sha256(f"{mask.shape[0]}x{mask.shape[1]}:".encode())
    h.update(np.packbits(mask, axis=None).tobytes())
    return h.hexdigest()[:16]
