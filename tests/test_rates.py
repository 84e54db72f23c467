"""The rates experiments: their configs, the refusal of masks that cannot be drawn as asked, the
report on tiny synthetic records, and the status's estimates for a fresh folder."""
import numpy as np
import pytest

from knewimp.harness import records
from knewimp.harness.identity import cell_id
from knewimp.harness.status import grid_status, prior_records
from knewimp.harness.sweep import experiment_config, expected_cells
from knewimp.protocol import amputation
from knewimp.protocol.amputation import MaskError, ampute
from knewimp.report.experiments import rates

# ------------------------------------------------------------------------------ configs

def _swept(experiment):
    return {k: str(v).split(",") for k, v in experiment_config(experiment).hydra.sweeper.params.items()}


def test_rates_runs_the_views_columns_cheapest_first_at_the_papers_other_rates():
    params = _swept("rates")
    assert params["method"] == [f"{m}/{p}" for m, p, _ in rates.COLUMNS]
    assert list(params)[0] == "method"  # outermost: a partial run leaves whole columns
    assert [float(r) for r in params["missing_rate"]] == list(rates.PAPER_RATES)
    assert experiment_config("rates").results_dir == "results/rates"


def test_rates_high_runs_past_the_paper_without_the_two_costliest_columns():
    params = _swept("rates_high")
    assert [float(r) for r in params["missing_rate"]] == list(rates.HIGH_RATES)
    assert params["method"] == [f"{m}/{p}" for m, p, _ in rates.COLUMNS
                                if m not in ("sinkhorn", "remasker")]
    assert experiment_config("rates_high").results_dir == "results/rates"


# ------------------------------------------------------------------------------ masks

def test_a_mask_leaving_a_column_unobserved_is_refused_naming_the_values():
    X = np.random.default_rng(0).normal(size=(3, 4))
    refused = 0
    for seed in range(60):
        try:
            mask = ampute(X, "mcar", 0.5, seed)
        except MaskError as exc:
            refused += 1
            assert "mechanism=mcar missing_rate=0.5" in str(exc) and "no observed entry" in str(exc)
            assert "\n" not in str(exc)
        else:  # what is returned is the seed's draw, never thinned
            assert not mask.all(axis=0).any()
            np.testing.assert_array_equal(mask, np.random.default_rng(seed).random(X.shape) < 0.5)
    assert 0 < refused < 60


def test_a_mask_with_no_missing_entry_is_refused():
    with pytest.raises(MaskError, match="no entry of the 2 x 2 matrix drawn missing"):
        amputation.check_drawn(np.zeros((2, 2), dtype=bool), "mcar", 0.01)


def test_an_unreachable_logistic_rate_is_refused_in_one_line():
    Z = np.zeros((1000, 1))
    Z[0] = 200.0  # one row's probability is 1 for every intercept in [-50, 50]: the mean stays >= 1/1000
    with pytest.raises(MaskError, match=r"missing_rate=0\.0001: logistic column 0 reaches only"):
        amputation._intercepts(Z, 1e-4)


def test_mar_at_high_rates_realises_about_half_the_asked_rate_and_mcar_keeps_empty_rows():
    X = np.random.default_rng(1).normal(size=(2000, 4))
    mar = ampute(X, "mar", 0.8, 0, p_obs=0.5)
    assert abs(mar.mean() - 0.4) < 0.03 and (~mar).all(axis=0).sum() == 2
    mcar = ampute(X, "mcar", 0.8, 0)
    assert abs(mcar.all(axis=1).mean() - 0.8 ** 4) < 0.03  # rows with no observed entry are kept


# ------------------------------------------------------------------------------ report

PAPER = {"tables": [
    {"id": "Table G.1", "missing_rate": 0.1, "rows": [
        {"mechanism": "MCAR", "method": m, "dataset": "BT", "metric": k, "value": v, "significant": False,
         "stat": "mean"} for m, k, v in (("NewImp", "MAE", 0.40), ("NewImp", "WASS", 0.20),
                                         ("TDM", "MAE", 0.90), ("TDM", "WASS", 0.5))]},
    {"id": "Table G.2", "missing_rate": 0.1, "rows": [
        {"mechanism": "MCAR", "method": m, "dataset": "BT", "metric": k, "value": 0.01, "significant": False,
         "stat": "std"} for m in ("NewImp", "TDM") for k in ("MAE", "WASS")]},
]}


def _rec(method, preset, rate, dataset, seed, mae, status="ok"):
    return dict(method=method, preset=preset, missing_rate=rate, mechanism="mcar", dataset=dataset, seed=seed,
                params={}, status=status, mae=mae if status == "ok" else None,
                wass=mae / 2 if status == "ok" else None)


