"""The runner end to end: one cell, resume, failures, interrupted sweeps, parallel launchers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knewimp.harness.cell import run_cell
from knewimp.harness.records import load_records
from knewimp.harness.run import check_choices, main
from knewimp.harness.sweep import _compose

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=240, check=True):
    env = dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="0")
    proc = subprocess.run([sys.executable, "-m", "knewimp.harness.run", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr[-3000:])
    return proc


def in_process(monkeypatch, capsys, *args):
    """knewimp-run's ``main`` in this process: (exit status, stdout, stderr). Only for launches that
    end before Hydra starts (a refused input, a sweep its deadline holds whole), where the command
    line differs from this in nothing but the interpreter's start; the outcomes decided inside
    Hydra's run are checked across the process boundary (``run``)."""
    monkeypatch.setattr(sys, "argv", ["knewimp-run", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def out_args(tmp_path):
    return [f"results_dir={tmp_path}", f"hydra.run.dir={tmp_path}/hydra", f"hydra.sweep.dir={tmp_path}/sweep"]


def cell(tmp_path, *overrides):
    """A composed single-cell config writing under tmp_path, for in-process runs."""
    return _compose([*overrides, f"results_dir={tmp_path}"])


def test_one_cell_writes_one_complete_record(tmp_path):
    run("dataset=bt", "mechanism=mar", "method=mean/published", "seed=3", *out_args(tmp_path))
    (rec,) = load_records(tmp_path)
    for field in ("dataset", "mechanism", "missing_rate", "realised_missing_rate", "seed", "method", "preset",
                  "params", "n", "d", "status", "mae", "rmse", "wass", "fit_seconds", "device", "versions",
                  "git_commit"):
        assert field in rec, field
    assert (rec["dataset"], rec["mechanism"], rec["method"], rec["seed"], rec["status"]) == ("bt", "mar", "mean", 3, "ok")
    assert (rec["n"], rec["d"]) == (748, 4) and 0.1 < rec["realised_missing_rate"] < 0.2
    assert rec["wass_method"] == "exact" and rec["mae"] > 0
    path = Path(tmp_path, "runs", rec["cell_id"] + ".json")
    first = path.stat().st_mtime_ns
    again = ["dataset=bt", "mechanism=mar", "method=mean/published", "seed=3"]
    assert run_cell(cell(tmp_path, *again))["cell_id"] == rec["cell_id"]  # resume: skipped
    assert path.stat().st_mtime_ns == first
    run_cell(cell(tmp_path, *again, "force=true"))
    assert path.stat().st_mtime_ns != first


def test_failed_cell_is_recorded_with_its_reason_then_retried(tmp_path, monkeypatch):
    # A method that fails at fit time is a result, not a crash (a bad argument is a UserError
    # before any compute: tests/test_harness_guards.py).
    from knewimp.baselines.mice import MICEImputer

    def boom(self, X, mask):
        raise RuntimeError("boom at fit")

    monkeypatch.setattr(MICEImputer, "_impute", boom)
    bad = cell(tmp_path, "dataset=bt", "method=mice/quick")
    run_cell(bad)
    (rec,) = load_records(tmp_path)
    assert rec["status"] == "failed" and "boom at fit" in rec["error"] and rec["mae"] is None
    run_cell(bad)
    (again,) = load_records(tmp_path)
    assert again["started_at"] >= rec["started_at"] and again["status"] == "failed"


def test_a_cell_another_launcher_failed_during_this_launch_waits_for_the_next(tmp_path, monkeypatch):
    from knewimp.harness import cell as cell_mod
    from knewimp.harness.records import write_record

    cfg = cell(tmp_path, "dataset=bt", "method=mean/published")
    rec = run_cell(cfg)
    # the same cell as another launcher would leave it: failed, started after this launch began
    failed = dict(rec, status="failed", error="RuntimeError: boom", mae=None, started_at=cell_mod._now())
    write_record(tmp_path, failed)
    monkeypatch.setattr(cell_mod, "_COMPUTED_HERE", set())
    assert run_cell(cfg)["status"] == "failed"                  # left for the next launch
    monkeypatch.setattr(cell_mod, "_LAUNCHED", cell_mod._now() + "~")  # the next launch: retried
    assert run_cell(cfg)["status"] == "ok"


@pytest.mark.parametrize("args,message", [
    (["dataset=iris"], "unknown dataset 'iris'; valid choices: bcd, bt"),
    (["method=nope"], "unknown method 'nope'; valid choices: csdi_t/cpu"),
    (["method=tdm"], "unknown method 'tdm' (a method is chosen with its preset, e.g. tdm/paper)"),
    (["mechanism=nmar"], "unknown mechanism 'nmar'; valid choices"),
    (["method=mean/turbo"], "unknown method 'mean/turbo'; valid choices"),
    (["-m", "method=mean/published,tdm/turbo"], "unknown method 'tdm/turbo'"),
    (["-m", "experiment=quik"], "unknown experiment 'quik'; valid choices: ablation_entropy"),
])
def test_unknown_choices_are_named_with_the_valid_ones(args, message):
    assert message in check_choices(args)


def test_known_choices_pass():
    assert check_choices(["-m", "experiment=reproduce", "method=tdm/paper,knewimp/quick", "dataset=bt,cc"]) is None


@pytest.mark.parametrize("args,message", [
    (["missing_rate=1.5"], "missing_rate=1.5: must be a number in (0, 1)"),
    (["-m", "experiment=quik"], "unknown experiment 'quik'"),
])
def test_bad_input_is_one_clear_error(tmp_path, monkeypatch, capsys, args, message):
    code, _, err = in_process(monkeypatch, capsys, *args, *out_args(tmp_path))
    assert code == 2 and message in err
    assert "Traceback" not in err and load_records(tmp_path) == []


def test_missing_data_offline_is_one_clear_error(tmp_path):
    proc = run("dataset=cc", f"data_dir={tmp_path}", "download=false", *out_args(tmp_path), check=False)
    assert proc.returncode == 2 and "Concrete_Data.xls" in proc.stderr and "Traceback" not in proc.stderr


SWEEP = ["-m", "dataset=bt,pk", "mechanism=mcar,mar,mnar", "method=mean/published", "seed=0,1"]


def test_killed_sweep_resumes_with_exactly_one_record_per_cell(tmp_path):
    env = dict(os.environ, WANDB_MODE="disabled")
    proc = subprocess.Popen([sys.executable, "-m", "knewimp.harness.run", *SWEEP, *out_args(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = Path(tmp_path, "runs")
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(runs.glob("*.json")))
    assert 3 <= partial < 12, "the kill must land mid-sweep"
    run(*SWEEP, *out_args(tmp_path))
    recs = load_records(tmp_path)
    assert len(recs) == 12 and len({r["cell_id"] for r in recs}) == 12
    assert all(r["status"] == "ok" for r in recs)
    assert not [p for p in runs.iterdir() if p.suffix != ".json" and not p.name.startswith(".")]


def test_same_mask_for_every_method(tmp_path):
    for method in ("mean/quick", "mice/quick"):
        run_cell(cell(tmp_path, "dataset=bt", "mechanism=mnar", f"method={method}", "seed=4"))
    recs = load_records(tmp_path)
    assert len(recs) == 2 and recs[0]["realised_missing_rate"] == recs[1]["realised_missing_rate"]


def test_joblib_two_workers(tmp_path):
    proc = run("-m", "dataset=bt,pk", "mechanism=mcar", "method=mean/published", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", *out_args(tmp_path))
    recs = load_records(tmp_path)
    assert sorted((r["dataset"], r["mechanism"]) for r in recs) == [("bt", "mcar"), ("pk", "mcar")]
    assert all(r["status"] == "ok" for r in recs)
    assert "sweep: 2/2 cells done" in proc.stdout + proc.stderr


def test_submitit_local(tmp_path):
    run("-m", "dataset=bt", "mechanism=mcar,mar", "method=mean/published", "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5", *out_args(tmp_path), timeout=300)
    recs = load_records(tmp_path)
    assert sorted(r["mechanism"] for r in recs) == ["mar", "mcar"] and all(r["status"] == "ok" for r in recs)
    mean_sweep = load_records(tmp_path)
    assert len({json.dumps(r["params"]) for r in mean_sweep}) == 1


def test_wandb_logger_path_runs(tmp_path):
    run_cell(cell(tmp_path, "dataset=pk", "method=mean/published", "logger=wandb", "logger.mode=disabled"))
    (rec,) = load_records(tmp_path)
    assert rec["status"] == "ok"


def test_held_sweep_then_partial_then_resumed_sweep(tmp_path, monkeypatch, capsys):
    """Past stop_at every cell is held (no record); a later launch runs them; a larger sweep over
    the same folder skips the ok cells and estimates only the cells it runs."""
    code, out, _ = in_process(monkeypatch, capsys, "-m", "dataset=bt", "mechanism=mcar,mar", "method=mean/published",
                              "stop_at=2000-01-01T00:00", *out_args(tmp_path))
    assert code == 0 and "2 to run, none of which the estimates let start before stop_at 2000-01-01T00:00" in out
    assert "nothing launched" in out and not (tmp_path / "sweep").exists()
    assert load_records(tmp_path) == []
    run("-m", "dataset=bt", "mechanism=mcar,mar", "method=mean/published", f"results_dir={tmp_path}",
        f"hydra.sweep.dir={tmp_path}/sweep1")
    assert len(load_records(tmp_path)) == 2
    proc = run("-m", "dataset=bt,pk", "mechanism=mcar,mar", "method=mean/published", f"results_dir={tmp_path}",
               f"hydra.sweep.dir={tmp_path}/sweep2")
    out = proc.stdout + proc.stderr
    # the sweep is narrowed to the dataset left before launching: 2 jobs, both to run
    assert "sweep: 4 cells, 2 with ok records, 2 to run; launching 2 jobs (dataset narrowed" in out
    assert "sweep: 2/2 cells done" in out
    assert len(load_records(tmp_path)) == 4


def test_a_worker_whose_code_changed_starts_no_cell(tmp_path, monkeypatch):
    from knewimp.harness import cell, provenance

    cfg = _compose(["dataset=pk", "method=mean/published", f"results_dir={tmp_path}"])
    assert provenance.LOADED_CODE == provenance.code_fingerprint()  # nothing changed since import
    monkeypatch.setattr(provenance, "LOADED_CODE", "0" * 12)   # as if the sources moved on since
    rec = cell.run_cell(cfg)
    assert rec["status"] == "not_started" and "restart the sweep" in rec["error"]
    assert load_records(tmp_path) == []
    monkeypatch.setattr(provenance, "LOADED_CODE", provenance.code_fingerprint())
    assert cell.run_cell(cfg)["status"] == "ok" and len(load_records(tmp_path)) == 1


def test_retry_failed_false_keeps_a_failed_record_as_the_result(tmp_path, monkeypatch):
    from knewimp.harness import cell as cell_mod
    from knewimp.harness.records import write_record

    cfg = cell(tmp_path, "dataset=bt", "method=mean/published", "retry_failed=false")
    rec = run_cell(cfg)
    failed = dict(rec, status="failed", error="RuntimeError: diverged", mae=None,
                  started_at="2000-01-01T00:00:00+00:00")
    write_record(tmp_path, failed)
    monkeypatch.setattr(cell_mod, "_COMPUTED_HERE", set())
    kept = run_cell(cfg)
    assert kept["status"] == "failed" and kept["error"] == "RuntimeError: diverged"
    assert run_cell(cell(tmp_path, "dataset=bt", "method=mean/published", "retry_failed=false",
                         "force=true"))["status"] == "ok"
    write_record(tmp_path, failed)
    assert run_cell(cell(tmp_path, "dataset=bt", "method=mean/published"))["status"] == "ok"  # default: retried


def test_retry_failed_does_not_change_the_cell_identity(tmp_path):
    from knewimp.harness.identity import cell_id, cell_identity

    ids = {cell_id(**cell_identity(cell(tmp_path, "dataset=bt", "method=mean/published", f"retry_failed={v}")))
           for v in ("true", "false")}
    assert len(ids) == 1
