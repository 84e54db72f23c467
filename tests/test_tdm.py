import numpy as np
import pytest
import torch
from conftest import mae, mean_fill

from knewimp.baselines.tdm import TDMImputer
from knewimp.baselines.realnvp import RealNVP

QUICK = dict(n_iter=150, depth=1, width=16)  # configs/method_preset/tdm/quick.yaml






def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    out = TDMImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    assert mae(X, out, mask) < 0.9 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    again = TDMImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    np.testing.assert_array_equal(out, again)
    other = TDMImputer(**QUICK, random_state=1, device="cpu").fit_transform(Xm)
    assert not np.allclose(out[mask], other[mask])


@pytest.mark.parametrize("optimizer,cost", [("rmsprop", "euclidean"), ("adam", "sqeuclidean_maxnorm")])
def test_projector_is_trained(synthetic, optimizer, cost):
    # the KnewImp group's TDM never updated its projector; ours must
    _, Xm, _ = synthetic
    init = TDMImputer(n_iter=1, depth=2, width=16, random_state=0)
    init.fit_transform(Xm)
    fitted = TDMImputer(n_iter=20, depth=2, width=16, optimizer=optimizer, cost=cost, random_state=0)
    fitted.fit_transform(Xm)
    before = torch.cat([p.detach().flatten() for p in init.projector_.parameters()])
    after = torch.cat([p.detach().flatten() for p in fitted.projector_.parameters()])
    assert before.shape == after.shape
    assert (before - after).abs().max() > 1e-3
    assert np.isfinite(fitted.losses_).all()


def test_batch_capped_and_width_default(synthetic):
    _, Xm, _ = synthetic
    imp = TDMImputer(n_iter=2, batch_size=10_000, random_state=0)
    imp.fit_transform(Xm[:40])
    assert imp.batch_size_ == 20 and imp.width_ == 2 * Xm.shape[1] and imp.n_iter_ == 2


@pytest.mark.parametrize("dim", [5, 6])
def test_realnvp_is_invertible_for_odd_and_even_dims(dim):
    flow = RealNVP(dim, depth=3, width=8, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(17, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = flow(x)
    assert not torch.allclose(x, y)
    torch.testing.assert_close(flow.inverse(y), x)
    again = RealNVP(dim, depth=3, width=8, generator=torch.Generator().manual_seed(0)).double()
    torch.testing.assert_close(again(x), y)


def test_realnvp_does_not_touch_the_global_rng():
    state = torch.get_rng_state()
    RealNVP(4, depth=2, width=8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(state, torch.get_rng_state())


def test_bad_arguments(synthetic):
    Xm = synthetic[1]
    with pytest.raises(ValueError, match="valid choices: euclidean, sqeuclidean, sqeuclidean_maxnorm"):
        TDMImputer(cost="manhattan").fit(Xm)
    with pytest.raises(ValueError, match="valid choices: rmsprop, adam"):
        TDMImputer(optimizer="sgd").fit(Xm)
    with pytest.raises(ValueError, match="n_iter"):
        TDMImputer(n_iter=0).fit(Xm)
    with pytest.raises(ValueError, match="at least 2 columns"):
        TDMImputer(n_iter=1).fit_transform(np.array([[1.0], [np.nan], [2.0], [3.0], [4.0]]))
