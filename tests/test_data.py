import numpy as np
import pytest

from knewimp.protocol.cell_input import standardise
from knewimp.protocol.datasets import SPECS, DataError, load_dataset

from conftest import DATA_DIR, REFERENCE_DIR

pytestmark = pytest.mark.skipif(DATA_DIR is None, reason="needs the raw UCI files (KNEWIMP_DATA_DIR)")


@pytest.mark.parametrize("key", list(SPECS))
def test_each_dataset_has_the_paper_shape(key):
    X = load_dataset(key, data_dir=DATA_DIR, download=False)
    assert X.shape == SPECS[key].shape
    assert X.dtype == np.float64 and np.isfinite(X).all()


def test_breast_cancer_equals_sklearn_copy():
    from sklearn.datasets import load_breast_cancer

    assert np.array_equal(load_dataset("bcd", data_dir=DATA_DIR), load_breast_cancer().data)


def test_bt_standardised_equals_the_authors_matrix():
    ref = np.load(REFERENCE_DIR / "bt_mcar_seed0.npz")["x_true"]
    np.testing.assert_allclose(standardise(load_dataset("bt", data_dir=DATA_DIR)), ref, rtol=0, atol=1e-12)


def test_constant_column_does_not_divide_by_zero():
    Z = standardise(load_dataset("is", data_dir=DATA_DIR))
    assert np.isfinite(Z).all() and np.all(Z[:, 1] == 0)


def test_digest_mismatch_is_an_error(tmp_path):
    bad = tmp_path / "transfusion.data"
    bad.write_bytes((DATA_DIR / "transfusion.data").read_bytes().replace(b"12500", b"12501", 1))
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset("bt", data_dir=tmp_path, download=False)


def test_offline_without_data_names_directory_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEWIMP_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_dataset("cc", data_dir=tmp_path, download=False)
    assert str(tmp_path) in str(err.value) and "Concrete_Data.xls" in str(err.value)


def test_cache_is_used_when_no_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEWIMP_CACHE_DIR", str(tmp_path))
    X = load_dataset("pk", data_dir=DATA_DIR)
    np.save(tmp_path / "pk.npy", X)
    np.testing.assert_array_equal(load_dataset("pk", data_dir=tmp_path / "empty", download=False), X)


def test_unknown_dataset_lists_valid_choices():
    with pytest.raises(DataError, match="valid choices: bt, bcd"):
        load_dataset("iris")
