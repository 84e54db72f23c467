import numpy as np
import pytest
import torch
from conftest import mae, mean_fill
from knewimp.harness.methods import preset_params

from knewimp.baselines.miwae import MIWAEImputer, _MIWAE

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
