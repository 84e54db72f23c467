"""Raw-scale safety: an imputer given raw columns (units spanning five orders of magnitude)
imputes as well, in standardised units, as when given z-scores.

Methods that are not invariant to the columns' units standardise inside by default
(``standardize=True``); GAIN (min-max inside), CSDI-T and MissDiff (z-scores inside) and the
column mean are equivariant to per-column affine maps. The data are a low-rank matrix
mapped to ``x = z * scale + offset`` per column; the MAE of both runs is measured on ``z``.
"""
import numpy as np
import pytest

from conftest import low_rank_matrix, mcar
from knewimp.base import ImputationError
from knewimp.harness.methods import build_imputer

SCALE = np.array([1e-2, 1.0, 30.0, 1e3, 0.2, 5e2])
OFFSET = np.array([0.5, -3.0, 100.0, 2e4, 0.0, -700.0])
CHOICES = ["mean/quick", "mice/quick", "gain/quick", "tdm/quick", "sinkhorn/quick", "knewimp/quick",
           "csdi_t/quick", "missdiff/quick", "miwae/quick", "remasker/quick", "miracle/quick"]
# Equivariance, not accuracy, is tested here: the dearest quick presets train shorter.
SHORTER = {"csdi_t/quick": ("method.epochs=20", "method.n_samples=5"),
           "missdiff/quick": ("method.epochs=20", "method.n_samples=5"),
           "remasker/quick": ("method.n_epochs=30",)}


@pytest.fixture(scope="module")
def cell():
    Z = low_rank_matrix(n=150, d=6, rank=2, seed=11)
    Zm, mask = mcar(Z, rate=0.3, seed=12)
    return Z, Zm, mask


def _mae(Z, Z_hat, mask):
    return float(np.abs(Z - Z_hat)[mask].mean())


def _library_default(choice):
    """The preset with the library's defaults for the runtime arguments (not the harness's)."""
    imputer = build_imputer(choice, *SHORTER.get(choice, ()), random_state=0, device="cpu")
    if "standardize" in imputer.get_params():
        imputer.set_params(standardize=True)
    return imputer


@pytest.mark.parametrize("choice", CHOICES)
def test_raw_and_standardised_input_give_the_same_mae(cell, choice):
    Z, Zm, mask = cell
    on_z = _mae(Z, _library_default(choice).fit_transform(Zm), mask)
    raw_hat = _library_default(choice).fit_transform(Zm * SCALE + OFFSET)
    on_raw = _mae(Z, (raw_hat - OFFSET) / SCALE, mask)
    assert on_raw == pytest.approx(on_z, rel=0.02, abs=1e-3)


def test_without_standardising_knewimp_fails_on_raw_units(cell):
    """The check above has teeth: the flow's bandwidth and steps are in z units, so on raw units
    it is worse than the column mean, or so far off that the range guard refuses it."""
    Z, Zm, mask = cell
    off = build_imputer("knewimp/quick", random_state=0, device="cpu")  # standardize=False
    mean_mae = _mae(Z, np.where(mask, np.nanmean(Zm, axis=0), Zm), mask)
    assert mean_mae > _mae(Z, _library_default("knewimp/quick").fit_transform(Zm), mask)
    try:
        raw_hat = off.fit_transform(Zm * SCALE + OFFSET)
    except ImputationError as exc:
        assert "out of range" in str(exc)
    else:
        assert _mae(Z, (raw_hat - OFFSET) / SCALE, mask) > mean_mae


def test_standardize_on_already_standardised_data_is_a_rescaling_only(cell):
    """With standardize=True the imputer works on the observed-entry z-scores; turning it off
    (as the harness does) hands it the data as given, the previous code path."""
    _, Zm, mask = cell
    on = build_imputer("knewimp/quick", random_state=0, device="cpu").set_params(standardize=True)
    off = build_imputer("knewimp/quick", random_state=0, device="cpu")
    assert off.standardize is False and on.standardize is True
    a, b = on.fit_transform(Zm), off.fit_transform(Zm)
    assert np.array_equal(a[~mask], b[~mask]) and not np.array_equal(a[mask], b[mask])
