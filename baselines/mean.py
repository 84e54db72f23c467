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
