import os
from pathlib import Path

import numpy as np
import pytest

from knewimp.protocol.datasets import default_data_dir

os.environ.setdefault("WANDB_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]
#: The raw UCI files, where this machine has them (knewimp.protocol.datasets.default_data_dir).
DATA_DIR = default_data_dir()
#: The authors' code's outputs on nine bt cases (KNEWIMP_REFERENCE_DIR, or shared/reference beside the checkout).
REFERENCE_DIR = Path(os.environ.get("KNEWIMP_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))


def low_rank_matrix(n=300, d=8, rank=2, noise=0.1, seed=0):
    """Standardised correlated data: rank-``rank`` signal plus small noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + noise * rng.normal(size=(n, d))
    return (X - X.mean(0)) / X.std(0)


def mcar(X, rate=0.3, seed=1):
    mask = np.random.default_rng(seed).random(X.shape) < rate
    mask[mask.all(axis=1), 0] = False  # keep at least one value per row
    Xm = X.copy()
    Xm[mask] = np.nan
    return Xm, mask


def mean_fill(Xm):
    return np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)


def mae(X_true, X_hat, mask):
    return float(np.abs(X_true - X_hat)[mask].mean())


@pytest.fixture
def synthetic():
    """(complete, with-NaN, mask) for 'beats the column mean' tests."""
    X = low_rank_matrix()
    Xm, mask = mcar(X)
    return X, Xm, mask


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Test problems are tiny: a second intra-op thread only contends for the two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory, worker_id) -> Path:
    """A wheel built from this checkout and installed into a folder of its own (no network:
    --no-deps, --no-index, --no-build-isolation; the dependencies come from this environment):
    the folder to put on PYTHONPATH, with the console scripts in its bin/. Built once for the whole
    run: under pytest-xdist the workers share the base folder's parent, and the first to ask builds."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "wheel.done").exists():
            _install_wheel(shared / "wheel")
            (shared / "wheel.done").touch()
    return shared / "wheel" / "site"


def _install_wheel(tmp: Path) -> None:
    import shutil
    import subprocess
    import sys

    shutil.rmtree(tmp, ignore_errors=True)  # a build that failed part way
    tmp.mkdir()
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("knewimp", "baselines", "configs"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("knewimp-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)



#: Modules by cost, the costliest first: the golden tables' build (one fixture for the whole module),
#: then the wheel's report, subprocesses, quick-preset fits and whole-grid expansions. `make test`
#: (--dist loadfile --no-loadscope-reorder) hands whole modules to the two workers in collection
#: order as each frees up, so the long ones start at once and the many short ones even out the two
#: workers' finishing times; a long module handed out last would run alone at the end. Whole
#: modules keep each module-scoped fixture (the golden build, the diffusion fits) on one worker.
SLOW_FIRST = ("test_golden_tables.py", "test_bring_your_own.py", "test_run.py", "test_packaging.py",
              "test_raw_scale.py", "test_readme_example.py", "test_diffusion.py", "test_configs.py",
              "test_targets.py", "test_record_identity.py", "test_bench_records.py", "test_authors_lockstep.py",
              "test_harness_guards.py", "test_identity.py", "test_sweep_start.py", "test_experiment_cells.py",
              "test_remasker.py", "test_gain.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: file order otherwise


def rendered_crosscheck(root, method, dataset, mechanism, sides, wass_factor):
    """Save a cross-check folder's file (one cell, ``sides``: {side: MAEs per imputer seed}, WASS =
    ``wass_factor`` x MAE) under ``root/crosscheck/<method>`` and render it; the written table."""
    import json

    from knewimp.report.experiments.crosscheck import report

    folder = root / "crosscheck" / method
    folder.mkdir(parents=True)
    runs = {side: [dict(imputer_seed=i, mae=m, wass=wass_factor * m, seconds=1.0) for i, m in enumerate(values)]
            for side, values in sides.items()}
    saved = dict(dataset=dataset, mechanism=mechanism, cell_seed=0, extra={}, overrides=[], runs=runs)
    (folder / f"cc_{dataset}_{mechanism}.json").write_text(json.dumps(saved))
    (written,) = report(root, root / "out", log=lambda *a: None)
    return written
