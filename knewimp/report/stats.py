"""Statistics for comparing imputation methods: paired tests, Holm, ranks, Friedman and Nemenyi.

All functions take plain arrays and return plain numbers, so the table and figure code stays free
of test logic and each test can be checked by hand.

* Paired t-test (the paper's test): with paired differences ``d_i = a_i - b_i`` over the seeds both
  methods have results for, ``t = mean(d) / (sd(d) / sqrt(n))`` with ``n - 1`` degrees of freedom.
* Wilcoxon signed-rank test: ranks of ``|d_i|`` (zeros dropped), ``W+ = sum of ranks of positive
  d_i``; exact null distribution for small ``n`` (scipy).
* Holm step-down: sort the ``m`` p-values ``p_(1) <= ... <= p_(m)``, adjusted
  ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``; reject where ``p~ < alpha``.
* Average ranks: in each block (a row of a blocks x methods matrix, lower is better) methods get
  ranks ``1..k`` (ties share the mean rank); ``R_j`` is method j's mean rank over the ``N`` blocks.
* Friedman: ``chi2_F = 12 N / (k (k + 1)) * (sum_j R_j^2 - k (k + 1)^2 / 4)`` with ``k - 1``
  degrees of freedom, and the Iman-Davenport ``F_F = (N - 1) chi2_F / (N (k - 1) - chi2_F)`` with
  ``(k - 1, (k - 1)(N - 1))`` degrees of freedom (Demsar 2006, JMLR 7).
* Nemenyi critical difference: ``CD = q_alpha sqrt(k (k + 1) / (6 N))`` with
  ``q_alpha = Q_{1-alpha}(k, inf) / sqrt(2)``, ``Q`` the studentized range distribution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

_ALTERNATIVES = ("less", "greater", "two-sided")


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r} is not one of {_ALTERNATIVES}")


def _paired(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and of equal length, got {a.shape} and {b.shape}")
    return a - b


def _constant_diff_p(d: np.ndarray, alternative: str) -> float | None:
    """p-value for differences that are (numerically) all equal, where the t statistic degenerates.

    All-zero differences carry no evidence (p = 1). A constant nonzero difference has zero
    variance, so t is +/-infinity: p = 0 in the direction of the difference, 1 against it.
    Returns None when the differences vary and the ordinary test applies.
    """
    scale = max(float(np.max(np.abs(d))), 1e-300)
    if np.ptp(d) > 1e-12 * scale:
        return None
    m = float(np.mean(d))
    if abs(m) <= 1e-300 or np.all(d == 0):
        return 1.0
    if alternative == "two-sided":
        return 0.0
    return 0.0 if (m < 0) == (alternative == "less") else 1.0


def paired_ttest(a, b, alternative: str = "less") -> float:
    """p-value of the paired t-test of ``a`` against ``b``; ``less``: H1 mean(a - b) < 0.

    Returns NaN with fewer than two pairs (no variance estimate exists).
    """
    _check_alternative(alternative)
    d = _paired(a, b)
    if d.size < 2:
        return float("nan")
    p = _constant_diff_p(d, alternative)
    if p is not None:
        return p
    return float(_st.ttest_rel(np.asarray(a, float), np.asarray(b, float), alternative=alternative).pvalue)


def wilcoxon_signed_rank(a, b, alternative: str = "less") -> float:
    """p-value of the Wilcoxon signed-rank test of ``a`` against ``b`` (zero differences dropped).

    Returns 1.0 when every difference is zero (no evidence) and NaN with no pairs. With ``n`` nonzero
    pairs the smallest attainable one-sided p-value is ``2**-n`` (1/32 for five seeds).
    """
    _check_alternative(alternative)
    d = _paired(a, b)
    if d.size == 0:
        return float("nan")
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    return float(_st.wilcoxon(d, alternative=alternative, zero_method="wilcox").pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as the input; NaN entries stay NaN, not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def rank_matrix(values) -> np.ndarray:
    """Per-block ranks (1 = lowest value = best), ties get their average rank. ``values``: blocks x k."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-D blocks x methods array, got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError("values contain NaN: rank only complete blocks (see complete_blocks)")
    return np.vstack([_st.rankdata(row, method="average") for row in v]) if v.shape[0] else v.copy()


