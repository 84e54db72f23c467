"""Downstream tasks (paper Tables F.8/F.9): targets against the raw files, the leak guard, the exact
matrix the model sees, the check against the grid's record, and the experiment's cell ids."""
import collections
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA_DIR, ROOT

from knewimp.harness.cell import run_cell
from knewimp.harness.downstream import target_for_cell
from knewimp.harness.identity import IDENTITY_FIELDS, cell_id
from knewimp.harness.records import read_record, record_path, write_record
from knewimp.harness.sweep import _compose, expected_cells
from knewimp.harness.validate import UserError
from knewimp.protocol import downstream as D
from knewimp.protocol.cell_input import make_cell_input, standardise
from knewimp.protocol.datasets import load_dataset

pytestmark = pytest.mark.skipif(DATA_DIR is None, reason="needs the raw UCI files (KNEWIMP_DATA_DIR)")

CLASS_COUNTS = {
    "bcd": {"B": 357, "M": 212},
    "is": {"g": 225, "b": 126},
    "qb": {"NRB": 699, "RB": 356},
    "cbv": {k: 90 for k in range(11)},
    "wqw": {3: 20, 4: 163, 5: 1457, 6: 2198, 7: 880, 8: 175, 9: 5},
}


@pytest.mark.parametrize("dataset", sorted(CLASS_COUNTS))
def test_class_targets_match_the_raw_files(dataset):
    y = D.load_target(dataset, DATA_DIR)
    assert D.TASKS[dataset].kind == "classification"
    assert dict(collections.Counter(y.tolist())) == CLASS_COUNTS[dataset]
    assert len(y) == load_dataset(dataset, DATA_DIR).shape[0]


def test_regression_target_is_concrete_strength_not_age():
    y = D.load_target("cc", DATA_DIR)
    assert D.TASKS["cc"].kind == "regression" and y.shape == (1030,)
    assert (y.min(), y.max()) == pytest.approx((2.33, 82.6), abs=0.01)  # MPa; age is 1..365 days, integer
    raw = pd.read_excel(Path(DATA_DIR) / "Concrete_Data.xls")
    assert "strength" in raw.columns[-1].lower() and "age" in raw.columns[-2].lower()
    age = raw.iloc[:, -2].to_numpy(dtype=float)
    assert age.min() == 1 and age.max() == 365
    X = load_dataset("cc", DATA_DIR)  # the loader keeps neither age nor strength
    assert X.shape == (1030, 7) and not any(np.array_equal(X[:, j], col) for j in range(7) for col in (age, y))


@pytest.mark.parametrize("dataset", sorted(D.TASKS))
def test_no_feature_matrix_contains_its_target(dataset):
    X = load_dataset(dataset, DATA_DIR)
    assert D.leaked_columns(X, D.load_target(dataset, DATA_DIR)) == []


def test_the_guard_finds_a_target_a_loader_keeps():
    # Parkinsons' matrix keeps `status` (the paper's loader does): the guard names that column.
    X = load_dataset("pk", DATA_DIR)
    status = pd.read_csv(Path(DATA_DIR) / "parkinsons.data")["status"].to_numpy()
    assert D.leaked_columns(X, status) == [16]


def test_an_imputer_input_holding_the_label_is_refused(tmp_path):
    X, mask = make_cell_input("bcd", "mcar", 0.3, 0, DATA_DIR)
    y = D.load_target("bcd", DATA_DIR)
    cfg = _compose(["dataset=bcd", "downstream=true", f"results_dir={tmp_path}"])
    X_miss = np.where(mask, np.nan, X)
    assert target_for_cell(cfg, "bcd", X_miss) is not None
    leaking = X_miss.copy()
    codes = standardise((y == "M").astype(float)[:, None])[:, 0]
    leaking[:, 5] = np.where(mask[:, 5], np.nan, codes)  # the label, masked like the column it replaced
    with pytest.raises(D.LeakError, match="column 5"):
        target_for_cell(cfg, "bcd", leaking)
    with pytest.raises(D.LeakError):  # and the model never scores a matrix holding it
        D.evaluate(np.column_stack([X[:, :5], codes, X[:, 6:]]), y, "classification", repeats=1)


