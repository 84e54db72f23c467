import numpy as np
import ot
import pytest
import torch
from conftest import mae, mean_fill

from knewimp.baselines.sinkhorn import SinkhornImputer, pick_blur, sinkhorn_divergence

QUICK = dict(n_iter=100, batch_size=64, lr=3e-2)  # configs/method_preset/sinkhorn/quick.yaml






def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    imp = SinkhornImputer(**QUICK, random_state=0, device="cpu")
    out = imp.fit_transform(Xm)
    assert mae(X, out, mask) < 0.9 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    again = SinkhornImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    np.testing.assert_array_equal(out, again)
    assert imp.n_iter_ == 100 and imp.batch_size_ == 64 and imp.blur_ > 0


def _entropic_ot(x, y, eps):
    # reference value from POT, converged: <P, C> + eps KL(P | a x b), C = |x - y|^2 / 2
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    C = ((x[:, None] - y[None]) ** 2).sum(-1) / 2
    P = ot.bregman.sinkhorn_log(a, b, C, eps, numItermax=20_000, stopThr=1e-12)
    return float((P * C).sum() + eps * (P * np.log(P / np.outer(a, b) + 1e-300)).sum())


def test_divergence_matches_pot_and_its_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 0.5
    blur = 0.7
    ref = _entropic_ot(x, y, blur**2) - _entropic_ot(x, x, blur**2) / 2 - _entropic_ot(y, y, blur**2) / 2
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    val = sinkhorn_divergence(xt, yt, blur, scaling=0.99)
    assert val.item() == pytest.approx(ref, rel=1e-3)
    val.backward()
    h = 1e-5
    e = torch.zeros_like(yt)
    e[3, 1] = h
    fd = (sinkhorn_divergence(torch.tensor(x) + e, yt, blur, 0.99) - sinkhorn_divergence(torch.tensor(x) - e, yt, blur, 0.99)) / (2 * h)
    assert xt.grad[3, 1].item() == pytest.approx(fd.item(), rel=0.05)


def test_pick_blur_is_the_scaled_median_of_halved_squared_distances():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    # nonzero halved squared distances, each pair twice: 0.5, 0.5, 2, 2, 2.5, 2.5 -> k = 3 -> 2
    assert pick_blur(X, 0.5, 0.05, 2000, np.random.default_rng(0)) == pytest.approx(0.1)


def test_batch_rule_and_bad_arguments(synthetic):
    _, Xm, _ = synthetic
    imp = SinkhornImputer(n_iter=1, batch_size=128, random_state=0)
    imp.fit_transform(Xm[:100])
    assert imp.batch_size_ == 32  # largest power of two <= n // 2, as MissingDataOT
    for kw in (dict(n_iter=0), dict(scaling=1.0), dict(blur=-1.0), dict(eps_quantile=0)):
        with pytest.raises(ValueError, match=next(iter(kw))):
            SinkhornImputer(**kw).fit(Xm)
