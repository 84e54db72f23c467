from knewimp.harness import records
from knewimp.harness.identity import cell_id
from knewimp.harness.status import grid_status
from knewimp.harness.sweep import _compose, expected_cells, sweep_cells, sweep_overrides
from knewimp.harness.callbacks import describe_plan, estimate_cells, fill_unknown, sweep_size

OK_METRICS = dict(mae=0.5, rmse=0.7, wass=0.1)  # an ok record holds finite metrics


def test_quick_grid_expands_to_distinct_cells():
    cells = expected_cells("quick")
    assert len(cells) == 2 * 3 * 2 * 3
    assert len({cell_id(**c) for c in cells}) == len(cells)


def test_status_counts_ok_failed_and_missing(tmp_path):
    cells = expected_cells("quick")
    for cell, status, device in zip(cells[:3], ["ok", "ok", "failed"], ["cpu", "cuda:0", "cpu"]):
        records.write_record(tmp_path, dict(cell, cell_id=cell_id(**cell), status=status, device=device,
                                            versions=dict(torch="2.13.0"),
                                            error="boom" if status == "failed" else None, fit_seconds=36.0,
                                            **(OK_METRICS if status == "ok" else {})))
    report, counts = grid_status("quick", tmp_path)
    assert sum(c["ok"] for c in counts.values()) == 2
    assert sum(c["failed"] for c in counts.values()) == 1
    assert sum(c["missing"] for c in counts.values()) == len(cells) - 3
    assert "boom" in report and "2 of 36 cells ok" in report
    m0, m1 = cells[0]["method"], cells[1]["method"]
    assert f"| cpu | 2.13.0 | 1 | {m0} (1) |" in report and f"| cuda | 2.13.0 | 1 | {m1} (1) |" in report
    assert "`make quick` (`python -m knewimp.harness.run -m experiment=quick`) runs them" in report


def test_status_of_an_experiment_that_keeps_failed_cells_counts_none_of_them_as_left(tmp_path):
    pk = [c for c in expected_cells("kernels") if c["dataset"] == "pk" and c["mechanism"] == "mcar"]
    done = [(c, "ok") for c in pk if c["seed"] == 0]                      # one per kernel: 1 h each
    done += [(c, "failed") for c in pk if c["seed"] == 1 and c["preset"] == "kernel_poly"]
    for cell, status in done:
        records.write_record(tmp_path, dict(cell, cell_id=cell_id(**cell), status=status, device="cpu",
                                            versions=dict(torch="2.13.0"), fit_seconds=3600.0,
                                            error="ImputationError: diverged" if status == "failed" else None,
                                            **(OK_METRICS if status == "ok" else {})))
    report, counts = grid_status("kernels", tmp_path)
    assert counts["knewimp"]["failed"] == 1 and "ImputationError: diverged" in report
    assert "Failed cells are results here" in report and "`retry_failed=true` re-runs the failed ones" in report
    # pk: 75 cells, 5 ok, 1 failed and kept: 69 left at about 1 h each (70 if the failed one counted)
    assert "| pk | 5/25 | 0/25 | 0/25 | 69.0" in report


def test_sweep_size_counts_experiment_and_cli_sweeps():
    assert sweep_size(_compose(["experiment=quick"])) == 36
    cfg = _compose(["experiment=quick"])
    cfg.hydra.overrides.task.append("seed=0,1,2,3,4,5")  # a CLI sweep replaces the experiment's
    assert sweep_size(cfg) == 2 * 3 * 2 * 6


def test_status_estimates_time_left_from_the_records(tmp_path):
    cells = expected_cells("quick")
    for cell in cells:
        if cell["seed"] == 0:
            records.write_record(tmp_path, dict(cell, cell_id=cell_id(**cell), status="ok", error=None, **OK_METRICS,
                                                fit_seconds=100.0))
    report, _ = grid_status("quick", tmp_path, jobs=2)
    # 24 cells left at 100 s + overhead each, measured on the same datasets
    assert "12 of 36 cells ok" in report and "estimated compute left: 0.7 h" in report
    assert "about 0.3 h wall at 2 parallel cells" in report
    assert "| bt | 2/6 | 2/6 | 2/6 | 0.34 |" in report
    m, preset, ds = cells[0]["method"], cells[0]["preset"], cells[0]["dataset"]
    seconds = report.split("## Seconds per ok cell")[1].split("##")[0]
    assert f"| {m}/{preset} | " in seconds and "100.0 (" in seconds


def test_sweep_cells_expand_cli_sweeps_over_method_parameters():
    cfg = _compose(["experiment=ablation_entropy"])
    fixed, sweeps = sweep_overrides(cfg, cli=["experiment=ablation_entropy", "seed=0", "mechanism=mcar"])
    assert "seed=0" in fixed and set(sweeps) == {"method.entropy_weight"}
    cells = sweep_cells(_compose, fixed, sweeps)
    assert [c["params"]["entropy_weight"] for c in cells] == [-1.0, 0.0, 1.0, 5.0, 10.0, 20.0, 50.0]
    assert {(c["dataset"], c["mechanism"], c["seed"]) for c in cells} == {("cc", "mcar", 0)}


def test_sweep_plan_sets_aside_cells_with_ok_records(tmp_path):
    cells = expected_cells("quick")
    done = cells[0]
    records.write_record(tmp_path, dict(done, cell_id=cell_id(**done), status="ok", error=None, **OK_METRICS,
                                        fit_seconds=5.0))
    cfg = _compose(["experiment=quick", f"results_dir={tmp_path}"])
    plan = fill_unknown(estimate_cells(cfg, compose_fn=_compose))
    assert len(plan) == len(cells) - 1 and cell_id(**done) not in plan
    assert all(s > 0 for s in plan.values())


def test_status_without_records_gives_no_estimate_rather_than_zero(tmp_path, monkeypatch):
    import knewimp.harness.status as status

    monkeypatch.setattr(status, "committed_records", lambda **_: [])  # no checkout records to plan from either
    report, _ = grid_status("quick", tmp_path, jobs=2)
    assert "0 of 36 cells ok" in report and "no estimate of the compute left yet" in report
    assert "0.0 h" not in report
    assert "| bt | 0/6 | 0/6 | 0/6 | -- |" in report
    assert "Seconds per ok cell" not in report


def test_status_of_a_fresh_folder_plans_from_the_committed_records(tmp_path):
    report, _ = grid_status("quick", tmp_path, jobs=2)
    assert "0 of 36 cells ok" in report and "no estimate of the compute left yet" not in report
    assert "| mean | 0 | 0 | 18 | 0.00 |" in report


def test_sweep_plan_names_cells_it_cannot_estimate_instead_of_a_figure():
    assert describe_plan({"a": None, "b": None}) == "no record yet to estimate their compute from"
    assert describe_plan({"a": 3600.0, "b": None}) == (
        "about 60.0min of compute by the records so far, plus 1 cells with no record to estimate from")
    assert describe_plan({"a": 3600.0}) == "about 60.0min of compute by the records so far"
    assert fill_unknown({"a": 10.0, "b": None, "c": 30.0}) == {"a": 10.0, "b": 20.0, "c": 30.0}


def test_status_of_an_unknown_experiment_is_a_usage_error(capsys):
    import pytest

    from knewimp.harness.status import main
    with pytest.raises(SystemExit) as exc:
        main(["--experiment", "nosuch"])
    assert exc.value.code == 2 and "unknown experiment 'nosuch'; valid choices: ablation_entropy" in capsys.readouterr().err
