"""A record is checked against its own name and content on read: a file whose fields name another
cell, a negative metric, a name that could climb out of a folder, a FIFO, a link to /dev/zero, a
deep nest or a huge integer is damaged (named, never a result, moved aside and recomputed), and
nothing hangs, crashes or fills memory."""
import json
import os

import pytest

from knewimp.harness import records
from knewimp.harness.cell import run_cell
from knewimp.harness.identity import cell_id, cell_identity
from knewimp.harness.sweep import _compose


def _cfg(tmp_path, *extra):
    return _compose(["dataset=bt", "method=mean/published", f"results_dir={tmp_path}", *extra])


def _real(tmp_path, **changes):
    """A genuine ok record of bt seed 0 (computed), with ``changes`` applied to its fields."""
    rec = run_cell(_cfg(tmp_path))
    return {**rec, **changes}


def _write(tmp_path, name, rec_or_bytes):
    path = records.runs_dir(tmp_path) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rec_or_bytes if isinstance(rec_or_bytes, bytes) else json.dumps(rec_or_bytes).encode())
    return path


def test_a_record_whose_fields_name_another_cell_is_damaged_and_recomputed(tmp_path):
    rec = _real(tmp_path)
    cid = rec["cell_id"]
    other = {**rec, "dataset": "pk", "seed": 7}       # content of pk seed 7 under bt seed 0's name
    path = _write(tmp_path, cid, other)
    _, reason = records.inspect_record(path)
    assert "its identity fields give the cell id 'pk__mcar__r0.3__s7__mean__published__" in reason
    assert records.scan(tmp_path)[0] == []
    again = run_cell(_cfg(tmp_path))
    assert again["status"] == "ok" and again["dataset"] == "bt" and records.read_record(path)["seed"] == 0
    assert len(os.listdir(records.damaged_dir(tmp_path))) == 1


def test_a_nearby_missing_rate_is_another_cell_not_a_done_one(tmp_path):
    run_cell(_cfg(tmp_path))
    rec = run_cell(_cfg(tmp_path, "missing_rate=0.3000001"))
    assert "__r0.3000001__" in rec["cell_id"] and rec["status"] == "ok"
    assert {r["missing_rate"] for r in records.load_records(tmp_path)} == {0.3, 0.3000001}


@pytest.mark.parametrize("field,value,why", [
    ("mae", -3.0, "mae is -3.0, not a finite non-negative number"),
    ("wass", -1e-9, "wass is -1e-09"),
    ("mechanism", "../../../../x", "mechanism '../../../../x' must be a name"),
    ("dataset", "BT", "dataset 'BT' must be a name"),
    ("seed", 2**40, "seed 1099511627776 is not an integer in [0, 2**32)"),
    ("missing_rate", 1.5, "missing_rate 1.5 is not a number in (0, 1)"),
    ("protocol", [1], "protocol is not an object"),
])
def test_impossible_field_values_are_damage(tmp_path, field, value, why):
    rec = _real(tmp_path, **{field: value})
    path = _write(tmp_path, rec["cell_id"], rec)
    _, reason = records.inspect_record(path)
    assert why in reason, reason


@pytest.mark.parametrize("kind,why", [
    ("nested", "nested too deep"), ("huge_int", "an integer of 5000 digits"), ("fifo", "a FIFO, not a regular file"),
    ("dev_zero", "a device or socket, not a regular file"), ("too_big", "larger than the"),
])
def test_odd_files_are_damage_without_hanging_or_filling_memory(tmp_path, kind, why):
    path = records.runs_dir(tmp_path) / f"{kind}.json"
    path.parent.mkdir(parents=True)
    if kind == "nested":
        path.write_text("[" * 5000 + "]" * 5000)
    elif kind == "huge_int":
        path.write_text('{"seed": ' + "9" * 5000 + "}")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as fh:
            fh.truncate(records.MAX_RECORD_BYTES + 1)
    good, damaged = records.scan(tmp_path)
    assert good == [] and len(damaged) == 1 and why in damaged[0].reason, damaged
    moved = records.quarantine(path)
    assert moved.parent.name == ".damaged" and not os.path.lexists(path)


def test_status_and_tables_survive_every_odd_file(tmp_path):
    from knewimp.harness.status import grid_status
    from knewimp.report.tables import write_tables

    runs = records.runs_dir(tmp_path)
    runs.mkdir(parents=True)
    (runs / "nested.json").write_text("[" * 5000 + "]" * 5000)
    (runs / "huge.json").write_text("9" * 5000)
    os.mkfifo(runs / "fifo.json")
    (runs / "zero.json").symlink_to("/dev/zero")
    report, _ = grid_status("quick", tmp_path)
    write_tables(tmp_path, figures=False, log=lambda *_: None)
    failed = (tmp_path / "tables" / "failed.md").read_text()
    for name in ("nested.json", "huge.json", "fifo.json", "zero.json"):
        assert name in report and name in failed


def test_a_record_with_a_climbing_name_writes_nothing_outside_the_tables_folder(tmp_path):
    from knewimp.report.tables import write_tables

    results = tmp_path / "a" / "b" / "c" / "results"
    rec = _real(results, mechanism="../../../../x")
    _write(results, rec["cell_id"], rec)
    before = sorted(p for p in tmp_path.rglob("*") if "results" not in p.parts)
    write_tables(results, figures=False, log=lambda *_: None)
    after = sorted(p for p in tmp_path.rglob("*") if "results" not in p.parts)
    assert before == after
    assert not list((results / "tables").glob("*x_mae*"))


def test_a_table_file_name_that_leads_outside_is_refused(tmp_path):
    from knewimp.harness.atomic import write_text_atomic

    with pytest.raises(ValueError, match="outside the output folder"):
        write_text_atomic(tmp_path / "out" / ".." / ".." / "x.md", "x", inside=tmp_path / "out")
    assert not (tmp_path.parent / "x.md").exists()


def test_the_cell_id_refuses_names_that_are_not_names():
    for bad in ("../x", "a/b", "", "A", "x.y", None):
        with pytest.raises(ValueError, match="must be a name"):
            cell_id("bt", bad, 0.3, 0, "mean", "published", {})
    with pytest.raises(ValueError, match="seed=1.5"):
        cell_id("bt", "mcar", 0.3, 1.5, "mean", "published", {})


def test_an_identity_from_a_config_matches_its_record(tmp_path):
    cfg = _cfg(tmp_path, "seed=3")
    rec = run_cell(cfg)
    assert cell_id(**cell_identity(cfg)) == rec["cell_id"] == records.record_path(tmp_path, rec["cell_id"]).stem