def test_a_leaked_label_would_change_the_score():
    # What the guard protects: one column replaced by the class code lifts cbv's accuracy (0.66 -> 0.75).
    X = standardise(load_dataset("cbv", DATA_DIR))
    y = D.load_target("cbv", DATA_DIR)
    honest = D._cv(X, y, "classification", None)["accuracy"]
    leaked = X.copy()
    leaked[:, 0] = standardise(y.astype(float)[:, None])[:, 0]
    assert D._cv(leaked, y, "classification", None)["accuracy"] > honest + 0.05


def test_evaluation_protocol():
    X = standardise(load_dataset("is", DATA_DIR))
    y = D.load_target("is", DATA_DIR)
    res = D.evaluate(X, y, "classification", repeats=3)
    acc = res["accuracy"]
    assert len(acc["repeats"]) == 3 and acc["mean"] == pytest.approx(np.mean(acc["repeats"]))
    assert len(set(acc["repeats"])) > 1  # the repeats shuffle the folds
    assert D.evaluate(X, y, "classification", repeats=3) == res  # deterministic
    assert D.model_for("classification").get_params()["gamma"] == "auto"
    with pytest.raises(ValueError, match="complete"):
        D.evaluate(np.where(X > 2, np.nan, X), y, "classification")


def _grid_record(dataset, mechanism, method):
    cells = [c for c in expected_cells("downstream") if (c["dataset"], c["mechanism"], c["method"]) == (dataset, mechanism, method)]
    (cell,) = cells
    for folder in ("results", "results/new_baselines"):
        rec = read_record(record_path(ROOT / folder, cell_id(**cell)))
        if rec is not None:
            return rec
    raise AssertionError("no grid record")


def test_a_cell_scores_exactly_the_imputed_standardised_matrix(tmp_path):
    grid = tmp_path / "grid"
    ref = _grid_record("is", "mar", "mean")
    write_record(grid, ref)
    out = tmp_path / "down"
    shutil.copytree(grid, out)  # an ok record without the scores: the downstream launch computes it
    cfg = _compose(["experiment=downstream", "dataset=is", "mechanism=mar", "method=mean/published", "seed=0",
                    f"results_dir={out}", f"downstream_reference=[{grid}]", "hydra.mode=RUN"])
    rec = run_cell(cfg)
    assert rec["cell_id"] == ref["cell_id"] and rec["status"] == "ok"
    assert rec["grid_reference"]["same"] and rec["grid_reference"]["exact"]
    # the matrix the model sees: the cell's standardised matrix, missing entries filled, observed kept
    X, mask = make_cell_input("is", "mar", 0.3, 0, DATA_DIR)
    X_miss = np.where(mask, np.nan, X)
    X_hat = np.where(mask, np.nanmean(X_miss, axis=0), X)
    y = D.load_target("is", DATA_DIR)
    assert rec["downstream"]["imputed"] == json.loads(json.dumps(D.evaluate(X_hat, y, "classification")))
    assert rec["downstream"]["ground_truth"] == json.loads(json.dumps(D.evaluate(X, y, "classification")))
    assert read_record(record_path(out, rec["cell_id"]))["downstream"] == rec["downstream"]

    # another imputation under the same id (here: the grid's MAE off by 1%) fails the cell
    write_record(grid, {**ref, "mae": ref["mae"] * 1.01})
    bad = run_cell(_compose(["experiment=downstream", "dataset=is", "mechanism=mar", "method=mean/published",
                             "seed=0", f"results_dir={out}", f"downstream_reference=[{grid}]", "force=true",
                             "hydra.mode=RUN"]))
    assert bad["status"] == "failed" and "differs from the record" in bad["error"]
    assert "no seed spread to judge by" in bad["error"]

    # beside the block's other seeds, the same 1% is a tenth of their spread and more: a rerun of the
    # grid's method on its mask (another path through the arithmetic), kept with its own MAE and flagged
    for seed, scale in zip(range(1, 5), (0.9, 0.95, 1.05, 1.1)):
        other = {**ref, "seed": seed, "mae": ref["mae"] * scale}
        write_record(grid, {**other, "cell_id": cell_id(**{k: other.get(k) for k in IDENTITY_FIELDS})})
    rerun = run_cell(_compose(["experiment=downstream", "dataset=is", "mechanism=mar", "method=mean/published",
                               "seed=0", f"results_dir={out}", f"downstream_reference=[{grid}]", "force=true",
                               "hydra.mode=RUN"]))
    assert rerun["status"] == "ok" and rerun["grid_reference"]["rerun"] and not rerun["grid_reference"]["same"]
    assert rerun["mae"] == ref["mae"] and rerun["downstream"]["imputed"] == rec["downstream"]["imputed"]


