"""The scaling experiment: large packaged tables (digest-checked), nested row subsamples, the time
cap recorded as a result, peak memory in the records, and the report's fit and sentence."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from knewimp.harness.cell import run_cell
from knewimp.harness.identity import cell_identity
from knewimp.harness.sweep import _compose, expected_cells
from knewimp.harness.validate import UserError
from knewimp.protocol import datasets
from knewimp.protocol.cell_input import make_cell_input, subsample_rows
from knewimp.report.experiments import scale


@pytest.mark.parametrize("name", ["diamonds", "budgetfood"])
def test_a_large_table_loads_digest_checked_with_its_numerical_columns(name):
    X = datasets.load_dataset(name)
    assert X.shape == datasets.LARGE_SPECS[name].shape == datasets.dataset_shape(name)
    assert np.isfinite(X).all() and (X.std(axis=0) > 0).all()


def test_a_changed_packaged_file_is_refused(monkeypatch):
    spec = dataclasses.replace(datasets.LARGE_SPECS["budgetfood"], sha256="0" * 64)
    monkeypatch.setitem(datasets.LARGE_SPECS, "budgetfood", spec)
    with pytest.raises(datasets.DataError, match="SHA-256 6a6a614d71ab3c38"):
        datasets.load_dataset("budgetfood")


def test_row_subsamples_are_fixed_per_seed_nested_and_bounded():
    X = np.arange(1000.0).reshape(500, 2)
    small, large = subsample_rows(X, 50, 1), subsample_rows(X, 200, 1)
    assert np.array_equal(small, subsample_rows(X, 50, 1)) and not np.array_equal(small, subsample_rows(X, 50, 2))
    assert set(small[:, 0]) <= set(large[:, 0])
    assert subsample_rows(X, None, 0) is X
    with pytest.raises(ValueError, match="n_rows=501: must be between 1 and the dataset's 500 rows"):
        subsample_rows(X, 501, 0)
    Xs, mask = make_cell_input("budgetfood", "mcar", 0.3, 0, n_rows=400)
    assert Xs.shape == mask.shape == (400, 5) and abs(mask.mean() - 0.3) < 0.05


def test_the_scale_keys_are_identity_only_when_set():
    plain = cell_identity(_compose(["dataset=bt", "method=mean/published"]))
    assert plain["protocol"] == {}
    capped = cell_identity(_compose(["dataset=bt", "method=mean/published", "time_cap_s=5"]))
    assert capped == plain, "the cap decides whether a cell finishes, not its result"
    sub = cell_identity(_compose(["dataset=diamonds", "method=mean/published", "n_rows=1000", "wass_row_sample=300"]))
    assert sub["protocol"] == {"n_rows": 1000, "wass_row_sample": 300}
    assert len(expected_cells("scale")) == 6 * 3 * 13


@pytest.mark.parametrize("override, message", [("n_rows=1", "n_rows=1: must be an integer >= 2"),
                                               ("time_cap_s=0", "time_cap_s=0: must be a number of seconds > 0")])
def test_a_bad_scale_key_is_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        run_cell(_compose(["dataset=bt", "method=mean/published", override, f"results_dir={tmp_path}"]))


def test_a_fit_past_the_cap_is_recorded_failed_time_cap(tmp_path):
    rec = run_cell(_compose(["dataset=budgetfood", "n_rows=300", "method=knewimp/quick", "time_cap_s=0.2",
                             f"results_dir={tmp_path}", "device=cpu"]))
    assert rec["status"] == "failed" and rec["error"].startswith("time cap") and rec["time_cap_s"] == 0.2
    assert rec["n"] == 300 and rec["mae"] is None
    # more rows of the same column and seed: not run, recorded failed by the cap met at 300 rows
    more = run_cell(_compose(["dataset=budgetfood", "n_rows=600", "method=knewimp/quick", "time_cap_s=0.2",
                              f"results_dir={tmp_path}", "device=cpu"]))
    assert more["status"] == "failed" and more["error"].startswith("time cap: not run; at n_rows=300")
    assert more["fit_seconds"] == 0.0 and "n" not in more and len(more["mask_digest"]) == 16
    # more rows again: the fit named is the one that ran, at 300 rows, not the record of 600 not run
    most = run_cell(_compose(["dataset=budgetfood", "n_rows=700", "method=knewimp/quick", "time_cap_s=0.2",
                              f"results_dir={tmp_path}", "device=cpu"]))
    assert most["error"].startswith("time cap: not run; at n_rows=300") and "past a cap (0.2 s)" in most["error"]
    # another method is its own column
    other = run_cell(_compose(["dataset=budgetfood", "n_rows=600", "method=mean/published", "time_cap_s=0.2",
                               f"results_dir={tmp_path}", "device=cpu"]))
    assert other["status"] == "ok"


def test_a_cell_capped_at_fewer_rows_is_recorded_even_when_its_estimate_passes_the_deadline(tmp_path):
    """Recording "not run" costs nothing, so stop_at does not hold it back for the fit it skips."""
    import datetime as dt

    from knewimp.harness import records
    from knewimp.harness.identity import cell_id

    base = ["dataset=diamonds", "method=knewimp/quick", "time_cap_s=3600", f"results_dir={tmp_path}", "device=cpu"]

    def fake(n, seed, status, seconds, error=None):
        identity = cell_identity(_compose([*base, f"n_rows={n}", f"seed={seed}"]))
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        scores = dict(mae=0.5, rmse=0.7, wass=0.1) if status == "ok" else dict(mae=None)
        records.write_record(tmp_path, dict(cell_id=cell_id(**identity), **identity, status=status, **scores,
                                            fit_seconds=seconds, error=error, started_at=start.isoformat(),
                                            finished_at=(start + dt.timedelta(seconds=seconds)).isoformat()))
    fake(300, 0, "failed", 3600.0, "time cap: the fit ran past time_cap_s=3600 s of CPU time and was stopped")
    fake(600, 1, "ok", 3000.0)  # the column's estimate at 600 rows: 50 minutes
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat(timespec="seconds")
    rec = run_cell(_compose([*base, "n_rows=600", "seed=0", f"stop_at={soon}"]))
    assert rec["status"] == "failed" and rec["error"].startswith("time cap: not run; at n_rows=300")
    held = run_cell(_compose([*base, "n_rows=600", "seed=2", f"stop_at={soon}"]))  # no cap met: held
    assert held["status"] == "not_started" and "estimated" in held["error"]


def test_the_cap_counts_cpu_time_not_wall_time():
    import time

    from knewimp.harness.scale import TimeCap, time_cap

    with time_cap(0.2):
        time.sleep(0.4)  # waiting (a busy machine, I/O) uses no CPU time: not stopped
    with pytest.raises(TimeCap, match="time_cap_s=0.2 s of CPU time"), time_cap(0.2):
        end = time.process_time() + 5.0
        while time.process_time() < end:
            pass


def test_a_subsampled_cell_records_memory_and_cpu_time(tmp_path):
    rec = run_cell(_compose(["dataset=diamonds", "n_rows=500", "wass_row_sample=100", "method=mean/published",
                             f"results_dir={tmp_path}"]))
    assert rec["status"] == "ok" and (rec["n"], rec["d"]) == (500, 7)
    assert rec["wass_method"].endswith(" rows") and " on 100 of " in rec["wass_method"]
    assert rec["peak_rss_mb"] >= rec["rss_before_fit_mb"] > 0 and rec["fit_cpu_seconds"] >= 0


def _rec(method, n, seconds, status="ok", error=None):
    return dict(method=method, preset="p", n=n, status=status, error=error, fit_cpu_seconds=seconds,
                fit_seconds=seconds, peak_rss_mb=100.0 + n / 10, mae=0.5 if status == "ok" else None, time_cap_s=60)


def test_the_report_fits_the_exponent_and_says_who_is_usable_at_the_largest_n(tmp_path):
    recs = [_rec("mean", n, 1e-4 * n) for n in (1000, 2000, 4000)]
    recs += [_rec("tdm", n, 1e-6 * n**2) for n in (1000, 2000)] + [_rec("tdm", 4000, None, "failed", "time cap: past")]
    # capped at fewer rows: not run at 4,000, so the record has the subsample's size only
    recs += [_rec("gain", 1000, 1.0), _rec("gain", 2000, None, "failed", "time cap: past"),
             {**_rec("gain", 4000, None, "failed", "time cap: not run"), "n": None, "protocol": {"n_rows": 4000}}]
    rows = scale.summarise(recs)
    assert [(r["n"], r["ok"], r["capped"]) for r in rows["gain/p"]] == [(1000, 1, 0), (2000, 0, 1), (4000, 0, 1)]
    assert scale.fit_exponent([r["n"] for r in rows["mean/p"]], [r["cpu_seconds"] for r in rows["mean/p"]]) == \
        pytest.approx(1.0)
    assert scale.fit_exponent([1000, 2000], [1.0, 4.0]) == pytest.approx(2.0)
    sentence = scale.usable_sentence(rows, recs)
    assert sentence.startswith("At n = 4,000 rows") and "`mean/p` finished every recorded seed within the cap of 60 CPU seconds" in sentence
    assert "`tdm/p`, `gain/p` ran past the cap (at this n, or at fewer rows and were then not run here)" in sentence
    markdown, _ = scale.scale_table(rows, recs)
    assert "| `tdm/p` | 2.00 | 4,000 | 0 / 1 / 0 |" in markdown
    assert scale.scale_figure(rows, tmp_path / "scale.png").stat().st_size > 0


def test_the_bench_table_gives_ratios_to_the_exact_kernel_of_the_same_run():
    cell = dict(kind="accuracy", dataset="cc", n=100, d=3, mechanism="mar", seed=0, n_outer=2, score_epochs=200,
                n_steps=500, cpu_seconds=10.0, loadavg_before=1.0)
    step = dict(kind="timing", n=50000, d=10, dtype="float32", cpu_dsm_epoch=1.0, cpu_score_eval=0.1,
                cpu_full_run_estimate=600.0, loadavg_before=1.0)
    entries = [dict(cell, variant="knewimp/paper", mae=0.5, wass=0.4, file="a"),
               dict(cell, variant="knewimp/scalable", mae=0.51, wass=0.38, cpu_seconds=5.0, file="a"),
               dict(step, variant="exact", cpu_step=10.0, cpu_direction=9.9, file="b"),
               dict(step, variant="knn", cpu_step=0.5, cpu_direction=0.4, file="b")]
    markdown, rows = scale.bench_table({"host": {"cpus": 2}, "entries": entries})
    assert "| `knewimp/scalable` | 0.510 | 0.380 | 1.020 | 0.950 | 5.0 | 0.50 |" in markdown
    assert "| 50,000 x 10 | float32 | knn | 0.500 | 0.400 | 1.000 | 10.0 | 20.0x faster |" in markdown
    assert len({tuple(r) for r in rows}) == 1, "one CSV header for both kinds of row"


def test_the_bench_summary_averages_seeds_and_the_complete_run_meets_or_misses_its_target():
    cell = dict(kind="accuracy", dataset="diamonds", n=5000, d=7, mechanism="mar", n_outer=2, score_epochs=200,
                n_steps=500, cpu_seconds=10.0, loadavg_before=1.0, file="a")
    entries = [dict(cell, seed=0, variant="knewimp/paper", mae=0.40, wass=0.50),
               dict(cell, seed=1, variant="knewimp/paper", mae=0.60, wass=0.50),
               dict(cell, seed=0, variant="knewimp/scalable", mae=0.41, wass=0.49),
               dict(cell, seed=1, variant="knewimp/scalable", mae=0.60, wass=0.52),
               dict(cell, seed=2, variant="knewimp/scalable", mae=0.90, wass=0.90),  # no exact cell: left out
               dict(cell, seed=0, variant="knewimp/scalable_fast", mae=0.45, wass=0.50)]
    rows = scale.accuracy_summary(entries)
    assert [(r["variant"], r["seeds"], r["within"]) for r in rows] == [("knewimp/scalable", 2, True),
                                                                         ("knewimp/scalable_fast", 1, False)]
    assert rows[0]["mae_ratio"] == pytest.approx(1.01 / 1.0) and rows[0]["wass_ratio"] == pytest.approx(1.01)
    run = dict(kind="full_run", n=50000, d=10, mae=0.3, wall_seconds=900.0, loadavg_before=5.0,
               timings={"score_fit": 20.0, "particle_steps": 800.0})
    markdown, _ = scale.bench_table({"entries": entries + [dict(run, variant="knewimp/scalable", cpu_seconds=540.0),
                                                           dict(run, variant="knewimp/slow", cpu_seconds=660.0)]})
    # per cell: MAE ratios 1.025 and 1.000 (mean |ratio - 1| 1.25%); WASS 0.98 and 1.04 (3.0%)
    assert rows[0]["mae_dev"] == pytest.approx(0.0125) and rows[0]["wass_dev"] == pytest.approx(0.03)
    low, high = rows[0]["mae_ci"]  # mean 1.0125, sd 0.0177, t(0.975, 1) = 12.71: half-width 0.159
    assert low == pytest.approx(1.0125 - 0.1588, abs=1e-3) and high == pytest.approx(1.0125 + 0.1588, abs=1e-3)
    assert rows[1]["mae_ci"] is None, "one seed: no interval"
    assert "| diamonds | 5,000 x 7 | mar | full | `knewimp/scalable` | 2 | 1.010 | 1.010 | 1.2% | 3.0% | 0.854 to 1.171 | yes | yes |" in markdown
    assert "| 50,000 x 10 | `knewimp/scalable` | 9.00 | yes | 15.00 | 20 | 800 | 0.300 | 5.0 |" in markdown
    assert "| 50,000 x 10 | `knewimp/slow` | 11.00 | no |" in markdown


def test_the_exact_kernel_reseeded_gives_the_run_to_run_spread_each_variant_is_read_against():
    cell = dict(kind="accuracy", dataset="cc", n=1030, d=7, mechanism="mar", n_outer=2, score_epochs=200,
                n_steps=500, cpu_seconds=10.0, loadavg_before=1.0, file="a")
    entries = []
    for seed, (exact, again, approx) in enumerate([(0.50, 0.51, 0.505), (0.40, 0.392, 0.404)]):
        entries += [dict(cell, seed=seed, variant="knewimp/paper", mae=exact, wass=exact),
                    dict(cell, seed=seed, variant="knewimp/paper+reseed=1000", mae=again, wass=again),
                    dict(cell, seed=seed, variant="knewimp/scalable", mae=approx, wass=approx)]
    summary = scale.accuracy_summary(entries)
    spread = next(r for r in summary if r["variant"] == "knewimp/paper+reseed=1000")
    assert spread["mae_dev"] == pytest.approx(0.02)
    (sentence,) = scale.spread_sentences(summary)
    assert "moves a cell's MAE by 2.0% and its WASS by 2.0% on average over 2 seeds" in sentence
    assert "`knewimp/scalable` 1.0% and 1.0% over 2 seeds (MAE no larger than, WASS no larger than that spread)" in sentence
    worse = [dict(e, mae=0.60) if e["variant"] == "knewimp/scalable" else e for e in entries]
    assert "(MAE larger than, WASS no larger than that spread)" in scale.spread_sentences(scale.accuracy_summary(worse))[0]
    assert "moves a cell's MAE by" in scale.bench_table({"entries": entries})[0]


def test_a_reseed_variant_offsets_the_imputer_seed_and_is_not_a_method_key():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_scale", Path(__file__).resolve().parents[1] / "scripts" / "bench_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_variant("knewimp/paper+reseed=1000") == ("knewimp/paper", [], 1000)
    assert bench.parse_variant("knewimp/scalable+dtype=float64") == ("knewimp/scalable", ["method.dtype=float64"], 0)
    with pytest.raises(SystemExit, match="reseed='x'"):
        bench.parse_variant("knewimp/paper+reseed=x")


def test_a_failed_bench_run_is_listed_with_its_reason_and_left_out_of_the_means_with_its_pair():
    cell = dict(kind="accuracy", dataset="diamonds", n=5000, d=7, mechanism="mar", n_outer=2, score_epochs=200,
                n_steps=500, cpu_seconds=10.0, loadavg_before=1.0, file="a")
    entries = [dict(cell, seed=0, variant="knewimp/paper", mae=0.40, wass=0.50),
               dict(cell, seed=0, variant="knewimp/scalable", mae=0.44, wass=0.50),
               dict(cell, seed=1, variant="knewimp/paper", status="failed", error="imputations out of range"),
               dict(cell, seed=1, variant="knewimp/scalable", mae=0.90, wass=0.90)]
    (row,) = scale.accuracy_summary(entries)
    assert row["seeds"] == 1 and row["mae_ratio"] == pytest.approx(1.1) and not row["no_worse"]
    (better,) = scale.accuracy_summary([dict(e, mae=0.30) if e["variant"] != "knewimp/paper" else e for e in entries])
    assert better["mae_ratio"] == pytest.approx(0.75) and not better["within"] and better["no_worse"]
    markdown, rows = scale.bench_table({"entries": entries})
    assert "| diamonds | 5,000 x 7 | mar | 1 | full | `knewimp/paper` | failed | -- |" in markdown
    assert "- diamonds n = 5,000 mar seed 1, `knewimp/paper`: imputations out of range" in markdown
    assert [r.get("status") for r in rows].count("failed") == 1
