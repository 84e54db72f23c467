"""The protocol option ``scaling``: z-scores from the complete matrix (the paper's protocol, the
default) or from each column's observed entries only, on the same mask."""
import numpy as np
import pytest

from knewimp.harness.cell import run_cell
from knewimp.harness.records import load_records
from knewimp.harness.sweep import _compose
from knewimp.harness.validate import UserError, check_cell
from knewimp.protocol.cell_input import make_cell_input, standardise, standardise_observed


def test_observed_scaling_reads_no_missing_value():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 4))
    mask = rng.random(X.shape) < 0.3
    Z = standardise_observed(X, mask)
    obs = np.where(mask, np.nan, Z)
    np.testing.assert_allclose(np.nanmean(obs, axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.nanstd(obs, axis=0), 1, atol=1e-12)
    changed = X.copy()
    changed[mask] = 1e6                                   # the truth behind the mask cannot move the scale
    np.testing.assert_allclose(standardise_observed(changed, mask)[~mask], Z[~mask])
    assert not np.allclose(standardise(changed)[~mask], standardise(X)[~mask])  # the complete one can


def test_a_column_without_observed_entries_is_refused():
    X = np.arange(12.0).reshape(6, 2)
    mask = np.zeros_like(X, dtype=bool)
    mask[:, 1] = True
    with pytest.raises(ValueError, match="no observed entry"):
        standardise_observed(X, mask)


def test_both_scalings_share_the_mask_and_the_default_is_the_papers():
    X0, m0 = make_cell_input("bt", "mnar", 0.3, 1)
    X1, m1 = make_cell_input("bt", "mnar", 0.3, 1, scaling="observed")
    np.testing.assert_array_equal(m0, m1)
    np.testing.assert_allclose(X0.mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(X1.mean(axis=0), 0, atol=1e-3)  # MNAR hides large values: observed means differ
    with pytest.raises(ValueError, match="scaling='z': must be one of complete, observed"):
        make_cell_input("bt", "mnar", 0.3, 1, scaling="z")


def test_a_bad_scaling_fails_before_compute_and_a_good_one_runs(tmp_path):
    with pytest.raises(UserError, match="scaling='none': must be one of complete, observed"):
        check_cell(_compose(["scaling=none", f"results_dir={tmp_path}"]))
    run_cell(_compose(["dataset=bt", "mechanism=mnar", "method=mean/published", "scaling=observed",
                       f"results_dir={tmp_path}"]))
    (rec,) = load_records(tmp_path)
    assert rec["status"] == "ok" and rec["protocol"] == {"scaling": "observed"}


def test_a_table_never_mixes_two_protocols():
    from knewimp.report.selection import select_records

    base = dict(dataset="bt", mechanism="mnar", missing_rate=0.3, method="mean", preset="published", status="ok",
                mae=0.5, wass=0.5, rmse=0.5, n=10, d=2, params={}, fit_seconds=0.1, cell_id="x")
    recs = [{**base, "seed": 0, "cell_id": "a"}, {**base, "seed": 1, "cell_id": "b", "protocol": {"scaling": "observed"}}]
    # one variant is tabulated (the default protocol first), the other excluded with its reason
    selection = select_records(recs)
    assert [r["cell_id"] for r in selection.kept] == ["a"]
    assert "another variant" in selection.excluded["b"] and "never averaged" in selection.excluded["b"]
