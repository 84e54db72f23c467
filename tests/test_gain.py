import numpy as np
import pytest
from conftest import mae, mean_fill

from knewimp.baselines.gain import GAINImputer

QUICK = dict(n_iter=600, lr=3e-3)  # configs/method/gain/quick.yaml






def test_quick_beats_mean_keeps_observed_and_is_deterministic(synthetic):
    X, Xm, mask = synthetic
    out = GAINImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    assert mae(X, out, mask) < 0.9 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    again = GAINImputer(**QUICK, random_state=0, device="cpu").fit_transform(Xm)
    np.testing.assert_array_equal(out, again)


def test_results_in_input_units(synthetic):
    # min-max scaling is internal: shifting and scaling the input moves the output alike
    X, Xm, mask = synthetic
    a = GAINImputer(n_iter=50, random_state=0).fit_transform(Xm)
    b = GAINImputer(n_iter=50, random_state=0).fit_transform(10.0 * Xm + 100.0)
    np.testing.assert_allclose(b[mask], 10.0 * a[mask] + 100.0, rtol=1e-4, atol=1e-3)


def test_configured_arguments_are_the_ones_used(synthetic):
    # the KnewImp group's GAIN silently ignored its arguments; ours records and uses them
    _, Xm, _ = synthetic
    imp = GAINImputer(n_iter=37, batch_size=64, hint_rate=0.8, alpha=10.0, lr=2e-3, random_state=0)
    base = imp.fit_transform(Xm)
    assert (imp.n_iter_, imp.batch_size_, imp.hint_rate_, imp.alpha_, imp.lr_) == (37, 64, 0.8, 10.0, 2e-3)
    assert len(imp.g_losses_) == 37
    big = GAINImputer(n_iter=3, batch_size=10_000, random_state=0)
    big.fit_transform(Xm)
    assert big.batch_size_ == len(Xm)
    mask = np.isnan(Xm)
    for change in (dict(hint_rate=0.5), dict(alpha=100.0), dict(lr=1e-3), dict(batch_size=32), dict(n_iter=36)):
        kw = dict(n_iter=37, batch_size=64, hint_rate=0.8, alpha=10.0, lr=2e-3) | change
        out = GAINImputer(**kw, random_state=0).fit_transform(Xm)
        assert not np.allclose(out[mask], base[mask]), change


def test_seed_changes_result(synthetic):
    _, Xm, mask = synthetic
    a = GAINImputer(n_iter=20, random_state=0).fit_transform(Xm)
    b = GAINImputer(n_iter=20, random_state=1).fit_transform(Xm)
    assert not np.allclose(a[mask], b[mask])


@pytest.mark.parametrize("kw", [dict(n_iter=0), dict(batch_size=0), dict(hint_rate=1.5), dict(alpha=-1), dict(lr=0)])
def test_bad_arguments(kw, synthetic):
    with pytest.raises(ValueError, match=next(iter(kw))):
        GAINImputer(**kw).fit(synthetic[1])


def test_diverged_generator_is_a_failure_not_a_bounded_bad_number(synthetic):
    # lr = 10 pins every generator output at 0 or 1: inside the data's range, so only GAIN's own
    # check can call it diverged; an under-trained run (few steps, outputs near 0.5) is not failed
    from knewimp.base import ImputationError

    _, Xm, _ = synthetic
    with pytest.raises(ImputationError, match="GAIN diverged.*lower lr"):
        GAINImputer(n_iter=200, lr=10.0, random_state=0).fit_transform(Xm)
    short = GAINImputer(n_iter=3, random_state=0)
    short.fit_transform(Xm)
    assert short.saturated_ < 0.5 < short.reconstruction_mse_ / short.column_mean_mse_
    trained = GAINImputer(**QUICK, random_state=0)
    trained.fit_transform(Xm)
    assert trained.reconstruction_mse_ < trained.column_mean_mse_ and trained.saturated_ < 0.5
