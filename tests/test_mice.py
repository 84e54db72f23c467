import numpy as np
import pytest
from conftest import mae, mean_fill

from knewimp.baselines.mice import MICEImputer




def test_quick_beats_mean_and_keeps_observed(synthetic):
    X, Xm, mask = synthetic
    out = MICEImputer(n_chains=1, max_iter=5, sample_posterior=False, random_state=0).fit_transform(Xm)
    assert mae(X, out, mask) < 0.9 * mae(X, mean_fill(Xm), mask)
    np.testing.assert_array_equal(out[~mask], Xm[~mask])
    assert not np.isnan(out).any()


def test_posterior_chains_average_seed_dependent_and_deterministic(synthetic):
    X, Xm, mask = synthetic
    kw = dict(n_chains=3, max_iter=3, sample_posterior=True)
    a = MICEImputer(**kw, random_state=1)
    out_a = a.fit_transform(Xm)
    out_b = MICEImputer(**kw, random_state=1).fit_transform(Xm)
    out_c = MICEImputer(**kw, random_state=2).fit_transform(Xm)
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.allclose(out_a[mask], out_c[mask])
    assert len(set(a.chain_states_)) == 3
    # sampling chains run every round (no early stopping)
    assert a.n_iter_ == [3, 3, 3]
    assert mae(X, out_a, mask) < 0.9 * mae(X, mean_fill(Xm), mask)


def test_single_chain_stops_early(synthetic):
    _, Xm, _ = synthetic
    # tol is relative to max |x_obs| (about 3.8 here); the strongly collinear fixture converges
    # slowly, so a loose tol is what makes the early stop visible within a fast test
    imp = MICEImputer(n_chains=1, max_iter=100, sample_posterior=False, tol=0.05, random_state=0)
    imp.fit_transform(Xm)
    assert imp.n_iter_[0] < 100 and imp.converged_ == [True]
    slow = MICEImputer(n_chains=1, max_iter=3, sample_posterior=False, tol=1e-3, random_state=0)
    slow.fit_transform(Xm)
    assert slow.n_iter_ == [3] and slow.converged_ == [False]


@pytest.mark.parametrize("kw", [dict(n_chains=0), dict(max_iter=0), dict(tol=0), dict(sample_posterior="yes")])
def test_bad_arguments(kw, synthetic):
    with pytest.raises(ValueError, match=next(iter(kw))):
        MICEImputer(**kw).fit(synthetic[1])


def test_bad_device(synthetic):
    with pytest.raises(ValueError, match="valid choices"):
        MICEImputer(n_chains=1, max_iter=2, device="tpu").fit_transform(synthetic[1])
