"""Imputation metrics over the missing entries, in the standardised units of the protocol."""
from __future__ import annotations

import warnings

import numpy as np


def mae(X_true: np.ndarray, X_imp: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over the entries where ``mask`` is True."""
    return float(np.abs(X_true[mask] - X_imp[mask]).mean())


def column_mean_fill(X_true: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each masked entry filled with its column's observed mean (0 for a column with none): the
    floor every method is compared with on the same mask."""
    obs = np.where(mask, 0.0, X_true)
    counts = (~mask).sum(axis=0)
    means = np.divide(obs.sum(axis=0), counts, out=np.zeros(X_true.shape[1]), where=counts > 0)
    return np.where(mask, means, X_true)


def rmse(X_true: np.ndarray, X_imp: np.ndarray, mask: np.ndarray) -> float:
    """Root mean squared error over the entries where ``mask`` is True."""
    return float(np.sqrt(((X_true[mask] - X_imp[mask]) ** 2).mean()))


def wass(X_true: np.ndarray, X_imp: np.ndarray, mask: np.ndarray, max_rows: int | None = None,
         approx_reg: float = 0.05, row_sample: int | None = None) -> tuple[float, str]:
    """Optimal-transport cost between imputed and true rows, as the KnewImp protocol defines it.

    Over the rows with at least one missing entry (uniform weights 1/m), cost
    C_ij = ||x_i - y_j||^2 / 2 on the full rows, WASS = min_P <P, C> solved exactly with POT's
    network simplex (``ot.emd2``). Returns ``(value, method)``: ``method`` is ``"exact"``, or,
    when the row count exceeds ``max_rows`` (None: never), ``"sinkhorn(reg=...)"``, POT's entropic
    approximation with regularisation ``approx_reg`` times the median cost. ``"exact"`` becomes
    ``"exact(iteration limit)"`` if the simplex stopped before proving optimality.

    ``row_sample`` (None: off) bounds the O(m^2) cost matrix for large tables: when more than
    ``row_sample`` rows have a missing entry, WASS is taken over ``row_sample`` of them drawn
    without replacement by ``numpy.random.default_rng(0)`` (the same rows for every method of a
    cell), and ``method`` gains ``" on k of m rows"``.
    """
    import ot

    rows = np.flatnonzero(mask.any(axis=1))
    sampled = ""
    if row_sample is not None and rows.size > row_sample:
        sampled = f" on {int(row_sample)} of {rows.size} rows"
        rows = np.sort(np.random.default_rng(0).choice(rows, size=int(row_sample), replace=False))
    A, B = X_imp[rows], X_true[rows]
    m = A.shape[0]
    if m == 0:
        raise ValueError("no row has a missing entry: WASS is undefined")
    weights = np.full(m, 1.0 / m)
    cost = 0.5 * ot.dist(A, B, metric="sqeuclidean")
    if max_rows is not None and m > max_rows:
        reg = approx_reg * float(np.median(cost))
        return (float(ot.sinkhorn2(weights, weights, cost, reg, numItermax=10_000)),
                f"sinkhorn(reg={approx_reg}*median){sampled}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        value, log = ot.emd2(weights, weights, cost, numItermax=50_000_000, log=True)
    method = "exact" if log.get("warning") is None else "exact(iteration limit)"
    return float(value), method + sampled
