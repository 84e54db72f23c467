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
    (dict(approx="knn", approx_probes=0), "approx_probes must be None or a positive integer; got 0"),
    (dict(score_batch=-5), "score_batch must be None or a positive integer; got -5"),
    (dict(score_batch=2.5), "score_batch must be an integer or None, got 2.5"),
    (dict(approx="knn", approx_probes="8"), "approx_probes must be an integer or None, got '8'"),
    (dict(approx="knn", approx_far=-1), "approx_far must be a non-negative integer; got -1"),
    (dict(approx="knn", approx_far=2.5), "approx_far must be an integer, got 2.5"),
])
def test_a_bad_approx_option_is_one_line_before_any_compute(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        KnewImputer(**TINY, **kw).fit_transform(_tiny())
    assert "\n" not in str(info.value)


def _clustered(n=400, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(8, d, generator=g, dtype=torch.float64) * 4.0
    X = centres[torch.randint(8, (n,), generator=g)] + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, torch.randn(n, d, generator=g, dtype=torch.float64), torch.arange(1, n, 2)


def _sets(idx):
    return [set(row) for row in idx.tolist()]


def test_the_cluster_search_finds_the_exact_neighbours_as_probes_reach_every_cluster():
    X, S, rows = _clustered()
    exact = _sets(KNNDirection(0.5, 10.0, k=10, refresh=1).neighbours(X, X.index_select(0, rows)))
    recall = []
    for probes in (1, 3, 21):  # ceil(sqrt(400)) = 20 clusters: 21 probes search them all
        ivf = KNNDirection(0.5, 10.0, k=10, refresh=1, probes=probes, generator=torch.Generator().manual_seed(0))
        found = _sets(ivf.neighbours_ivf(X, rows))
        recall.append(np.mean([len(a & b) / 10 for a, b in zip(exact, found)]))
    assert recall[0] < recall[1] < recall[2] == 1.0
    assert recall[1] > 0.9


def test_knn_with_every_particle_is_exact_whatever_the_cluster_search():
    X, S, rows = _clustered(n=150)
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    ivf = KNNDirection(0.5, 10.0, k=len(X), refresh=5, probes=1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ivf(X, S, rows), exact, rtol=0, atol=1e-12)


def test_knn_error_falls_to_zero_as_k_grows_to_n():
    X, S, rows = _clustered(n=300)
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    errors = [float((KNNDirection(0.5, 10.0, k=k, refresh=1, probes=2, generator=torch.Generator().manual_seed(0))
                     (X, S, rows) - exact).norm() / exact.norm()) for k in (5, 20, 80, 300)]
    assert errors[0] > errors[1] > errors[2] > errors[3] and errors[3] < 1e-12


def test_a_knn_run_with_every_particle_and_every_row_per_epoch_is_the_exact_run():
    X = _tiny()
    exact = KnewImputer(random_state=0, **TINY).fit_transform(X)
    full = KnewImputer(random_state=0, approx="knn", approx_size=len(X), approx_probes=2, score_batch=len(X),
                       **TINY).fit_transform(X)
    np.testing.assert_allclose(full, exact, rtol=0, atol=1e-9)


def test_the_dsm_mini_batch_is_the_full_fit_at_n_rows_and_a_seeded_draw_below():
    X = _tiny()
    kw = dict(TINY, score_epochs=20)
    full = KnewImputer(random_state=1, **kw).fit_transform(X)
    assert np.array_equal(full, KnewImputer(random_state=1, score_batch=len(X), **kw).fit_transform(X))
    half = KnewImputer(random_state=1, score_batch=20, **kw)
    a = half.fit_transform(X)
    assert np.array_equal(a, KnewImputer(random_state=1, score_batch=20, **kw).fit_transform(X))
    assert not np.array_equal(a, full) and np.abs(a - full).max() < 0.5


def test_the_dsm_mini_batch_loss_is_an_unbiased_estimate_of_the_full_loss():
    from knewimp.score import EnergyMLP, fit_score
    x = torch.as_tensor(np.nan_to_num(_tiny()))
    losses = {}
    for batch in (None, 8):
        history = []
        for seed in range(200):  # zero epochs of learning: lr 0 keeps the network, each epoch one draw
            net = EnergyMLP(4, (8, 8), generator=torch.Generator().manual_seed(0))
            fit_score(net, x, 1, 0.1, torch.Generator().manual_seed(seed), lr=0.0, history=history, batch=batch)
        losses[batch] = (np.mean(history), np.std(history) / np.sqrt(len(history)))
    (full, se_full), (mini, se_mini) = losses[None], losses[8]
    assert abs(mini - full) < 3 * np.hypot(se_full, se_mini)
    assert se_mini > se_full  # a batch of 8 rows is the noisier estimate


def test_the_far_particles_make_knn_unbiased_and_exact_when_they_are_every_particle():
    X, S, rows = _clustered(n=200)
    exact = RBFDirection(0.5, 10.0)(X, S, rows)
    every = KNNDirection(0.5, 10.0, k=8, refresh=1, probes=2, far=len(X), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(every(X, S, rows), exact, rtol=0, atol=1e-12)
    truncated = KNNDirection(0.5, 10.0, k=8, refresh=1)(X, S, rows)
    est = KNNDirection(0.5, 10.0, k=8, refresh=10**6, far=20, generator=torch.Generator().manual_seed(0))
    one = est(X, S, rows)
    mean = sum(est(X, S, rows) for _ in range(800)) / 800
    err = {name: float((g - exact).norm() / exact.norm()) for name, g in (("truncated", truncated), ("one", one),
                                                                           ("mean", mean))}
    assert err["mean"] < 0.1 * err["one"] and err["mean"] < 0.1 * err["truncated"]
