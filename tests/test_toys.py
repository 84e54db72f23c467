"""The toy datasets of Table F.1: shapes, determinism, the stated distributions, harness dispatch."""
import numpy as np
import pytest

from knewimp import vocab
from knewimp.protocol import toys
from knewimp.protocol.cell_input import make_cell_input
from knewimp.protocol.datasets import DataError, dataset_shape, load_dataset


@pytest.mark.parametrize("name", vocab.TOY_DATASETS)
def test_each_toy_is_a_fixed_finite_1000_by_2_matrix(name):
    X = load_dataset(name)
    assert X.shape == (1000, 2) == dataset_shape(name) and X.dtype == np.float64 and np.isfinite(X).all()
    np.testing.assert_array_equal(X, load_dataset(name, data_dir="/nonexistent", download=False))


def test_the_toys_differ_from_each_other():
    mats = [toys.make_toy(n) for n in vocab.TOY_DATASETS]
    assert all(not np.allclose(a, b) for i, a in enumerate(mats) for b in mats[i + 1:])


def test_the_toys_have_their_stated_moments():
    n = 40000
    g = toys.make_toy("toy_gaussian", n)
    np.testing.assert_allclose(np.cov(g.T), np.eye(2), atol=0.03)
    t = toys.make_toy("toy_student_t", n)
    nu = toys.STUDENT_T_DF  # covariance of a multivariate t: Sigma * nu / (nu - 2)
    np.testing.assert_allclose(np.cov(t.T), np.array([[1, .5], [.5, 1]]) * nu / (nu - 2), atol=0.1)
    m = toys.make_toy("toy_mixture", n)
    np.testing.assert_allclose(m.mean(axis=0), [2 / 3, -2 / 3], atol=0.03)
    s = toys.make_toy("toy_skewed", n)
    assert (s > 0).all() and np.median(s) == pytest.approx(1.0, abs=0.03)  # median of exp(N(0, 1))


def test_a_toy_cell_input_is_standardised_and_its_mask_depends_on_the_seed():
    X, m0 = make_cell_input("toy_mixture", "mcar", 0.3, 0)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    _, m0b = make_cell_input("toy_mixture", "mcar", 0.3, 0)
    _, m1 = make_cell_input("toy_mixture", "mcar", 0.3, 1)
    assert np.array_equal(m0, m0b) and not np.array_equal(m0, m1)


def test_unknown_names_are_one_line_errors():
    with pytest.raises(ValueError, match="valid choices: toy_gaussian"):
        toys.make_toy("toy_banana")
    with pytest.raises(DataError, match="toy_skewed"):
        load_dataset("toy_banana")
    assert dataset_shape("toy_banana") is None
