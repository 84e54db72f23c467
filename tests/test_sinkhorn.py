import math

import numpy as np
import ot
import pytest
import torch
from conftest import mae, mean_fill

from knewimp.baselines.sinkhorn import SinkhornImputer, _LastStep, pick_blur, sinkhorn_divergence

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


def _plain_divergence(x, y, blur, scaling):
    # the batch step written out plainly (torch.logsumexp, fresh tensors, exp left to underflow)
    B = len(x)
    log_w = -math.log(B)

    def cost(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / 2

    def softmin(eps, C, h):
        return -eps * torch.logsumexp(log_w + (h[:, None, :] - C) / eps, dim=2)

    C = torch.stack([cost(x, y.detach()), cost(y, x.detach()), cost(x, x.detach()), cost(y, y.detach())])
    with torch.no_grad():
        both = torch.cat([x, y]).detach()
        diameter = max(float((both.max(0).values - both.min(0).values).norm()), blur)
        logs = np.arange(2 * math.log(diameter), 2 * math.log(blur), 2 * math.log(scaling))
        eps_list = [diameter**2] + [math.exp(e) for e in logs] + [blur**2]
        pot = softmin(eps_list[0], C.detach(), torch.zeros(4, B, dtype=x.dtype))
        for eps in eps_list:
            pot = (pot + softmin(eps, C.detach(), pot[[1, 0, 2, 3]])) / 2
    f_ba, g_ab, f_aa, g_bb = softmin(eps_list[-1], C, pot[[1, 0, 2, 3]])
    return (f_ba - f_aa).mean() + (g_ab - g_bb).mean()


@pytest.mark.parametrize("blur", [0.7, 0.05])  # 0.05: most of exp's arguments far below -745
def test_divergence_and_gradient_match_the_plain_step(blur):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(24, 3)) * 2, rng.normal(size=(24, 3)) * 2 + 0.5
    y[:4] = x[:4]  # rows drawn in both batches: zero costs off the x->x, y->y diagonals
    vals, grads = [], []
    for f in (sinkhorn_divergence, _plain_divergence):
        xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        val = f(xt, yt, blur, 0.9)
        val.backward()
        vals.append(val.item())
        grads.append(torch.cat([xt.grad, yt.grad]).numpy())
    assert vals[0] == pytest.approx(vals[1], rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-11, atol=1e-14)


def test_last_step_gives_torch_logsumexps_value_and_autograds_gradient():
    # the last step floors exp's arguments at -700 (the same doubles as torch.logsumexp) and
    # differentiates in closed form (against autograd through the costs)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(24, 3)) * 2, rng.normal(size=(24, 3)) * 2 + 0.5
    y[:4] = x[:4]
    h = torch.tensor(rng.normal(size=(4, 24)))
    for eps in (0.5, 0.003):  # 0.003: exp's arguments down to about -1e4, many around -720
        log_w = -math.log(24)
        xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        pairs = ((xt, yt), (yt, xt), (xt, xt), (yt, yt))
        C = torch.stack([((p[:, None] - q[None].detach()) ** 2).sum(-1) / 2 for p, q in pairs])
        f_ba, g_ab, f_aa, g_bb = -eps * torch.logsumexp(log_w + (h[:, None, :] - C) / eps, dim=-1)
        plain = (f_ba - f_aa).mean() + (g_ab - g_bb).mean()
        plain.backward()
        xf, yf = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        b = torch.stack([yf, xf, xf, yf]).detach()
        fast = _LastStep.apply(torch.stack([xf, yf, xf, yf]), b, C.detach(), h, eps, log_w)
        fast.backward()
        assert torch.equal(fast, plain)
        for g_fast, g_plain in ((xf.grad, xt.grad), (yf.grad, yt.grad)):
            np.testing.assert_allclose(g_fast.numpy(), g_plain.numpy(), rtol=1e-10, atol=1e-14)


def test_imputer_matches_the_plain_loop():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)) * 3
    mask = rng.random(X.shape) < 0.3
    Xm = np.where(mask, np.nan, X)
    kw = dict(n_iter=6, batch_size=16, lr=0.05, noise=0.1, random_state=3)
    imp = SinkhornImputer(**kw, standardize=False, device="cpu")
    out = imp.fit_transform(Xm)
    # the plain loop: same draws, torch.optim.RMSprop over the whole matrix
    r = np.random.default_rng(3)
    means = np.nanmean(Xm, axis=0)
    filled = np.where(mask, means, Xm)
    blur = pick_blur(filled, 0.5, 0.05, 2000, r)
    Z = torch.nn.Parameter(torch.tensor(np.where(mask, means + 0.1 * r.standard_normal(X.shape), Xm)))
    opt = torch.optim.RMSprop([Z], lr=0.05)
    M, X_obs = torch.tensor(mask), torch.tensor(filled)
    for _ in range(6):
        idx = torch.tensor(np.concatenate([r.choice(40, 16, replace=False), r.choice(40, 16, replace=False)]))
        rows = torch.where(M[idx], Z[idx], X_obs[idx])
        loss = _plain_divergence(rows[:16], rows[16:], blur, 0.9)
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(out, Z.detach().numpy(), rtol=1e-12, atol=1e-12)
