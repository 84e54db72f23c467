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

from knewimp.protocol.amputation import MaskError, ampute
from knewimp.protocol.datasets import load_dataset


def standardise(X: np.ndarray) -> np.ndarray:
    """Z-scores fitted on the complete matrix (the protocol's scaling); constant columns are only
    centred."""
    return StandardScaler().fit_transform(X)


def subsample_rows(X: np.ndarray, n_rows: int | None, seed: int) -> np.ndarray:
    """The first ``n_rows`` rows of a permutation drawn from ``seed`` (kept in the file's order):
    fixed per seed, and nested (a seed's 1,000 rows are among its 2,000). None: all rows."""
    if n_rows is None:
        return X
    if not 1 <= int(n_rows) <= X.shape[0]:
        raise ValueError(f"n_rows={n_rows!r}: must be between 1 and the dataset's {X.shape[0]} rows")
    order = np.random.default_rng([int(seed), 0x5CA1E]).permutation(X.shape[0])  # a stream apart from the mask's
    return X[np.sort(order[:int(n_rows)])]


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
                    scaling: str = SCALINGS[0], n_rows: int | None = None):
    """(standardised matrix, mask) of a cell; True in the mask marks a missing entry.
    ``scaling``: one of :data:`SCALINGS` (see the module docstring). ``n_rows`` keeps a row
    subsample (:func:`subsample_rows`), standardised on its own. A mask that cannot be drawn as
    asked raises :class:`MaskError` naming the dataset and seed too."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r}: must be one of {', '.join(SCALINGS)}")
    raw = subsample_rows(load_dataset(dataset, data_dir=data_dir, download=download), n_rows, seed)
    X = standardise(raw)
    try:
        mask = ampute(X, mechanism, missing_rate, np.random.default_rng(seed), **(mechanism_options or {}))
    except MaskError as exc:
        raise MaskError(f"dataset={dataset} seed={seed} {exc}") from None
    if scaling == "observed":
        X = standardise_observed(raw, mask)
    return X, mask


def mask_digest(mask: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of a mask's shape and bits: equal digests prove equal masks."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    h = hashlib.sha256(f"{mask.shape[0]}x{mask.shape[1]}:".encode())
    h.update(np.packbits(mask, axis=None).tobytes())
    return h.hexdigest()[:16]
