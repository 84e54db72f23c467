"""Cost estimates for cells not yet run: measured medians, power-law extrapolation, wall time."""
import math

import numpy as np
import pytest

from knewimp.harness.cost import OVERHEAD_SECONDS, CostModel, cell_seconds
from knewimp.protocol.datasets import SPECS


def rec(dataset, seconds, method="m", preset="p", **extra):
    return dict(dataset=dataset, method=method, preset=preset, fit_seconds=seconds, **extra)


def test_measured_dataset_uses_the_median_of_its_records():
    model = CostModel([rec("bt", 10.0), rec("bt", 30.0), rec("bt", 11.0), rec("pk", 500.0)])
    est = model.estimate("m", "p", "bt")
    assert est.source == "measured" and est.seconds == pytest.approx(11.0 + OVERHEAD_SECONDS)


def test_power_law_in_n_and_d_is_recovered_and_extrapolated():
    def law(ds):
        n, d = SPECS[ds].shape
        return 1e-3 * n ** 1.5 * d ** 0.5
    model = CostModel([rec(ds, law(ds)) for ds in ("pk", "bt", "is", "bcd")])
    est = model.estimate("m", "p", "wqw")
    assert est.source == "fitted"
    assert est.seconds - OVERHEAD_SECONDS == pytest.approx(law("wqw"), rel=1e-6)


def test_exponents_are_bounded_so_cost_never_shrinks_with_size():
    # times that fall with size would extrapolate to ~0 s; the bound keeps them flat instead
    model = CostModel([rec("pk", 100.0), rec("bt", 50.0), rec("is", 25.0)])
    est = model.estimate("m", "p", "wqw").seconds - OVERHEAD_SECONDS
    assert 25.0 <= est <= 100.0


def test_few_datasets_fall_back_to_their_median_and_unknown_columns_to_none():
    model = CostModel([rec("pk", 10.0), rec("bt", 20.0)])
    est = model.estimate("m", "p", "wqw")
    assert est.source == "median" and est.seconds == pytest.approx(15.0 + OVERHEAD_SECONDS)
    assert model.estimate("other", "p", "wqw") is None


def test_cell_seconds_takes_the_wall_time_when_it_is_longer():
    r = rec("bt", 2.0, started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:09+00:00")
    assert cell_seconds(r) == 9.0
    assert cell_seconds(rec("bt", 2.0)) == 2.0
    assert cell_seconds(rec("bt", None)) is None
    assert not math.isnan(cell_seconds(rec("bt", 0.5, started_at="garbage", finished_at=None)))


def test_records_from_another_device_kind_are_left_out_unless_none_match():
    recs = [rec("bt", 300.0, device="cpu"), rec("bt", 320.0, device="cpu"), rec("bt", 40.0, device="cuda:0"),
            rec("bt", 35.0, device="cuda"), rec("bt", 38.0, device="cuda"), rec("pk", 9.0, method="cpu_only")]
    on = {dev: CostModel(recs, dev).estimate("m", "p", "bt").seconds - OVERHEAD_SECONDS for dev in ("cpu", "cuda")}
    assert on == pytest.approx({"cpu": 310.0, "cuda": 38.0})
    assert CostModel(recs).estimate("m", "p", "bt").seconds - OVERHEAD_SECONDS == pytest.approx(40.0)  # mixed
    assert CostModel(recs, "cuda").estimate("cpu_only", "p", "pk").source == "measured"  # falls back


def test_a_column_the_records_lack_borrows_the_prior_and_the_rest_fall_back_to_the_method_median():
    own = [rec("bt", 10.0)]
    prior = [rec("bt", 99.0), rec("pk", 40.0, preset="q"), rec("bt", 60.0, preset="q"), rec("cc", 7.0, method="x")]
    model = CostModel(own, prior=prior)
    assert model.estimate("m", "p", "bt").seconds == pytest.approx(10.0 + OVERHEAD_SECONDS)  # own records win
    assert model.estimate("m", "q", "pk").seconds == pytest.approx(40.0 + OVERHEAD_SECONDS)  # the prior's column
    assert model.estimate("m", "new", "bt") is None
    # no column: the method's per-dataset medians over its presets (10, 40, 60), else everything's
    assert model.seconds("m", "new", "bt") == pytest.approx(40.0 + OVERHEAD_SECONDS)
    assert model.fallback("unseen") == pytest.approx(np.median([10.0, 40.0, 60.0, 7.0]) + OVERHEAD_SECONDS)
    assert CostModel([]).fallback("m") is None


def test_a_fresh_folder_is_planned_from_the_committed_records(tmp_path):
    from knewimp.harness.cost import committed_records, model_for

    committed = committed_records()
    assert committed, "the checkout's results/ holds records"
    col = next(r for r in committed if r.get("fit_seconds") and r["method"] == "mean")
    est = model_for(tmp_path, "cpu").estimate(col["method"], col["preset"], col["dataset"])
    assert est is not None and est.source == "measured"


def test_row_subsamples_are_estimated_by_their_rows_and_a_cap_bounds_a_column_and_seed():
    from knewimp.harness.cost import estimates_under_cap

    def sub(n, secs, **extra):
        return rec("diamonds", secs, protocol={"n_rows": n}, **extra)
    # the cost grows as n^2 over the subsamples measured; a capped record's seconds are not its cost
    model = CostModel([sub(1000, 10.0), sub(2000, 40.0), sub(4000, 160.0),
                       sub(8000, 600.0, error="time cap: the fit ran past time_cap_s=600 s and was stopped")])
    assert model.estimate("m", "p", "diamonds", 2000).source == "measured"
    assert model.estimate("m", "p", "diamonds", 8000).seconds == pytest.approx(640.0 + OVERHEAD_SECONDS, rel=1e-3)
    cell = dict(dataset="diamonds", mechanism="mar", missing_rate=0.3, method="m", preset="p", params={})
    cells = [dict(cell, seed=s, protocol={"n_rows": n}) for s in (0, 1) for n in (16000, 1000, 8000, 2000)]
    est = estimates_under_cap(model, cells, cap=500.0)
    by = {(c["seed"], c["protocol"]["n_rows"]): e for c, e in zip(cells, est)}
    assert by[(0, 1000)].seconds == pytest.approx(10.0 + OVERHEAD_SECONDS)
    assert by[(0, 8000)].seconds == pytest.approx(500.0 + OVERHEAD_SECONDS)    # stopped by the cap
    assert by[(0, 16000)] == by[(1, 16000)] and by[(0, 16000)].source == "capped at fewer rows"
    assert by[(0, 16000)].seconds == pytest.approx(OVERHEAD_SECONDS)           # recorded failed, not run
    assert estimates_under_cap(model, cells, cap=None)[0].seconds > 500.0


def test_a_preset_without_records_is_estimated_from_the_preset_it_is_built_on():
    model = CostModel([rec("bt", 100.0, method="remasker", preset="cpu")])
    est = model.estimate("remasker", "cpu_count", "bt")   # configs/method/remasker/cpu_count.yaml: cpu + one key
    assert est.seconds == pytest.approx(100.0 + OVERHEAD_SECONDS) and est.source == "measured (remasker/cpu)"
    assert model.estimate("remasker", "quick", "bt") is None   # not built on cpu: no estimate borrowed
