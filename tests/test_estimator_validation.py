"""All 11 imputers validate their parameters and input through the shared path of BaseImputer:
fractions, strings where numbers belong, NaN/Inf, a string for a list, a negative seed, complex and
overflowing input are refused with one line naming the parameter or the column."""
import warnings

import numpy as np
import pytest

from knewimp.registry import IMPUTERS, imputer_class as _cls


def _refusal(name, **kwargs):
    try:
        _cls(name)(**kwargs)._validate_params()
    except ValueError as exc:
        return str(exc)
    return "accepted"


BAD = [
    ("MIWAEImputer", dict(standardize="no"), "standardize must be True or False, got 'no'"),
    ("MIWAEImputer", dict(num_threads=0), "num_threads must be >= 1, got 0"),
    ("MIWAEImputer", dict(lr="abc"), "lr must be a finite number, got 'abc'"),
    ("MIWAEImputer", dict(lr=float("inf")), "lr must be a finite number, got inf"),
    ("MIWAEImputer", dict(n_epochs=2.5), "n_epochs must be an integer, got 2.5"),
    ("GAINImputer", dict(n_iter=2.5), "n_iter must be an integer, got 2.5"),
    ("TDMImputer", dict(depth=2.5), "depth must be an integer, got 2.5"),
    ("TDMImputer", dict(width=4.5), "width must be an integer or None, got 4.5"),
    ("MICEImputer", dict(n_chains=2.5), "n_chains must be an integer, got 2.5"),
    ("MICEImputer", dict(tol="0.1"), "tol must be a finite number, got '0.1'"),
    ("KnewImputer", dict(hidden="64"), "hidden must be a list, got '64'"),
    ("KnewImputer", dict(hidden=[64.5]), "hidden must be a list of integers"),
    ("KnewImputer", dict(entropy_weight=float("nan")), "entropy_weight must be a finite number, got nan"),
    ("SinkhornImputer", dict(blur=float("nan")), "blur must be a finite number or None, got nan"),
    ("ReMaskerImputer", dict(base_lr=True), "base_lr must be a finite number, got True"),
    ("MIRACLEImputer", dict(reg_m=float("-inf")), "reg_m must be a finite number"),
    ("CSDITImputer", dict(lr_milestones="0.5"), "lr_milestones must be a list"),
    ("MissDiffImputer", dict(epochs=1e400), "epochs must be an integer"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD, ids=lambda v: str(v)[:30])
def test_a_bad_parameter_is_refused_naming_it(name, kwargs, message):
    text = _refusal(name, **kwargs)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("name", IMPUTERS)
def test_a_negative_or_huge_seed_is_refused_naming_random_state(name):
    for seed in (-1, 2**40, 1.5, "0"):
        text = _refusal(name, random_state=seed)
        assert text.startswith("random_state must be None or an integer in [0, 4294967295]"), text


@pytest.mark.parametrize("name", IMPUTERS)
def test_the_defaults_pass(name):
    assert _refusal(name) == "accepted"


def _matrix():
    X = np.random.default_rng(0).normal(size=(12, 3))
    X[0, 0] = X[3, 1] = np.nan
    return X


@pytest.mark.parametrize("name", IMPUTERS)
def test_overflowing_and_complex_input_is_refused_naming_the_column(name):
    X = _matrix()
    X[:, 2] *= 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"^input column 2 holds values up to [0-9.e+]+ in magnitude"):
            _cls(name)(random_state=0).fit(X)
        with pytest.raises(ValueError, match=r"^Complex data not supported in X"):
            _cls(name)(random_state=0).fit(_matrix() + 1j)


def test_the_harness_refuses_a_string_for_a_list(tmp_path):
    from knewimp.harness.run import prepare
    from knewimp.harness.validate import UserError

    with pytest.raises(UserError, match="method.hidden='64': must be a list"):
        prepare(["method=knewimp/quick", "method.hidden='64'", f"results_dir={tmp_path}"])
