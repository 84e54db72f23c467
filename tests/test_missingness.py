import numpy as np
import pytest

from knewimp.protocol.amputation import MECHANISMS, ampute
from conftest import low_rank_matrix

X = low_rank_matrix(n=2000, d=10, rank=3, seed=5)


@pytest.mark.parametrize("mechanism,expected", [("mcar", 0.30), ("mar", 0.15), ("mnar", 0.30), ("mnar_self", 0.30)])
def test_realised_rates(mechanism, expected):
    rates = [ampute(X, mechanism, 0.3, seed).mean() for seed in range(5)]
    assert abs(np.mean(rates) - expected) < 0.02


def test_mar_keeps_exactly_half_the_columns_fully_observed():
    for seed in range(5):
        mask = ampute(X, "mar", 0.3, seed)
        assert (~mask.any(axis=0)).sum() == int(0.5 * X.shape[1])


def test_mnar_inputs_are_masked_too():
    mask = ampute(X, "mnar", 0.3, 0)
    assert mask.any(axis=0).all()


def test_mnar_quantile_only_masks_tails():
    mask = ampute(X, "mnar_quantile", 0.5, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    for j in cols:
        lo, hi = np.quantile(X[:, j], [0.25, 0.75])
        assert np.all((X[mask[:, j], j] <= lo) | (X[mask[:, j], j] >= hi))


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_same_seed_same_mask_different_seed_different_mask(mechanism):
    a, b, c = (ampute(X, mechanism, 0.3, s) for s in (7, 7, 8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_global_numpy_state_is_untouched():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    ampute(X, "mar", 0.3, 1)
    assert np.random.random() == before


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5])
def test_rate_outside_unit_interval(rate):
    with pytest.raises(ValueError, match="missing rate must be in"):
        ampute(X, "mcar", rate, 0)


def test_unknown_mechanism():
    with pytest.raises(ValueError, match="valid choices: mcar, mar, mnar"):
        ampute(X, "nmar", 0.3, 0)
