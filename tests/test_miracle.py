import numpy as np
import pytest
import torch
from conftest import mae, mean_fill
from knewimp.harness.methods import preset_params

from knewimp.baselines.miracle import MIRACLEImputer, _MIRACLENet

QUICK = preset_params("miracle/quick")[1]


def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    out = MIRACLEImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    assert mae(X, out, mask) < 0.6 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    again = MIRACLEImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    np.testing.assert_array_equal(out, again)


def test_first_layer_excludes_own_input_and_indicators():
    p, q = 5, 3
    net = _MIRACLENet(p, q, 8, torch.Generator().manual_seed(0), "cpu")
    D = p + q
    expected = np.ones((D, D), dtype=bool)
    expected[:, p:] = False
    np.fill_diagonal(expected, False)
    np.testing.assert_array_equal(net.allowed.numpy(), expected)
    u = torch.randn(20, D, generator=torch.Generator().manual_seed(1))
    base = net(u).detach()
    for j in range(D):
        moved = u.clone()
        moved[:, j] += 3.0
        changed = (net(moved).detach() - base).abs().amax(0) > 0
        # output i moves with input j iff j is a feature other than i
        np.testing.assert_array_equal(changed.numpy(), expected[:, j])
    # the masked weights get no gradient from the loss either
    net.regularisers(1.0).backward()
    net(u).sum().backward()
    assert (net.W0.grad[~net.allowed] == 0).all()


def test_fixed_loop_uses_every_row_every_epoch():
    imp = MIRACLEImputer(batch_size=32)
    batches = imp._batches(100, np.random.default_rng(0))
    assert [len(d) for d, _ in batches] == [32, 32, 32, 4]
    assert sorted(np.concatenate([d for d, _ in batches])) == list(range(100))
    assert all(np.array_equal(d, m) for d, m in batches)


def test_legacy_loop_reproduces_the_original_batches():
    imp = MIRACLEImputer(batch_size=32, legacy_batches=True)
    perm = np.random.default_rng(0).permutation(100)
    batches = imp._batches(100, np.random.default_rng(0))
    assert [len(d) for d, _ in batches] == [32, 32, 4]  # block 0 skipped
    np.testing.assert_array_equal(np.concatenate([d for d, _ in batches]), perm[32:])
    np.testing.assert_array_equal(np.concatenate([m for _, m in batches]), np.arange(32, 100))  # unshuffled
    assert imp._batches(64, np.random.default_rng(0))[-1][0].size == 0  # n % batch == 0: an empty last block
    assert imp._batches(31, np.random.default_rng(0)) == []


def test_legacy_loop_takes_no_step_when_n_below_batch(synthetic):
    X, Xm, mask = synthetic
    kw = dict(n_epochs=15, batch_size=len(Xm) + 1, random_state=0, device="cpu")
    legacy = MIRACLEImputer(**kw, legacy_batches=True)
    out_legacy = legacy.fit_transform(Xm)
    assert legacy.n_steps_ == 0 and np.isnan(legacy.losses_).all()
    fixed = MIRACLEImputer(**kw)
    out_fixed = fixed.fit_transform(Xm)
    assert fixed.n_steps_ == 15
    # the untrained network is far worse than the column mean; one step per epoch already helps
    assert mae(X, out_legacy, mask) > 2 * mae(X, mean_fill(Xm), mask)
    assert mae(X, out_fixed, mask) < mae(X, out_legacy, mask)


def test_seed_changes_result(synthetic):
    _, Xm, mask = synthetic
    a = MIRACLEImputer(n_epochs=3, random_state=0, device="cpu").fit_transform(Xm)
    b = MIRACLEImputer(n_epochs=3, random_state=1, device="cpu").fit_transform(Xm)
    assert not np.allclose(a[mask], b[mask])


@pytest.mark.parametrize("kw", [dict(n_epochs=0), dict(batch_size=0), dict(n_hidden=0), dict(window=0), dict(lr=0),
                                dict(reg_beta=-1), dict(reg_m=-1), dict(reg_lambda=-1),
                                dict(seed_imputation="zero"), dict(legacy_batches="yes")])
def test_bad_arguments_refused_at_fit(synthetic, kw):
    _, Xm, _ = synthetic
    imp = MIRACLEImputer(**kw)
    assert all(getattr(imp, k) == v for k, v in kw.items())
    with pytest.raises(ValueError, match=next(iter(kw))):
        imp.fit_transform(Xm)


def test_regulariser_gradient_in_closed_form_equals_autograd():
    net = _MIRACLENet(5, 3, 16, torch.Generator().manual_seed(0), "cpu")
    with torch.no_grad():
        net.W0.mul_(30)  # weights large enough that exp(S) is far from I + S
    ref = net.regularisers(0.7)
    ref.backward()
    value, grad = net.regularisers_and_grad(0.7)
    assert abs(value.item() - ref.item()) <= 1e-6 * abs(ref.item())
    assert (grad - net.W0.grad).abs().max() <= 1e-5 * net.W0.grad.abs().max()
    assert (grad[~net.allowed] == 0).all()
