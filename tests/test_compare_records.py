"""scripts/compare_records.py: the cells ok in both folders, side by side."""
import subprocess
import sys
from pathlib import Path

from knewimp.harness import records
from knewimp.harness.identity import cell_id

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_records.py"


def write(folder, name, status="ok", mae=0.5, device="cpu"):
    """The record of cell ``name`` (c1, c2, ...: bt mcar mean with seed 1, 2, ...)."""
    seed = int(name[1:])
    records.write_record(folder, dict(cell_id=cid(name), dataset="bt", mechanism="mcar", missing_rate=0.3, seed=seed,
                                      method="mean", preset="published", params={},
                                      status=status, mae=mae, wass=1.0, fit_seconds=2.0,
                                      device=device, versions=dict(torch="2.13.0")))


def cid(name):
    return cell_id("bt", "mcar", 0.3, int(name[1:]), "mean", "published", {})


def test_only_cells_ok_in_both_are_listed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "c1", mae=0.5, device="cuda"), write(b, "c1", mae=0.25)
    write(a, "c2"), write(b, "c2", status="failed")
    write(a, "c3")
    out = subprocess.run([sys.executable, str(SCRIPT), str(a), str(b)], capture_output=True, text=True,
                         check=True).stdout
    assert "1 cells ok in both" in out
    assert f"| {cid('c1')} | 0.5000 | 0.2500 |" in out and "cuda (torch 2.13.0)" in out
    assert cid("c2") not in out.split("\n", 1)[1] and f"| {cid('c3')} " not in out
