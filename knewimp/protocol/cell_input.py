"""A cell's input: the complete standardised matrix and the mask drawn from the cell's seed.

The mask depends only on (dataset, mechanism, options, missing rate, seed), so every method of a
cell sees the same missing entries.
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


def make_cell_input(dataset: str, mechanism: str, missing_rate: float, seed: int, data_dir=None,
                    download: bool | None = None, mechanism_options: dict | None = None):
    """(complete standardised matrix, mask) of a cell; True in the mask marks a missing entry.
    A mask that cannot be drawn as asked raises :class:`MaskError` naming the dataset and seed too."""
    X = standardise(load_dataset(dataset, data_dir=data_dir, download=download))
    try:
        mask = ampute(X, mechanism, missing_rate, np.random.default_rng(seed), **(mechanism_options or {}))
    except MaskError as exc:
        raise MaskError(f"dataset={dataset} seed={seed} {exc}") from None
    return X, mask


def mask_digest(mask: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of a mask's shape and bits: equal digests prove equal masks."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    h = hashlib.sha256(f"{mask.shape[0]}x{mask.shape[1]}:".encode())
    h.update(np.packbits(mask, axis=None).tobytes())
    return h.hexdigest()[:16]
