"""One command per promise: each make target runs the experiments knewimp.harness.targets names,
into RESULTS; `make reproduce` covers every grid the headline reads; the cost table per target."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_DIR
from knewimp.harness import targets
from knewimp.report import build
from knewimp.vocab import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_make_reproduce_runs_every_grid_the_headline_reads():
    runs = targets.TARGETS["reproduce"]
    folders = {targets.results_folder(e) for e in runs}
    assert {e for e, _, _ in build.GRID_EXPERIMENTS} <= set(runs)
    assert {"", *build.JOIN_EXTRA, *build.PAPER_EXTRA} <= folders


def test_every_experiment_has_a_target_and_every_target_real_experiments():
    experiments = {p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")}
    named = {e for exps in targets.TARGETS.values() for e in exps}
    assert named == experiments, named ^ experiments
    assert targets.make_target("faithful") == "faithful" and targets.make_target("sensitivity") == "ablation"


@pytest.mark.parametrize("target", [*targets.TARGETS, "runtime", "bench-knewimp", "bench-diffusion"])
def test_every_target_writes_under_results(target):
    fresh = "/nowhere/fresh"
    out = subprocess.run(["make", "-n", target, f"RESULTS={fresh}", "JOBS=2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "make[" not in line and "pip install" not in line]
    assert not [line for line in lines if " results/" in line or "=results" in line or "results-dir results" in line]
    if target in targets.TARGETS:
        assert f"knewimp.harness.targets {target} --results {fresh}" in out.stdout
        for command in targets.commands(target, fresh):
            assert command[-1].startswith(f"results_dir={fresh}")
    if target != "quick":
        assert f"knewimp.report.build --results-dir {fresh}" in out.stdout


def test_an_unknown_target_is_one_line(capsys):
    # refused by the argument parser before any command runs (the command line itself: the next test)
    with pytest.raises(SystemExit) as exit_:
        targets.main(["reproduse"])
    assert exit_.value.code == 2 and "unknown target 'reproduse'; valid choices: reproduce," in capsys.readouterr().err


@pytest.mark.skipif(not (DATA_DIR / "transfusion.data").exists(), reason="raw UCI files not here")
def test_a_target_fills_a_fresh_results_folder_and_the_cost_table_counts_it(tmp_path, monkeypatch):
    env = {**os.environ, "KNEWIMP_DATA_DIR": str(DATA_DIR), "WANDB_MODE": "disabled"}
    run = subprocess.run([sys.executable, "-m", "knewimp.harness.targets", "quick", "--results", str(tmp_path / "fresh"),
                          "--", "dataset=bt", "mechanism=mcar", "seed=0", "method=mean/published", "download=false",
                          f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    (path,) = (tmp_path / "fresh" / "quick" / "runs").glob("*.json")
    record = json.loads(path.read_text())

    from knewimp.report.experiments import targets as table

    monkeypatch.setattr(table, "TARGETS", {"quick": ("quick",), "toys": ("toys",)})
    rows = {r["target"]: r for r in table.target_rows(tmp_path / "fresh")}
    assert (rows["quick"]["cells"], rows["quick"]["ok"], rows["quick"]["not_run"]) == (36, 1, 35)
    assert rows["quick"]["hours"] == round(record["fit_seconds"] / 3600, 1)
    assert (rows["toys"]["ok"], rows["toys"]["not_run"]) == (0, 360)
    text = table.render(list(rows.values()))
    assert "| `make quick` | `quick` | `quick/` | 36 | 1 | 0 | 35 |" in text
    written = table.report(tmp_path / "fresh", tmp_path / "out")
    assert [p.name for p in written] == ["make_targets.md", "make_targets.csv"]
    assert table.report(tmp_path / "empty", tmp_path / "out2") == []