def test_every_downstream_cell_is_a_committed_grid_cell():
    # Same id as the grid's cell: the option is not identity, and the check finds the grid's record.
    cells = expected_cells("downstream")
    assert len(cells) == 6 * 3 * 11 and {c["seed"] for c in cells} == {0}
    have = {p.stem for folder in ("results", "results/new_baselines") for p in (ROOT / folder / "runs").glob("*.json")}
    assert not [cell_id(**c) for c in cells if cell_id(**c) not in have]


def test_downstream_options_are_checked_before_compute(tmp_path):
    from knewimp.harness.run import prepare

    with pytest.raises(UserError, match="dataset='bt': no downstream task"):
        prepare(["-m", "experiment=downstream", "dataset=bt,cc", f"results_dir={tmp_path}"])
    with pytest.raises(UserError, match="downstream=.*true or false"):
        prepare(["dataset=cc", "downstream=3", f"results_dir={tmp_path}"])
    with pytest.raises(UserError, match="downstream_reference"):
        prepare(["dataset=cc", "downstream=true", "downstream_reference=results", f"results_dir={tmp_path}"])


def test_a_difference_beyond_rounding_is_the_same_imputation_within_a_tenth_of_the_seed_spread_a_rerun_within_it(tmp_path):
    from omegaconf import OmegaConf

    from knewimp.harness.downstream import RERUN_SPREADS, SPREAD_SHARE, reference_check

    def rec(seed, mae):
        return dict(cell_id=cell_id("bcd", "mar", 0.3, seed, "gain", "paper", {}), dataset="bcd", mechanism="mar",
                    missing_rate=0.3, seed=seed, method="gain", preset="paper", params={}, protocol={},
                    status="ok", mae=mae, mask_digest=f"m{seed}")
    for seed, mae in enumerate([0.60, 0.64, 0.68, 0.72, 0.76]):
        write_record(tmp_path, rec(seed, mae))
    spread = float(np.std([0.60, 0.64, 0.68, 0.72, 0.76], ddof=1))
    cfg = OmegaConf.create({"downstream_reference": [str(tmp_path)]})
    near = reference_check(cfg, {**rec(0, 0.60 + 0.9 * SPREAD_SHARE * spread)})
    assert near["same"] and not near["rerun"] and not near["exact"] and near["seed_spread"] == pytest.approx(spread)
    # beyond a tenth of the spread but within it: a rerun (another path through training), not the grid's
    rerun = reference_check(cfg, {**rec(0, 0.60 + 1.1 * SPREAD_SHARE * spread)})
    assert not rerun["same"] and rerun["rerun"]
    assert reference_check(cfg, {**rec(0, 0.60 - 0.9 * RERUN_SPREADS * spread)})["rerun"]
    far = reference_check(cfg, {**rec(0, 0.60 + 1.1 * RERUN_SPREADS * spread)})
    assert not far["same"] and not far["rerun"]
    other_mask = reference_check(cfg, {**rec(0, 0.60), "mask_digest": "another"})
    assert not other_mask["same"] and not other_mask["rerun"]
    other_mask_near = reference_check(cfg, {**rec(0, 0.60 + 0.5 * spread), "mask_digest": "another"})
    assert not other_mask_near["same"] and not other_mask_near["rerun"]
