"""KnewImputer behaviour with the `quick` preset (tiny networks, few steps)."""
import numpy as np
import pytest
import torch

from conftest import low_rank_matrix, mae, mcar
from knewimp.base import ImputationError
from knewimp.imputer import KnewImputer
from knewimp.harness.methods import preset_params
from knewimp.reference import ReferenceKnewImputer, naive_direction
from knewimp.score import EnergyMLP

def quick_params() -> dict:
    """The `quick` preset's arguments, as the harness composes them."""
    return preset_params("knewimp/quick")[1]


def quick(**overrides) -> KnewImputer:
    """The quick preset as the harness builds it: the test data are already standardised."""
    params = quick_params()
    params.update(device="cpu", standardize=False, **overrides)
    return KnewImputer(**params)


@pytest.fixture
def small():
    X = low_rank_matrix(n=60, d=4, rank=2, seed=3)
    Xm, mask = mcar(X, rate=0.3, seed=4)
    return X, Xm, mask


def test_observed_entries_unchanged_and_all_filled(small):
    _, Xm, mask = small
    out = quick(random_state=0).fit_transform(Xm)
    assert np.array_equal(out[~mask], Xm[~mask])
    assert np.isfinite(out).all()


def test_deterministic_for_a_random_state(small):
    _, Xm, _ = small
    a = quick(random_state=7).fit_transform(Xm)
    b = quick(random_state=7).fit_transform(Xm)
    c = quick(random_state=8).fit_transform(Xm)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_quick_beats_column_mean(synthetic):
    X, Xm, mask = synthetic
    out = quick(random_state=0).fit_transform(Xm)
    mean_fill = np.where(mask, np.nanmean(Xm, axis=0), Xm)
    assert mae(X, out, mask) < 0.9 * mae(X, mean_fill, mask)


@pytest.mark.parametrize("integrator,dtype", [("euler", "float64"), ("adam", "float32")])
def test_variants_run_and_keep_observed(small, integrator, dtype):
    _, Xm, mask = small
    out = quick(random_state=1, integrator=integrator, dtype=dtype).fit_transform(Xm)
    assert np.array_equal(out[~mask], Xm[~mask]) and np.isfinite(out).all()


def test_fast_path_equals_reference_style_computation(small):
    """Every optimisation off (autograd scores, double-backward DSM, full n x n kernel with a
    column loop, all rows) gives the same imputation up to rounding."""
    _, Xm, mask = small
    fast = quick(random_state=3, block_size=7)
    ref = ReferenceKnewImputer(**quick_params(), random_state=3, device="cpu", standardize=False)
    a, b = fast.fit_transform(Xm), ref.fit_transform(Xm)
    np.testing.assert_allclose(a[mask], b[mask], rtol=1e-8, atol=1e-9)
    assert not np.allclose(a[mask], np.nanmean(Xm, axis=0)[np.nonzero(mask)[1]], atol=1e-3)


def test_adam_update_matches_torch_adam():
    """The hand-written particle Adam equals torch.optim.Adam (the reference code's optimiser)."""
    X = low_rank_matrix(n=30, d=3, seed=5)
    Xm, mask = mcar(X, 0.3, seed=6)
    imp = quick(random_state=2, n_outer=1, score_epochs=0, n_steps=25)
    ours = imp.fit_transform(Xm)
    # replay with torch.optim.Adam on the same initial fill and the same (fixed) score network
    rng = np.random.default_rng(2)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    x = torch.tensor(imp._initial_fill(Xm, mask, rng), requires_grad=True)
    net = EnergyMLP(3, imp.hidden, generator=gen)
    opt = torch.optim.Adam([x], lr=imp.step_size)
    observed = torch.tensor(~mask)
    for _ in range(25):
        with torch.no_grad():
            G = naive_direction(x, net.score_autograd(x), imp.bandwidth, imp.entropy_weight)
        opt.zero_grad()
        x.grad = G.masked_fill(observed, 0.0)
        opt.step()
    np.testing.assert_allclose(ours[mask], x.detach().numpy()[mask], rtol=1e-10, atol=1e-12)


def test_nan_in_update_raises(small, monkeypatch):
    _, Xm, _ = small
    # the particle steps evaluate the score through frozen_score (the network fixed)
    monkeypatch.setattr(EnergyMLP, "frozen_score", lambda self: lambda x: torch.full_like(x, float("inf")))
    with pytest.raises(ImputationError, match="NaN/Inf"):
        quick(random_state=0, score_epochs=0).fit_transform(Xm)


def test_divergent_step_size_raises(small):
    _, Xm, _ = small
    with pytest.raises(ImputationError):
        quick(random_state=0, step_size=1e300, integrator="euler", n_outer=1, score_epochs=1).fit_transform(Xm)


def test_bad_input_refused(small):
    _, Xm, _ = small
    bad = Xm.copy()
    bad[:, 2] = np.nan
    with pytest.raises(ValueError, match="entirely missing"):
        quick(random_state=0).fit_transform(bad)
    with pytest.raises(ValueError, match="numeric"):
        quick(random_state=0).fit_transform([["a", "b"], ["c", 1.0]])


@pytest.mark.parametrize("kwargs,match", [
    ({"integrator": "rk4"}, "integrator 'rk4'.*adam, euler"),
    ({"dtype": "float16"}, "dtype 'float16'.*float64, float32"),
    ({"bandwidth": 0.0}, "bandwidth"),
    ({"hidden": []}, "hidden"),
    ({"n_steps": 2.5}, "n_steps"),
    ({"block_size": 0}, "block_size"),
])
def test_bad_parameters_refused_at_fit(kwargs, match, small):
    imputer = KnewImputer(**kwargs)  # stored as given (scikit-learn's contract) ...
    assert imputer.get_params()[next(iter(kwargs))] == next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=match):  # ... and refused when fitting
        imputer.fit(small[1])
