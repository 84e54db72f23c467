"""The harness knows the truth: every cell scores the column-mean imputation on its own mask, and a
cell much worse than it is recorded failed with both numbers; the range guard is per column."""
import numpy as np
import pytest

from knewimp.base import ImputationError, check_in_range
from knewimp.harness import records
from knewimp.harness.cell import DIVERGENCE_RATIO, Diverged, _check_against_column_mean, run_cell
from knewimp.harness.sweep import _compose
from knewimp.protocol import metrics
from knewimp.protocol.cell_input import make_cell_input


def test_the_column_mean_reference_is_the_mean_imputer_on_the_same_mask():
    from knewimp.baselines.mean import MeanImputer

    X, mask = make_cell_input("bt", "mar", 0.3, 2)
    ours = metrics.mae(X, metrics.column_mean_fill(X, mask), mask)
    theirs = metrics.mae(X, MeanImputer().fit_transform(np.where(mask, np.nan, X)), mask)
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_every_cell_records_the_column_mean_mae_its_ratio_and_its_data_digest(tmp_path):
    rec = run_cell(_compose(["dataset=bt", "method=mean/published", f"results_dir={tmp_path}"]))
    assert rec["status"] == "ok" and rec["mae_ratio"] == pytest.approx(1.0)
    assert rec["mae_colmean"] == pytest.approx(rec["mae"])
    assert len(rec["data_digest"]) == 16 and records.read_record(records.record_path(tmp_path, rec["cell_id"]))


def test_the_rule_fails_a_mae_beyond_the_multiple_with_both_numbers():
    assert _check_against_column_mean(0.7, 0.7) == pytest.approx(1.0)
    assert _check_against_column_mean(0.7 * DIVERGENCE_RATIO, 0.7) == pytest.approx(DIVERGENCE_RATIO)
    with pytest.raises(Diverged, match=r"MAE 4\.9 is 7x the column-mean imputation's 0\.7 on the same mask "
                                       rf"\(limit {DIVERGENCE_RATIO:g}x\)"):
        _check_against_column_mean(4.9, 0.7)
    with pytest.raises(Diverged, match="MAE is nan"):
        _check_against_column_mean(float("nan"), 0.7)


def test_an_in_range_garbage_imputation_is_recorded_failed(tmp_path, monkeypatch):
    from knewimp.baselines.mean import MeanImputer

    def far(self, X, mask):  # 8 sd above each column's mean: inside the range guard, far from the truth
        mu, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        return np.where(mask, mu + 8 * sd, X)
    monkeypatch.setattr(MeanImputer, "_impute", far)
    rec = run_cell(_compose(["dataset=bt", "method=mean/published", f"results_dir={tmp_path}"]))
    assert rec["status"] == "failed" and rec["error"].startswith("Diverged: MAE ") and rec["mae"] is None
    assert f"{rec['mae_colmean']:.4g}" in rec["error"] and f"limit {DIVERGENCE_RATIO:g}x" in rec["error"]


def test_a_mixed_cell_far_off_on_its_numerical_entries_is_recorded_failed(tmp_path, monkeypatch):
    from knewimp.baselines.mean import MeanImputer

    def far(self, X, mask):  # 8 sd above each column's mean: inside the range guard, far from the truth
        mu, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        return np.where(mask, mu + 8 * sd, X)
    monkeypatch.setattr(MeanImputer, "_impute", far)
    rec = run_cell(_compose(["experiment=mixed", "hydra/launcher=basic", "dataset=mpg", "mechanism=mcar", "seed=0",
                             "method=mean/published", f"results_dir={tmp_path}"]))
    assert rec["status"] == "failed" and rec["error"].startswith("Diverged: MAE ") and rec["mae"] is None
    assert rec["accuracy"] is None and f"{rec['mae_colmean']:.4g}" in rec["error"]


def test_the_multiple_fails_no_committed_ok_cell():
    """The committed records where a mean/published record shares the mask: none is beyond the rule."""
    import json
    from pathlib import Path

    paths = sorted((Path(__file__).resolve().parents[1] / "results").rglob("runs/*.json"))
    recs = [json.loads(p.read_text()) for p in paths]
    mean = {(r["mask_digest"], r["dataset"]): r["mae"] for r in recs
            if r["method"] == "mean" and r["status"] == "ok" and r.get("mask_digest")}
    ratios = [r["mae"] / mean[(r["mask_digest"], r["dataset"])] for r in recs
              if r["status"] == "ok" and (r.get("mask_digest"), r["dataset"]) in mean]
    assert len(ratios) > 1000 and max(ratios) < DIVERGENCE_RATIO


def test_the_range_guard_is_per_column():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_t(1, size=400), rng.uniform(-1, 1, size=400)])
    mask = np.zeros_like(X, dtype=bool)
    mask[:5, 1] = True
    heavy = np.nanmax(np.abs((X[:, 0] - X[:, 0].mean()) / X[:, 0].std()))
    assert heavy > 10  # the heavy column alone would allow > 100 sd everywhere
    filled = X.copy()
    filled[:5, 1] = 0.58 * 50  # 50 sd of the bounded column (its sd is about 0.58)
    with pytest.raises(ImputationError, match=r"in column 1, whose limit is"):
        check_in_range(X, mask, filled)


def test_the_committed_ratio_file_names_exactly_the_records_the_rule_failed():
    """scripts/divergence_ratios.py --apply rewrote the committed ok records beyond the rule: each is
    failed with its ratio above the multiple, and the rendered file lists exactly those."""
    import json
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "results"
    migrated = {}
    for p in sorted(results.rglob("runs/*.json")):
        rec = json.loads(p.read_text())
        if rec.get("migrated"):
            assert rec["status"] == "failed" and rec["mae"] is None and rec["mae_ratio"] > DIVERGENCE_RATIO
            assert rec["error"].startswith("Diverged: ") and f"limit {DIVERGENCE_RATIO:g}x" in rec["error"]
            migrated[rec["cell_id"]] = rec["mae_ratio"]
    data = json.loads((results / "bench" / "divergence_ratios.json").read_text())
    assert {r["cell_id"]: r["ratio"] for r in data["failed_by_the_rule"]} == migrated
    assert data["divergence_ratio"] == DIVERGENCE_RATIO and data["quantiles"]["1"] <= DIVERGENCE_RATIO
