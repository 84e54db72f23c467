from knewimp import records
from knewimp.grid import _compose, expected_cells, grid_status
from knewimp.sweep_progress import sweep_size


def test_quick_grid_expands_to_distinct_cells():
    cells = expected_cells("quick")
    assert len(cells) == 2 * 3 * 2 * 3
    assert len({records.cell_id(**c) for c in cells}) == len(cells)


def test_status_counts_ok_failed_and_missing(tmp_path):
    cells = expected_cells("quick")
    for cell, status in zip(cells[:3], ["ok", "ok", "failed"]):
        records.write_record(tmp_path, dict(cell, cell_id=records.cell_id(**cell), status=status,
                                            error="boom" if status == "failed" else None, fit_seconds=36.0))
    report, counts = grid_status("quick", tmp_path)
    assert sum(c["ok"] for c in counts.values()) == 2
    assert sum(c["failed"] for c in counts.values()) == 1
    assert sum(c["missing"] for c in counts.values()) == len(cells) - 3
    assert "boom" in report and "2 of 36 cells ok" in report


def test_sweep_size_counts_experiment_and_cli_sweeps():
    assert sweep_size(_compose(["experiment=quick"])) == 36
    cfg = _compose(["experiment=quick"])
    cfg.hydra.overrides.task.append("seed=0,1,2,3,4,5")  # a CLI sweep replaces the experiment's
    assert sweep_size(cfg) == 2 * 3 * 2 * 6
