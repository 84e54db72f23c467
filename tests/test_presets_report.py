"""KnewImp's two presets side by side, on the cells both hold."""
import json

import pytest
from conftest import rendered_crosscheck

from knewimp.report.experiments.presets import preset_table


def _rec(preset, seed, mae, seconds, device="cpu", dataset="bt", status="ok"):
    return dict(method="knewimp", preset=preset, dataset=dataset, mechanism="mar", missing_rate=0.3, seed=seed,
                status=status, mae=mae, wass=2 * mae, fit_seconds=seconds, device=device)


def test_only_shared_cells_enter_and_seconds_only_where_both_ran_on_one_kind_of_device():
    records = [_rec("paper", 0, 0.4, 10.0), _rec("paper_text", 0, 0.5, 30.0),
               _rec("paper", 1, 0.6, 2.0, device="cuda:0"), _rec("paper_text", 1, 0.5, 40.0),
               _rec("paper", 2, 0.1, 1.0),                                       # no paper_text record
               _rec("paper_text", 3, 0.1, 1.0), _rec("paper", 3, 0.1, 1.0, status="failed")]
    text = preset_table(records, "knewimp", ("paper", "paper_text"))
    assert "| bt | mar | 2 | 0.500 | 0.500 | 1.000 | 1.000 | 10.0 (1) | 30.0 (1) |" in text
    assert "2 shared cells; knewimp/paper_text has the lower MAE in 1 of them" in text
    assert "over the 1 whose two records ran on the same kind of device" in text and "(3.00x)" in text


def test_no_shared_cell_is_said_plainly():
    assert preset_table([_rec("paper", 0, 0.4, 1.0)], "knewimp", ("paper", "paper_text")).startswith("No cell has ok")


def test_crosscheck_verdict_counts_tests_before_and_after_holm():
    from knewimp.report.experiments.crosscheck import table, verdict

    def cell(dataset, ours, theirs):
        runs = {side: [dict(mae=m, wass=2 * m) for m in values] for side, values in (("ours", ours), ("theirs", theirs))}
        return dict(dataset=dataset, mechanism="mar", cell_seed=0, extra={}, runs=runs)

    same = cell("bt", [0.50, 0.51, 0.49], [0.50, 0.49, 0.51])
    apart = cell("qb", [0.60, 0.61, 0.59, 0.60], [0.50, 0.51, 0.49, 0.50])
    text = verdict([same, apart])
    assert text.startswith("2 cells, 4 Welch tests: 2 reach p < 0.05 after Holm's adjustment over all 4")
    assert "2 before it: qb mar MAE (p = 0.000; ours higher by 20.0%); qb mar WASS" in text
    assert "| bt | mar | 0 | 3 / 3 | 0.5000 ± 0.0100 | 0.5000 ± 0.0100 | t = +0.00, p = 1.000 |" in table([same])


def test_a_saved_lockstep_output_becomes_a_block_without_the_shells_timing(tmp_path):
    from knewimp.report.experiments.crosscheck import build

    (tmp_path / "lockstep_bt_mar_full.txt").write_text(
        "outer 1: DSM loss max rel diff 1e-16\n  step    1: |dX| 0\n\nreal\t0m1.0s\nuser\t0m1.0s\nsys\t0m0.1s\n")
    (written,) = build(tmp_path, tmp_path / "out", log=lambda *a: None)
    assert written.name == "lockstep_bt_mar_full.md"
    assert written.read_text() == "    outer 1: DSM loss max rel diff 1e-16\n      step    1: |dX| 0\n"


def test_a_crosscheck_folder_with_a_third_side_gets_one_row_per_side_each_tested_against_theirs(tmp_path):
    written = rendered_crosscheck(tmp_path, "remasker", "pk", "mcar", dict(
        ours=[0.50, 0.51, 0.49], ours_count=[0.60, 0.61, 0.59], theirs=[0.50, 0.49, 0.51]), wass_factor=10)
    assert written.name == "crosscheck_remasker.md"
    text = written.read_text()
    assert "| pk | mcar | 0 | ours | 3 | 0.5000 ± 0.0100 | t = +0.00, p = 1.000 | 5.000 ± 0.100 |" in text
    assert "| pk | mcar | 0 | ours_count | 3 | 0.6000 ± 0.0100 | t = +12.25, p = 0.000 |" in text
    assert "| pk | mcar | 0 | theirs | 3 | 0.5000 ± 0.0100 | (reference) |" in text
    assert "1 cell, 4 Welch tests: 2 reach p < 0.05 after Holm's" in text
    assert "pk mcar MAE (p = 0.000; ours_count higher by 20.0%)" in text

    from knewimp.report.experiments.crosscheck import report

    path = tmp_path / "crosscheck" / "remasker" / "cc_pk_mcar.json"
    saved = json.loads(path.read_text())
    del saved["runs"]["theirs"]
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="no 'theirs' side"):
        report(tmp_path, tmp_path / "out2", log=lambda *a: None)
