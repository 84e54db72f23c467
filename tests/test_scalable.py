"""KnewImp's O(n) kernel option: off by default (today's run bit for bit), exact in its limits,
unbiased, seeded by the imputer, and refused with one-line errors when misconfigured."""
import numpy as np
import pytest
import torch

from knewimp.imputer import KnewImputer
from knewimp.kernels import RBFDirection
from knewimp.scalable_kernels import KNNDirection, MinibatchDirection

TINY = dict(n_outer=2, score_epochs=5, n_steps=6, hidden=(8, 8), device="cpu")
# The first ten imputations of _tiny() with the default options, computed before `approx` existed.
BEFORE_APPROX = [0.4195519719166913, 0.22083433567531574, 0.13071781912243474, 0.4733824409782424,
                 -0.7034832376012111, 0.21465625778107103, -0.4620524124311546, 0.19521902351816098,
                 0.9381726043471712, -0.5083049640686943]


def _tiny():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2)) @ rng.standard_normal((2, 4)) + 0.1 * rng.standard_normal((40, 4))
    X[rng.random(X.shape) < 0.3] = np.nan
    return X


def test_the_default_is_the_exact_kernel_as_before():
    X = _tiny()
    default = KnewImputer(random_state=0, **TINY).fit_transform(X)
    unused = KnewImputer(random_state=0, approx=None, approx_size=3, approx_refresh=2, **TINY).fit_transform(X)
    assert np.array_equal(default, unused), "approx_size / approx_refresh must do nothing without approx"
    np.testing.assert_allclose(default[np.isnan(X)][:10], BEFORE_APPROX, rtol=0, atol=1e-12)


def _particles(n=120, d=4, seed=0, spread=0.4):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * spread
    return X, torch.randn(n, d, generator=g, dtype=torch.float64), torch.arange(0, n, 3)


def test_knn_with_every_particle_and_minibatch_with_all_are_the_exact_direction():
    X, S, rows = _particles()
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    knn = KNNDirection(0.5, 10.0, k=len(X), refresh=5, block_size=7)(X, S, rows)
    full = MinibatchDirection(0.5, 10.0, m=len(X), generator=torch.Generator().manual_seed(1), block_size=7)(X, S, rows)
    torch.testing.assert_close(knn, exact, rtol=0, atol=1e-12)
    torch.testing.assert_close(full, exact, rtol=0, atol=1e-12)


def test_knn_drops_only_far_particles_and_refreshes_on_schedule():
    # spread out against the bandwidth, as z-scored rows of several columns are: the kernel is local
    X, S, rows = _particles(n=300, d=2, spread=4.0)
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    direction = KNNDirection(0.5, 10.0, k=60, refresh=3)
    err = float((direction(X, S, rows) - exact).norm() / exact.norm())
    assert err < 1e-3
    for _ in range(5):
        direction(X, S, rows)
    assert direction.refreshes == 2  # calls 0 and 3 of 6


def test_the_minibatch_estimate_is_unbiased():
    X, S, rows = _particles(n=60, d=3)
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    est = MinibatchDirection(0.5, 10.0, m=10, generator=torch.Generator().manual_seed(0))
    one = est(X, S, rows)
    mean = sum(est(X, S, rows) for _ in range(800)) / 800
    assert float((mean - exact).norm()) < 0.2 * float((one - exact).norm())


@pytest.mark.parametrize("approx", ["knn", "minibatch"])
def test_an_approximate_run_is_seeded_by_random_state_and_close_to_exact(approx):
    X = _tiny()
    kw = dict(TINY, approx=approx, approx_size=20, approx_refresh=2)
    a = KnewImputer(random_state=3, **kw).fit_transform(X)
    assert np.array_equal(a, KnewImputer(random_state=3, **kw).fit_transform(X))
    exact = KnewImputer(random_state=3, **TINY).fit_transform(X)
    assert np.isfinite(a).all() and np.abs(a - exact).max() < 0.5


@pytest.mark.parametrize("kw, message", [
    (dict(approx="rff"), "approx must be None or one of knn, minibatch; got 'rff'"),
    (dict(approx="knn", approx_size=0), "approx_size must be a positive integer; got 0"),
    (dict(approx="minibatch", approx_refresh=1.5), "approx_refresh must be an integer, got 1.5"),
    (dict(approx="knn", kernel="linear"), "approximates the rbf kernel only; got kernel='linear'"),
])
def test_a_bad_approx_option_is_one_line_before_any_compute(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        KnewImputer(**TINY, **kw).fit_transform(_tiny())
    assert "\n" not in str(info.value)
