"""Bring your own imputer: a class in the user's own package and one config file in the user's
own folder, both outside this checkout, run on the grid's masks beside the committed records.

Exactly the path docs/extending.md documents: ``knewimp-run -m experiment=reproduce
method=<theirs>/<preset> 'hydra.searchpath=[file://<their conf>]'`` restricted here to bt x MCAR x
seeds 0-1, against a results folder seeded with the committed records of those cells; only the
user's two cells are computed, on the committed masks, and ``knewimp-tables`` puts the user's
column next to every committed one, with the significance marks against KnewImp.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]

IMPUTER = '''
import numpy as np

from knewimp.base import BaseImputer


class MedianImputer(BaseImputer):
    """Each missing entry becomes (1 - shrink) times its column's observed median."""

    def __init__(self, shrink=0.0, random_state=None, device="auto"):
        super().__init__(random_state=random_state, device=device)
        self.shrink = shrink

    def _validate_params(self):
        super()._validate_params()
        if not 0.0 <= self.shrink <= 1.0:
            raise ValueError(f"shrink must be in [0, 1], got {self.shrink!r}")

    def _impute(self, X, mask):
        return np.where(mask, (1.0 - self.shrink) * np.nanmedian(X, axis=0), X)
'''

CONFIG = '''
# Column medians: my method, beside the committed grid.
_target_: mymethods.median.MedianImputer
name: median
preset: published
shrink: 0.0
'''


@pytest.mark.skipif(not (DATA_DIR / "transfusion.data").exists(), reason="raw UCI files not here")
def test_your_own_imputer_on_the_committed_masks_beside_every_baseline(tmp_path):
    package = tmp_path / "src" / "mymethods"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "median.py").write_text(IMPUTER)
    conf = tmp_path / "conf" / "method" / "median"
    conf.mkdir(parents=True)
    (conf / "published.yaml").write_text(CONFIG.lstrip())
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    seeded = sorted((ROOT / "results" / "runs").glob("bt__mcar__r0.3__s[01]__*.json"))
    for path in seeded:
        shutil.copy(path, results / "runs")
    committed_columns = {(json.loads(p.read_text())["method"], json.loads(p.read_text())["preset"]) for p in seeded}
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), str(ROOT)]),
           "KNEWIMP_DATA_DIR": str(DATA_DIR), "WANDB_MODE": "disabled"}

    run = subprocess.run([sys.executable, "-m", "knewimp.harness.run", "-m", "experiment=reproduce",
                          "method=median/published", "dataset=bt", "mechanism=mcar", "seed=0,1",
                          f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"results_dir={results}",
                          "download=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 cells, 0 with ok records (skipped), 2 to run" in run.stdout + run.stderr
    records = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    mine = [r for r in records if r["method"] == "median"]
    assert len(records) == len(seeded) + 2 and [r["seed"] for r in mine] == [0, 1]
    assert all(r["status"] == "ok" for r in mine)
    for rec in mine:  # the same masks as every committed column of the cell
        others = {r["mask_digest"] for r in records if r["seed"] == rec["seed"] and r["method"] != "median"}
        assert others == {rec["mask_digest"]}

    tables = subprocess.run([sys.executable, "-m", "knewimp.report.tables", "--results-dir", str(results),
                             "--no-figures"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert tables.returncode == 0, tables.stderr[-3000:]
    table = (results / "tables" / "mcar_mae.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| dataset |"))
    assert header.rstrip(" |").endswith("| median"), header
    assert len(header.split("|")) - 3 == len(committed_columns) + 1, "every committed column and the user's"
    assert "significantly better than this column" in table
    row = next(line for line in table.splitlines() if line.startswith("| bt |"))
    assert row.split("|")[-2].strip().endswith("\\*"), "KnewImp significantly better than column medians"