def _records():
    """knewimp/paper beats mice/single at low rates and loses from 50%; both beat the column mean by less
    as the rate grows; knewimp at 10% on bt: 0.400 ± 0.001 (reproduces 0.40); tdm 0.95 (within 10% of 0.90)."""
    out = []
    for ds in ("bt", "pk"):
        for rate, km, mi, cm in ((0.1, 0.40, 0.50, 1.0), (0.3, 0.50, 0.55, 1.0), (0.5, 0.80, 0.70, 1.0)):
            for seed in range(3):
                eps = 0.001 * (seed - 1)
                out += [_rec("knewimp", "paper", rate, ds, seed, km + eps), _rec("mice", "single", rate, ds, seed, mi + eps),
                        _rec("mean", "published", rate, ds, seed, cm + eps)]
    out += [_rec("tdm", "paper", 0.1, "bt", s, 0.95 + 0.001 * s) for s in range(3)]
    out += [_rec("gain", "paper", 0.1, "bt", 0, None, status="failed")]
    return out


def test_the_rates_report_puts_each_printed_cell_beside_ours_with_the_main_verdicts(tmp_path):
    paths = rates.build(_records(), PAPER, tmp_path)
    names = {p.name for p in paths}
    assert {"experiments_rates.md", "experiments_rates_tables_g.md", "rates_mcar.png"} <= names
    g = (tmp_path / "tables" / "experiments_rates_tables_g.md").read_text()
    row = next(line for line in g.splitlines() if line.startswith("| NewImp (knewimp/paper)") and "0.40" in line)
    assert "0.40 · 0.400 ± 0.001 (3) =" in row
    tdm = next(line for line in g.splitlines() if line.startswith("| TDM (tdm/paper)") and "0.90" in line)
    assert "0.90 · 0.951 ± 0.001 (3) ~" in tdm  # not reproduced (tight seeds) but within 10%
    assert "| column mean (ours, not printed) | 1.000 (3) |" in g
    text = (tmp_path / "tables" / "experiments_rates.md").read_text()
    assert "| knewimp/paper | 6/120 | 6/120 | 6/120 |" in text  # 2 datasets x 1 mechanism x 3 seeds: incomplete
    assert "| gain/paper | 0/120 (1 failed) | 0/120 | 0/120 |" in text


def test_the_rates_sentences_say_where_ranks_change_and_how_the_advantage_moves(tmp_path):
    summ = rates.summaries(_records())
    (mae,) = rates.rank_sentences(summ, [0.1, 0.3, 0.5], "mae")
    assert "over the 2 blocks where the column mean has every rate, 3 columns ranked" in mae
    assert "knewimp/paper is 1 at 10%, 2 from 50%" in mae and "mice/single is 2 at 10%, 1 from 50%" in mae
    assert "mean/published keeps position 3 at every rate" in mae
    assert "not ranked, a cell missing: tdm/paper" in mae
    adv = rates.advantage_sentence(summ, [0.1, 0.3, 0.5], "mae")
    assert "+60% at 10%, +50% at 30%, +20% at 50%; the advantage shrinks from 10% to 50%." in adv


def test_the_rates_report_writes_nothing_without_its_records(tmp_path):
    assert rates.report(tmp_path, tmp_path / "out") == []


# ------------------------------------------------------------------------------ compute planned

def test_status_of_a_fresh_folder_estimates_every_column_from_the_prior(tmp_path):
    prior = tmp_path / "results"
    for cell in expected_cells("quick"):
        if cell["seed"] == 0:
            records.write_record(prior / "quick", dict(cell, cell_id=cell_id(**cell), status="ok", error=None,
                                                       mae=0.5, rmse=0.7, wass=0.1, fit_seconds=99.0))
    recs, line = prior_records(prior, exclude=tmp_path / "fresh")
    assert len(recs) == 12 and "12 records of 1 other folders" in line
    report, _ = grid_status("quick", tmp_path / "fresh", prior=(recs, line))
    assert "0 of 36 cells ok" in report and "no record to estimate from" not in report
    assert "| mean | 0 | 0 | 18 | 0.00 | 0.50 |" in report  # 18 cells at 99 s + 1 s overhead


def test_the_masks_table_shows_realised_rates_empty_rows_and_refusals():
    entries = [dict(dataset="bt", mechanism="mar", rate=0.8, seed=s, refused=None, realised=0.4, empty_rows=0.0,
                    min_observed_in_a_column=27) for s in range(2)]
    entries.append(dict(dataset="bt", mechanism="mar", rate=0.8, seed=2, refused="MaskError: ..."))
    text = rates.masks_table(entries)
    assert "| mar | 80% | 40% · 0.0% (refused 1) | -- |" in text and text.rstrip().endswith("| 27 |")
