import numpy as np
import pytest
import torch
from conftest import mae, mean_fill
from knewimp.harness.methods import preset_params

from knewimp.baselines.miwae import MIWAEImputer, _MIWAE, _lgamma_half_step

QUICK = preset_params("miwae/quick")[1]


def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    out = MIWAEImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    assert mae(X, out, mask) < 0.6 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    again = MIWAEImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize("q_family", ["student_t", "gaussian"])
def test_bound_uses_only_observed_entries(synthetic, q_family):
    _, Xm, mask = synthetic
    model = _MIWAE(Xm.shape[1], 2, 16, q_family, "relu", torch.Generator().manual_seed(0), "cpu")
    m = torch.as_tensor(~mask, dtype=torch.float32)
    a = torch.as_tensor(np.nan_to_num(Xm), dtype=torch.float32)
    b = torch.as_tensor(np.where(mask, np.random.default_rng(5).normal(0, 10, Xm.shape), Xm), dtype=torch.float32)
    c = torch.as_tensor(Xm, dtype=torch.float32)  # NaN under the mask
    b.requires_grad_()
    losses = [model.neg_bound(x, m, 20, torch.Generator().manual_seed(1)) for x in (a, b, c)]
    assert torch.isfinite(losses[0])
    assert losses[0].item() == losses[1].item() == losses[2].item()
    losses[1].backward()
    assert (b.grad[torch.as_tensor(mask)] == 0).all() and (b.grad[torch.as_tensor(~mask)] != 0).any()
    # an observed value does count
    d = a.clone()
    d[torch.as_tensor(~mask)] += 1.0
    assert model.neg_bound(d, m, 20, torch.Generator().manual_seed(1)).item() != losses[0].item()


@pytest.mark.parametrize("imputation", ["mean", "sample"])
def test_both_imputation_rules_and_default_latent(synthetic, imputation):
    _, Xm, mask = synthetic
    imp = MIWAEImputer(n_epochs=2, batch_size=64, n_hidden=8, L=5, imputation=imputation, q_family="gaussian",
                       random_state=0, device="cpu")
    out = imp.fit_transform(Xm)
    assert np.isfinite(out).all()
    assert imp.latent_dim_ == Xm.shape[1] // 2 and imp.n_batches_ == len(Xm) // 64 and len(imp.bounds_) == 2


def test_seed_changes_result(synthetic):
    _, Xm, mask = synthetic
    kw = dict(n_epochs=2, n_hidden=8, L=5)
    a = MIWAEImputer(**kw, random_state=0, device="cpu").fit_transform(Xm)
    b = MIWAEImputer(**kw, random_state=1, device="cpu").fit_transform(Xm)
    assert not np.allclose(a[mask], b[mask])


@pytest.mark.parametrize("kw", [dict(n_epochs=0), dict(batch_size=0), dict(K=0), dict(L=0), dict(latent_dim=0),
                                dict(lr=0), dict(q_family="laplace"), dict(imputation="median"),
                                dict(activation="gelu")])
def test_bad_arguments_refused_at_fit(synthetic, kw):
    _, Xm, _ = synthetic
    imp = MIWAEImputer(**kw)  # the constructor only stores
    assert all(getattr(imp, k) == v for k, v in kw.items())
    with pytest.raises(ValueError, match=next(iter(kw))):
        imp.fit_transform(Xm)


@pytest.mark.parametrize("q_family", ["student_t", "gaussian"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_hand_derived_gradient_equals_autograd(q_family, activation):
    # in float64 and with the same draws (same generator seed): loss_and_grad must be the gradient
    # autograd gives for neg_bound, block by block (the df and nu rows are small beside the rest)
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        g = torch.Generator().manual_seed(2)
        x = torch.randn(37, 5, generator=g)
        m = (torch.rand(37, 5, generator=g) > 0.3).double()
        model = _MIWAE(5, 3, 16, q_family, activation, torch.Generator().manual_seed(0), "cpu")
        ref_loss = model.neg_bound(x * m, m, 7, torch.Generator().manual_seed(3))
        ref = torch.autograd.grad(ref_loss, model.parameters())
        loss = model.loss_and_grad(x * m, m, 7, torch.Generator().manual_seed(3))
    finally:
        torch.set_default_dtype(dtype)
    assert abs(loss.item() - ref_loss.item()) < 1e-8 * abs(ref_loss.item())
    start = 0
    for r in ref:  # row by row: the rows of df and nu carry gradients far smaller than the rest
        mine = model.grad[start:start + r.numel()].view(r.shape)
        start += r.numel()
        rows_ref, rows = r.reshape(r.shape[0], -1), mine.reshape(r.shape[0], -1)
        scale = rows_ref.abs().amax(1, keepdim=True)
        assert ((rows - rows_ref).abs() <= 1e-6 * scale + 1e-14).all()


def test_lgamma_half_step_against_float64():
    x = torch.cat([torch.linspace(1.5, 10, 2001), torch.logspace(1, 6, 2001)])
    F, Fp = _lgamma_half_step(x)
    x64 = x.double()
    F_ref = torch.lgamma(x64 + 0.5) - torch.lgamma(x64)
    Fp_ref = torch.digamma(x64 + 0.5) - torch.digamma(x64)
    assert ((F.double() - F_ref) / F_ref).abs().max() < 1e-5
    assert ((Fp.double() - Fp_ref) / Fp_ref).abs().max() < 1e-5
