"""KnewImputer's options for the paper's own experiments: kernels, masked score fits, recording.

The defaults must leave the imputation bit for bit as it was; each option must do what it says.
"""
import numpy as np
import pytest
import torch

from conftest import low_rank_matrix, mae, mcar
from knewimp.base import ImputationError
from knewimp.harness.methods import preset_params
from knewimp.imputer import KnewImputer
from knewimp.kernels import KERNELS
from knewimp.score import EnergyMLP, dsm_loss, fit_score


def quick(**overrides) -> KnewImputer:
    params = preset_params("knewimp/quick")[1]
    params.update(device="cpu", n_steps=20, score_epochs=10, standardize=False)  # the flow in the given units
    params.update(overrides)
    return KnewImputer(**params)


@pytest.fixture
def small():
    X = low_rank_matrix(n=50, d=4, rank=2, seed=3)
    Xm, mask = mcar(X, rate=0.3, seed=4)
    return X, Xm, mask


def test_default_options_change_nothing(small):
    _, Xm, _ = small
    base = quick(random_state=5).fit_transform(Xm)
    explicit = quick(random_state=5, kernel="rbf", score_fit="joint", record_every=None).fit_transform(Xm)
    assert np.array_equal(base, explicit)


def test_recording_does_not_change_the_imputation_and_records_what_it_says(small):
    X, Xm, mask = small
    base = quick(random_state=5).fit_transform(Xm)
    seen = []

    def callback(current):
        seen.append(current.copy())
        return {"mae": mae(X, current, mask)}

    imp = quick(random_state=5, record_every=7, callback=callback)
    out = imp.fit_transform(Xm)
    assert np.array_equal(out, base)
    flow = imp.trajectory_["flow"]
    # per outer iteration: step 0, every 7th step, and the last step (20)
    assert [(e["outer"], e["step"]) for e in flow] == [(o, s) for o in (1, 2) for s in (0, 7, 14, 20)]
    assert [e["total_step"] for e in flow] == [0, 7, 14, 20, 20, 27, 34, 40]
    assert flow[-1]["mae"] == pytest.approx(mae(X, out, mask), rel=0, abs=1e-15)
    assert flow[0]["mae"] > flow[-1]["mae"]
    assert all(np.array_equal(c[~mask], Xm[~mask]) for c in seen)   # observed entries as given
    # DSM history: every epoch of each outer iteration, the last one equal to dsm_losses_
    hist = imp.trajectory_["dsm_loss"]
    assert [len(h) for h in hist] == [10, 10] and [h[-1] for h in hist] == imp.dsm_losses_
    assert imp.timings_["recording"] >= 0.0


def test_recording_without_callback_keeps_the_imputed_values(small):
    _, Xm, mask = small
    imp = quick(random_state=2, record_every=20)
    out = imp.fit_transform(Xm)
    last = imp.trajectory_["flow"][-1]
    assert np.array_equal(last["imputed"], out[mask])
    plain = quick(random_state=2)
    plain.fit_transform(Xm)
    assert plain.trajectory_ is None and len(plain.dsm_history_) == 2


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "rbf"])
def test_every_kernel_imputes_or_fails_loudly(small, kernel):
    _, Xm, mask = small
    imp = quick(random_state=1, kernel=kernel, step_size=0.01)
    try:
        out = imp.fit_transform(Xm)
    except ImputationError as exc:   # a diverging kernel (the paper's sin) must say so
        assert "NaN/Inf" in str(exc)
        return
    assert np.array_equal(out[~mask], Xm[~mask]) and np.isfinite(out).all()
    assert not np.array_equal(out, quick(random_state=1, step_size=0.01).fit_transform(Xm))


@pytest.mark.parametrize("score_fit", ["masked", "conditional"])
def test_masked_score_fits_run_and_differ_from_joint(small, score_fit):
    _, Xm, mask = small
    out = quick(random_state=4, score_fit=score_fit).fit_transform(Xm)
    assert np.array_equal(out[~mask], Xm[~mask]) and np.isfinite(out).all()
    assert not np.array_equal(out, quick(random_state=4).fit_transform(Xm))


def test_masked_dsm_loss_is_the_masked_formula():
    gen = torch.Generator().manual_seed(0)
    net = EnergyMLP(3, (8, 8), generator=gen)
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    v = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    w = (torch.rand(12, 3, generator=gen, dtype=torch.float64) < 0.6).to(torch.float64)
    ones = torch.ones_like(x)
    joint = dsm_loss(net, x, v, 0.1)
    assert torch.equal(dsm_loss(net, x, v, 0.1, noise_mask=ones, loss_mask=ones), joint)
    with torch.no_grad():
        res = net.score(x + 0.1 * v) + v / 0.1
        expected_masked = 0.5 * (res * w).square().sum(1).mean()
        res_t = net.score(x + 0.1 * v * w) + v / 0.1
        expected_cond = 0.5 * (res_t * w).square().sum(1).mean()
    torch.testing.assert_close(dsm_loss(net, x, v, 0.1, loss_mask=w), expected_masked, rtol=1e-13, atol=0)
    torch.testing.assert_close(dsm_loss(net, x, v, 0.1, noise_mask=w, loss_mask=w), expected_cond, rtol=1e-13, atol=0)


def test_conditional_fit_targets_only_observed_entries():
    """With every entry missing no target can be drawn: the loss is exactly zero each epoch."""
    gen = torch.Generator().manual_seed(0)
    net = EnergyMLP(2, (4,), generator=gen)
    x = torch.randn(10, 2, generator=gen, dtype=torch.float64)
    hist = []
    fit_score(net, x, 3, 0.1, gen, score_fit="conditional", observed=torch.zeros(10, 2, dtype=torch.bool),
              target_rate=0.5, history=hist)
    assert hist == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("kwargs,match", [
    ({"kernel": "laplace"}, "kernel must be one of rbf, linear, poly, sigmoid, cos, sin; got 'laplace'"),
    ({"score_fit": "marginal"}, "score_fit must be one of joint, masked, conditional; got 'marginal'"),
    ({"record_every": 0}, "record_every must be None or a positive integer; got 0"),
    ({"record_every": 2.5}, "record_every"),
    ({"record_every": 5, "callback": "mae"}, "callback must be None or callable"),
])
def test_bad_options_refused_at_fit_not_construction(small, kwargs, match):
    _, Xm, _ = small
    imp = quick(random_state=0, **kwargs)   # construction stores as given
    with pytest.raises(ValueError, match=match):
        imp.fit_transform(Xm)