def average_ranks(values) -> np.ndarray:
    """Mean rank of each method (column) over the blocks (rows); lower is better."""
    r = rank_matrix(values)
    if r.shape[0] == 0:
        return np.full(r.shape[1], np.nan)
    return r.mean(axis=0)


def complete_blocks(values) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (rows kept, columns kept) so that the kept sub-matrix has no NaN.

    Greedy: while a NaN remains, drop the row or column with the largest fraction of missing
    entries; on a tie drop the row, so a method is given up only when it is missing more often
    than any block is incomplete. Columns with no value at all are dropped first.
    """
    v = np.asarray(values, dtype=float)
    miss = np.isnan(v)
    rows = np.ones(v.shape[0], bool)
    cols = ~miss.all(axis=0) if v.shape[0] else np.ones(v.shape[1], bool)
    while rows.any() and cols.any():
        sub = miss[np.ix_(rows, cols)]
        if not sub.any():
            break
        row_frac = sub.mean(axis=1)
        col_frac = sub.mean(axis=0)
        if row_frac.max() >= col_frac.max():
            rows[np.flatnonzero(rows)[int(np.argmax(row_frac))]] = False
        else:
            cols[np.flatnonzero(cols)[int(np.argmax(col_frac))]] = False
    if not rows.any():
        cols[:] = False
    if not cols.any():
        rows[:] = False
    return rows, cols


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Critical value ``q_alpha`` of the Nemenyi test for ``k`` methods (Demsar 2006, Table 5a)."""
    if k < 2:
        raise ValueError(f"k={k}: the Nemenyi test needs at least 2 methods")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie in (0, 1)")
    return float(_st.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def nemenyi_cd(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks for ``k`` methods over ``n_blocks`` blocks."""
    if n_blocks < 1:
        raise ValueError(f"n_blocks={n_blocks}: need at least one block")
    return nemenyi_q(k, alpha) * float(np.sqrt(k * (k + 1) / (6.0 * n_blocks)))


@dataclass
class FriedmanResult:
    avg_ranks: np.ndarray
    n_blocks: int
    k: int
    chi2: float
    p_chi2: float
    iman_davenport_f: float
    p_f: float
    cd: float
    alpha: float


def friedman_nemenyi(values, alpha: float = 0.05) -> FriedmanResult:
    """Friedman test (chi-square and Iman-Davenport F) and the Nemenyi CD on a complete matrix."""
    v = np.asarray(values, dtype=float)
    n, k = v.shape
    if k < 2 or n < 2:
        raise ValueError(f"Friedman test needs >= 2 methods and >= 2 blocks, got k={k}, N={n}")
    R = average_ranks(v)
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(R ** 2)) - k * (k + 1) ** 2 / 4.0)
    p_chi2 = float(_st.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    if denom > 0:
        f = (n - 1) * chi2 / denom
        p_f = float(_st.f.sf(f, k - 1, (k - 1) * (n - 1)))
    else:  # identical rankings in every block: F_F divides by zero and is undefined
        f, p_f = float("inf"), float("nan")
    return FriedmanResult(R, n, k, float(chi2), p_chi2, float(f), p_f, nemenyi_cd(k, n, alpha), alpha)


def cliques(avg_ranks, cd: float) -> list[tuple[int, int]]:
    """Maximal runs (in rank order) of methods whose average ranks differ by less than ``cd``.

    Returns (first, last) positions into the sorted ranks; runs of one method are omitted.
    These are the bars of a critical-difference diagram.
    """
    r = np.sort(np.asarray(avg_ranks, dtype=float))
    out: list[tuple[int, int]] = []
    for i in range(r.size):
        j = i
        while j + 1 < r.size and r[j + 1] - r[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return out
