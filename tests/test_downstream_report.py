"""The downstream report (Tables F.8 / F.9): verdicts, rank correlations, ground truth, files."""
import pytest

from knewimp.harness.identity import cell_id
from knewimp.harness.records import write_record
from knewimp.report.experiments import downstream as R
from knewimp.report import paper as P


def _scores(values):
    return {"mean": sum(values) / len(values), "std": 0.0, "repeats": list(values), "unshuffled": values[0]}


def _record(method, preset, mae, acc, dataset="bcd", mech="mcar", gt=0.98, task="classification"):
    metric = "accuracy" if task == "classification" else "mae"
    imputed = {metric: _scores([acc + 0.001 * k for k in (-1, 0, 1)])}
    truth = {metric: _scores([gt] * 3)}
    if task == "regression":
        imputed["mse"], truth["mse"] = _scores([acc * 20] * 3), _scores([gt * 20] * 3)
    return {"cell_id": cell_id(dataset, mech, 0.3, 0, method, preset, {}), "params": {}, "dataset": dataset,
            "mechanism": mech, "missing_rate": 0.3, "seed": 0, "method": method, "preset": preset, "status": "ok", "mae": mae,
            "rmse": mae, "wass": mae, "downstream": {"task": task, "imputed": imputed, "ground_truth": truth,
                                                     "seconds": 1.0}}


PAPER_ROWS = [
    {"table": "Table F.8", "mechanism": "MCAR", "dataset": "BCD", "method": "NewImp", "metric": "accuracy",
     "stat": "mean", "value": 0.967},
    {"table": "Table F.8", "mechanism": "MCAR", "dataset": "BCD", "method": "NewImp", "metric": "accuracy",
     "stat": "std", "value": 1e-17},
    {"table": "Table F.8", "mechanism": None, "dataset": "BCD", "method": "Ground Truth", "metric": "accuracy",
     "stat": "mean", "value": 0.985},
]


def test_verdict_is_the_main_comparisons_with_the_printed_rounding():
    near = R.score_rows([_record("knewimp", "paper", 0.4, 0.967)], PAPER_ROWS)
    (row,) = near
    assert row["verdict"] == P.REPRODUCED and row["paper_method"] == "NewImp"
    assert row["gap_to_ground_truth"] == pytest.approx(0.98 - 0.967) and row["paper_gap_to_ground_truth"] == pytest.approx(0.985 - 0.967)
    (far,) = R.score_rows([_record("knewimp", "paper", 0.4, 0.90)], PAPER_ROWS)
    assert far["verdict"] == P.OURS_LOWER  # lower accuracy than printed
    (other,) = R.score_rows([_record("mean", "published", 0.8, 0.95)], PAPER_ROWS)
    assert other["verdict"] == "not in the paper"


def test_f9_rounding_is_three_significant_digits():
    assert R.half_width(12.2, "Table F.9") == pytest.approx(0.05)
    assert R.half_width(237.0, "Table F.9") == pytest.approx(0.5)
    assert R.half_width(0.967, "Table F.8") == pytest.approx(0.0005)


def test_rank_correlation_sign():
    # lower MAE <-> higher accuracy: the rankings agree (+1); reversed accuracies: -1
    agree = [_record(m, "p", mae, acc) for m, mae, acc in (("a", 0.2, 0.97), ("b", 0.3, 0.96), ("c", 0.4, 0.95))]
    (row,) = R.ranking_rows(agree, [])
    assert row["spearman_rho"] == pytest.approx(1.0)
    flip = [_record(m, "p", mae, acc) for m, mae, acc in (("a", 0.2, 0.95), ("b", 0.3, 0.96), ("c", 0.4, 0.97))]
    assert R.ranking_rows(flip, [])[0]["spearman_rho"] == pytest.approx(-1.0)
    # regression: lower MAE <-> lower SVR error agrees too
    reg = [_record(m, "p", mae, err, dataset="cc", task="regression", gt=10)
           for m, mae, err in (("a", 0.2, 11.0), ("b", 0.3, 12.0), ("c", 0.4, 13.0))]
    assert {r["metric"]: r["spearman_rho"] for r in R.ranking_rows(reg, [])} == {"mae": 1.0, "mse": pytest.approx(1.0)}


def test_ground_truth_is_one_number_per_dataset():
    recs = [_record("a", "p", 0.2, 0.97), _record("b", "p", 0.3, 0.96)]
    (row,) = R.ground_truth_rows(recs, PAPER_ROWS)
    assert row["ours_mean"] == pytest.approx(0.98) and row["paper_value"] == "0.985"
    with pytest.raises(ValueError, match="disagree"):
        R.ground_truth_rows([*recs, _record("c", "p", 0.3, 0.96, gt=0.9)], PAPER_ROWS)


def test_build_writes_the_tables_from_records_only(tmp_path):
    assert R.build(tmp_path / "none", tmp_path / "out", log=lambda *a: None) == []
    for rec in (_record("knewimp", "paper", 0.2, 0.97), _record("mean", "published", 0.3, 0.96),
                _record("mice", "single", 0.25, 0.965)):
        write_record(tmp_path / "down", rec)
    written = R.build(tmp_path / "down", tmp_path / "out", log=lambda *a: None)
    names = {p.name for p in written}
    assert {"downstream_f8.md", "downstream_ground_truth.md", "downstream_ranking.md", "downstream_headline.md"} <= names
    text = (tmp_path / "out" / "tables" / "downstream_ranking.md").read_text()
    assert "+1.00" in text and "Spearman" in text


def test_provenance_says_which_scores_are_not_the_grids_imputation():
    def ref(same, rerun, grid_mae, spread):
        return {"same": same, "rerun": rerun, "mae": grid_mae, "seed_spread": spread}
    grid = _record("knewimp", "paper", 0.2, 0.97)
    assert R.provenance([{**grid, "grid_reference": ref(True, False, 0.2, None)}]) == []
    recs = [{**grid, "grid_reference": ref(True, False, 0.2, None)},
            {**_record("miwae", "cpu", 0.31, 0.96), "grid_reference": ref(False, True, 0.30, 0.04)},
            {**_record("mean", "published", 0.3, 0.95), "grid_reference": None},
            {**_record("gain", "paper", 0.4, 0.9), "status": "failed", "grid_reference": ref(False, False, 0.1, 0.01)}]
    (text,) = R.provenance(recs)
    assert text.startswith("Of the 3 scored imputations, 1 are the grid's")
    assert "1 are reruns on the grid's mask whose MAE differs from the grid's record by at most 0.25 of" in text
    assert "(miwae/cpu:" in text and "and 1 have no grid record to check against" in text
    assert text.endswith("paired with its own imputation's MAE.")
