"""Column-mean imputation: the floor every method must beat."""
from __future__ import annotations

import numpy as np

from knewimp.base import BaseImputer


class MeanImputer(BaseImputer):
    """Fill each missing entry with its column's observed mean, x_ij = mean_{k: m_kj = 0} x_kj.

    Equivariant to any per-column affine change of units, so there is no ``standardize``.
    """

    cpu_only = True

    def __init__(self, random_state: int | None = None, device: str = "auto"):
        super().__init__(random_state=random_state, device=device)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask, np.nanmean(X, axis=0, keepdims=True), X)


def check_categorical_features(features, n_columns: int) -> list[int]:
    """``categorical_features`` as a list of column indices (None: no categorical column)."""
    if features is None:
        return []
    if not isinstance(features, (list, tuple)) or not all(
            isinstance(j, (int, np.integer)) and not isinstance(j, bool) and 0 <= j < n_columns for j in features):
        raise ValueError(f"categorical_features must be a list of column indices in [0, {n_columns}), "
                         f"got {features!r}")
    return [int(j) for j in features]


def column_modes(X: np.ndarray, columns: list[int]) -> dict[int, float]:
    """The most frequent observed code of each column (ties: the smallest code)."""
    modes = {}
    for j in columns:
        values, counts = np.unique(X[~np.isnan(X[:, j]), j], return_counts=True)
        modes[j] = float(values[np.argmax(counts)])
    return modes


class MeanModeImputer(BaseImputer):
    """Column mean for numerical columns, column mode for categorical ones (the floor of a
    mixed-type table).

    ``categorical_features``: indices of the columns holding level codes (0..L-1, NaN missing);
    :class:`knewimp.categorical.MixedTypeImputer` sets it. ``None``: every column numerical (then
    this is :class:`MeanImputer`).
    """

    cpu_only = True
    #: Set by MixedTypeImputer from the table, never by a preset.
    config_optional = ("categorical_features",)

    def __init__(self, categorical_features: list[int] | None = None, random_state: int | None = None,
                 device: str = "auto"):
        super().__init__(random_state=random_state, device=device)
        self.categorical_features = categorical_features

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.categorical_features is not None:
            check_categorical_features(self.categorical_features, 10**9)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        filled = np.where(mask, np.nanmean(X, axis=0, keepdims=True), X)
        for j, mode in column_modes(X, check_categorical_features(self.categorical_features, X.shape[1])).items():
            filled[mask[:, j], j] = mode
        return filled
