"""Bring your own imputer, from an installed package: the class and the config file that
docs/extending.md shows, in the user's own folders, run on the grid's masks beside copies of the
committed records, and the full report built from them, all outside this checkout.

Exactly the path docs/extending.md documents: a wheel installed into a temporary folder (nothing
of this checkout on the path), ``knewimp-run -m experiment=reproduce method=<theirs>/<preset>
'hydra.searchpath=[file://<their conf>]'`` restricted here to bt x MCAR x seeds 0-1, against a
results folder seeded with the committed records of those cells (the main grid's and the new
baselines' folders); only the user's two cells are computed, on the committed masks, and
``knewimp-tables`` puts the user's column next to every committed one, with the significance
marks against KnewImp.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
SEEDED = "bt__mcar__r0.3__s[01]__*.json"


def _documented() -> tuple[str, str]:
    """The imputer class and the config file of docs/extending.md's 'Your own method' section."""
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text.split("## Your own method, outside this repository", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (config,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    dedent = lambda block: "\n".join(line[3:] for line in block.splitlines()) + "\n"  # noqa: E731 (list indent)
    return dedent(code), dedent(config)


def test_the_documented_config_names_the_documented_class():
    code, config = _documented()
    (target,) = re.findall(r"^_target_: (\S+)$", config, flags=re.M)
    module, cls = target.rsplit(".", 1)
    assert f"class {cls}(BaseImputer)" in code and module == "mymethods.median"


@pytest.mark.packaging
@pytest.mark.skipif(not (DATA_DIR / "transfusion.data").exists(), reason="raw UCI files not here")
def test_your_own_imputer_on_the_committed_masks_beside_every_baseline(tmp_path, installed_wheel):
    code, config = _documented()
    package = tmp_path / "src" / "mymethods"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "median.py").write_text(code)
    conf = tmp_path / "conf" / "method" / "median"
    conf.mkdir(parents=True)
    (conf / "published.yaml").write_text(config)
    # the committed records of the cells, as a copy of a checkout's results/ holds them
    results = tmp_path / "results"
    seeded = []
    for folder in ("", "new_baselines"):
        (results / folder / "runs").mkdir(parents=True, exist_ok=True)
        for path in sorted((ROOT / "results" / folder / "runs").glob(SEEDED)):
            seeded.append(shutil.copy(path, results / folder / "runs"))
    committed = [json.loads(Path(p).read_text()) for p in seeded]
    committed_columns = {(r["method"], r["preset"]) for r in committed}
    assert ("miwae", "cpu") in committed_columns
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_wheel), str(tmp_path / "src")]),
           "KNEWIMP_DATA_DIR": str(DATA_DIR), "WANDB_MODE": "disabled"}
    env.pop("KNEWIMP_PAPER_TABLES", None)
    bin_dir = installed_wheel / "bin"

    run = subprocess.run([str(bin_dir / "knewimp-run"), "-m", "experiment=reproduce",
                          "method=median/published", "dataset=bt", "mechanism=mcar", "seed=0,1",
                          f"hydra.searchpath=[file://{tmp_path / 'conf'}]", f"results_dir={results}",
                          "download=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 cells, 0 with ok records (skipped), 2 to run" in run.stdout + run.stderr
    records = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    mine = [r for r in records if r["method"] == "median"]
    assert [r["seed"] for r in mine] == [0, 1] and all(r["status"] == "ok" for r in mine)
    for rec in mine:  # the same masks as every committed column of the cell
        others = {r["mask_digest"] for r in committed if r["seed"] == rec["seed"]}
        assert others == {rec["mask_digest"]}

    report = tmp_path / "report"
    tables = subprocess.run([str(bin_dir / "knewimp-tables"), "--results-dir", str(results), "--out", str(report)],
                            cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert tables.returncode == 0, tables.stderr[-3000:]
    assert "tables and figures only, no documents filled" in tables.stdout
    table = (report / "tables" / "mcar_mae.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| dataset |"))
    assert header.rstrip(" |").endswith("| median"), header
    assert len(header.split("|")) - 3 == len(committed_columns) + 1, "every committed column and the user's"
    assert "| miwae" in header, "the new baselines' folder joins the tables"
    assert "significantly better than this column" in table
    row = next(line for line in table.splitlines() if line.startswith("| bt |"))
    assert row.split("|")[-2].strip().endswith("\\*"), "KnewImp significantly better than column medians"
    assert (report / "tables" / "grid_status_new_baselines.md").is_file()
