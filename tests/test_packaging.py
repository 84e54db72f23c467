"""Packaging: the library needs only its core dependencies; a built wheel, installed outside the
checkout, runs a cell of the harness from another folder and reproduces the committed record
(its report from another folder: tests/test_bring_your_own.py).

The wheel test builds and installs into a temporary folder (conftest's ``installed_wheel``) and
takes about 20 s; deselect it with ``-m "not packaging"``.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
#: The bench extra's top-level modules: none may be needed to import or run the library.
BENCH_MODULES = ("hydra", "omegaconf", "ot", "pandas", "matplotlib", "wandb", "submitit", "ucimlrepo", "xlrd")


def test_the_library_imports_and_runs_with_core_dependencies_only():
    script = textwrap.dedent(f"""
        import sys
        for name in {BENCH_MODULES!r}:
            sys.modules[name] = None  # as if not installed: importing it raises ImportError
        import numpy as np
        import knewimp, knewimp.imputer, knewimp.reference
        import knewimp.baselines.mean, knewimp.baselines.mice, knewimp.baselines.gain, knewimp.baselines.tdm
        import knewimp.baselines.sinkhorn, knewimp.baselines.diffusion
        from knewimp import baselines
        X = np.random.default_rng(0).normal(size=(30, 3))
        X[::4, 1] = np.nan
        knewimp.KnewImputer(n_outer=1, score_epochs=1, n_steps=2, hidden=(4,), device="cpu").fit_transform(X)
        baselines.sinkhorn.SinkhornImputer(n_iter=2, batch_size=4, device="cpu").fit_transform(X)
        try:
            baselines.tdm.TDMImputer(n_iter=1, batch_size=4, device="cpu").fit_transform(X)
        except ImportError as exc:
            assert "pip install POT" in str(exc), exc
        else:
            raise AssertionError("TDM ran without POT")
        print("bench modules loaded:", sorted(m for m, mod in sys.modules.items()
                                              if mod is not None and m.split(".")[0] in {BENCH_MODULES!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bench modules loaded: []" in proc.stdout


def _committed(pattern: str) -> dict:
    (path,) = (ROOT / "results" / "runs").glob(pattern)
    return json.loads(path.read_text())


@pytest.mark.packaging
@pytest.mark.skipif(not (DATA_DIR / "transfusion.data").exists(), reason="raw UCI files not here")
def test_a_wheel_runs_a_cell_from_another_folder(tmp_path, installed_wheel):
    site = installed_wheel
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "KNEWIMP_DATA_DIR": str(DATA_DIR), "WANDB_MODE": "disabled"}

    where = subprocess.run([sys.executable, "-c", "import knewimp, knewimp.baselines, knewimp.configs as c; "
                            "print(knewimp.__file__, knewimp.baselines.__file__, c.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    # The wheel adds one import name, knewimp: no top-level `baselines` or `configs` to clash with.
    top = sorted(p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))
                 and p.name != "bin")
    assert top == ["knewimp"], top
    # knewimp-tables is the full report (every experiment's folder), not the main grid's tables alone
    (dist,) = site.glob("knewimp-*.dist-info")
    assert "knewimp-tables = knewimp.report.build:main" in (dist / "entry_points.txt").read_text()

    results = tmp_path / "results"
    run = subprocess.run([str(site / "bin" / "knewimp-run"), "dataset=bt", "mechanism=mcar", "method=mean/published",
                          "seed=0", f"results_dir={results}", "download=false", f"hydra.run.dir={tmp_path / 'hydra'}"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    (path,) = (results / "runs").glob("*.json")
    mine, committed = json.loads(path.read_text()), _committed("bt__mcar__r0.3__s0__mean__published__*.json")
    assert path.stem == committed["cell_id"]
    assert (mine["mask_digest"], mine["mae"], mine["wass"]) == (committed["mask_digest"], committed["mae"], committed["wass"])


def test_every_source_package_is_listed_for_the_wheel():
    """pyproject.toml names the packages (the baselines/ and configs/ folders are mapped into the
    knewimp namespace, which automatic discovery cannot do): a new subpackage must be added there."""
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = {"knewimp": "knewimp", **setup["package-dir"]}
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *rel)))
    assert found == set(setup["packages"]), found ^ set(setup["packages"])
