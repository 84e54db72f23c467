"""The fast blocked particle update and the closed-form score against plain oracles."""
import numpy as np
import pytest
import torch

from knewimp.kernels import RBFDirection, auto_block_size
from knewimp.reference import naive_direction
from knewimp.score import EnergyMLP, dsm_loss


def oracle_direction(X, S, h, lam):
    """G = -(K S - lam R) / n straight from the formulas, with explicit n x n (x d) arrays.

    K_ij = exp(-||x_i - x_j||^2 / (2 h^2)),  R_i = sum_j K_ij (x_i - x_j) / h^2.
    """
    n = X.shape[0]
    diff = X[:, None, :] - X[None, :, :]                  # (n, n, d): x_i - x_j
    K = np.exp(-(diff**2).sum(axis=2) / (2 * h**2))       # (n, n)
    R = (K[:, :, None] * diff).sum(axis=1) / h**2         # (n, d)
    return -(K @ S - lam * R) / n


def _particles(n=23, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 0.6   # scale ~ bandwidth so the kernel is far from 0 and 1
    S = rng.normal(size=(n, d))
    return X, S


@pytest.mark.parametrize("block_size", [1, 4, 7, 10, 23, 100, None])
@pytest.mark.parametrize("lam", [10.0, 0.0, -1.0])
def test_blocked_direction_matches_oracle_all_rows(block_size, lam):
    X, S = _particles()
    expected = oracle_direction(X, S, 0.5, lam)
    got = RBFDirection(0.5, lam, block_size)(torch.tensor(X), torch.tensor(S)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("block_size", [1, 3, 5, None])
def test_blocked_direction_matches_oracle_on_row_subset(block_size):
    X, S = _particles(n=31, d=4, seed=1)
    rows = np.array([0, 2, 3, 7, 11, 19, 30])
    expected = oracle_direction(X, S, 0.7, 10.0)[rows]
    fn = RBFDirection(0.7, 10.0, block_size)
    got = fn(torch.tensor(X), torch.tensor(S), torch.tensor(rows)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
    # buffers are reused: a second call with other data must not see stale values
    X2, S2 = _particles(n=31, d=4, seed=2)
    got2 = fn(torch.tensor(X2), torch.tensor(S2), torch.tensor(rows)).numpy()
    np.testing.assert_allclose(got2, oracle_direction(X2, S2, 0.7, 10.0)[rows], rtol=1e-10, atol=1e-13)


def test_reference_style_direction_matches_oracle():
    X, S = _particles(n=17, d=5)
    got = naive_direction(torch.tensor(X), torch.tensor(S), 0.5, 3.0).numpy()
    np.testing.assert_allclose(got, oracle_direction(X, S, 0.5, 3.0), rtol=1e-10, atol=1e-13)


def test_entropy_weight_sign_pulls_particles_together():
    # With zero scores only the entropy term acts: lambda > 0 must shrink the spread.
    X, _ = _particles(n=40, d=2)
    S = np.zeros_like(X)
    for lam, shrinks in ((10.0, True), (-10.0, False)):
        G = RBFDirection(0.5, lam)(torch.tensor(X), torch.tensor(S)).numpy()
        moved = X - 0.05 * G   # one gradient-descent step, as the particle optimiser takes
        assert (moved.var(axis=0).sum() < X.var(axis=0).sum()) == shrinks


def test_auto_block_size_bounds_memory():
    assert auto_block_size(50_000, 50_000, 8) * 50_000 * 8 <= 32 * 2**20
    assert auto_block_size(10, 50, 8) == 10
    assert auto_block_size(5, 10**12, 8) == 1


def test_closed_form_score_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    net = EnergyMLP(5, (16, 8, 12), generator=gen)
    with torch.no_grad():
        for beta in net.betas:   # non-trivial slopes so that the beta terms are exercised
            beta.uniform_(0.3, 2.0, generator=gen)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(net.score(x), net.score_autograd(x), rtol=1e-12, atol=1e-12)


def test_closed_form_dsm_gradients_match_double_backward():
    gen = torch.Generator().manual_seed(1)
    net = EnergyMLP(3, (16, 16), generator=gen)
    x = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    v = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    grads = []
    for closed in (True, False):
        net.zero_grad()
        dsm_loss(net, x, v, 0.1, closed_form=closed).backward()
        # the output bias does not enter the score, so it has no gradient on either path
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- the other kernels (Table F.6)
from knewimp.kernels import KERNELS, KernelDirection, make_direction  # noqa: E402
from knewimp.reference import naive_kernel_direction  # noqa: E402


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("block_size", [1, 5, None])
@pytest.mark.parametrize("lam", [10.0, 0.0, -1.0])
def test_every_kernel_blocked_direction_matches_autograd_oracle(kernel, block_size, lam):
    X, S = _particles(n=19, d=3, seed=4)
    X, S = torch.tensor(X), torch.tensor(S)
    rows = torch.tensor([0, 3, 4, 9, 18])
    expected = naive_kernel_direction(X, S, kernel, lam, bandwidth=0.7)
    fn = make_direction(kernel, 0.7, lam, block_size)
    torch.testing.assert_close(fn(X, S), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fn(X, S, rows), expected[rows], rtol=1e-10, atol=1e-12)


def test_rbf_autograd_oracle_agrees_with_the_formula_oracle():
    X, S = _particles(n=13, d=2, seed=5)
    got = naive_kernel_direction(torch.tensor(X), torch.tensor(S), "rbf", 3.0, bandwidth=0.5).numpy()
    np.testing.assert_allclose(got, oracle_direction(X, S, 0.5, 3.0), rtol=1e-10, atol=1e-13)


def test_make_direction_rbf_is_the_rbf_evaluator_and_unknown_kernels_are_refused():
    assert isinstance(make_direction("rbf", 0.5, 10.0), RBFDirection)
    assert isinstance(make_direction("sin", 0.5, 10.0), KernelDirection)
    with pytest.raises(ValueError, match="unknown kernel 'laplace'"):
        make_direction("laplace", 0.5, 10.0)
