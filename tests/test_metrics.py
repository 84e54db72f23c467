import itertools

import numpy as np
import pytest

from knewimp.protocol.metrics import mae, rmse, wass


def brute_force_wass(A, B):
    m = len(A)
    cost = 0.5 * ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    # With uniform equal weights an optimal plan is a permutation (Birkhoff-von Neumann).
    return min(cost[np.arange(m), list(p)].sum() for p in itertools.permutations(range(m))) / m


@pytest.mark.parametrize("seed", range(4))
def test_wass_equals_brute_force_assignment(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(9, 3))
    mask = np.zeros_like(X, dtype=bool)
    mask[rng.choice(9, 6, replace=False), rng.integers(0, 3, 6)] = True
    X_imp = X + rng.normal(size=X.shape) * mask
    rows = mask.any(1)
    value, method = wass(X, X_imp, mask)
    assert method == "exact"
    assert value == pytest.approx(brute_force_wass(X_imp[rows], X[rows]), rel=1e-10)


def test_wass_approximation_is_named():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    mask = rng.random(X.shape) < 0.5
    value, method = wass(X, X + 0.1 * mask, mask, max_rows=10)
    assert method.startswith("sinkhorn") and value > 0


def test_mae_rmse_only_on_missing_entries():
    X = np.zeros((3, 2))
    X_imp = np.array([[1.0, 100.0], [0.0, 0.0], [-3.0, 0.0]])
    mask = np.array([[True, False], [True, False], [True, False]])
    assert mae(X, X_imp, mask) == pytest.approx(4 / 3)
    assert rmse(X, X_imp, mask) == pytest.approx(np.sqrt(10 / 3))
