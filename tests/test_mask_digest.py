"""Records carry the digest of their cell's mask; a table refuses to compare records of one cell
computed on different masks."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA_DIR
from knewimp.harness.identity import cell_id
from knewimp.harness.records import write_record
from knewimp.protocol.cell_input import make_cell_input, mask_digest
from knewimp.report import tables
from knewimp.report.selection import MaskMismatch, select_records

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "results").glob("**/runs/*.json"))


def test_every_committed_record_carries_its_mask_digest_and_one_cell_has_one_mask():
    by_cell = defaultdict(set)
    for path in COMMITTED:
        rec = json.loads(path.read_text())
        assert len(rec.get("mask_digest") or "") == 16, f"{path.name}: no mask_digest (scripts/add_mask_digests.py)"
        # a row subsample (the scale experiment's n_rows) is another table, with masks of its own
        n_rows = (rec.get("protocol") or {}).get("n_rows")
        by_cell[(rec["dataset"], n_rows, rec["mechanism"], rec["missing_rate"], rec["seed"])].add(rec["mask_digest"])
    assert COMMITTED and all(len(d) == 1 for d in by_cell.values())


@pytest.mark.skipif(not (DATA_DIR / "transfusion.data").exists(), reason="raw UCI files not here")
def test_a_committed_digest_is_the_recomputed_mask():
    rec = json.loads(next((ROOT / "results" / "runs").glob("bt__mar__r0.3__s2__mean__*.json")).read_text())
    _, mask = make_cell_input("bt", "mar", 0.3, 2, data_dir=DATA_DIR, download=False, mechanism_options={"p_obs": 0.5})
    assert mask_digest(mask) == rec["mask_digest"]


def test_the_digest_names_shape_and_bits():
    mask = np.zeros((4, 3), dtype=bool)
    mask[1, 2] = True
    other = mask.copy()
    other[0, 0] = True
    assert mask_digest(mask) == mask_digest(mask.copy()) != mask_digest(other)
    assert mask_digest(mask) != mask_digest(mask.reshape(3, 4))


def _record(method, digest, seed=0):
    return dict(cell_id=cell_id("bt", "mcar", 0.3, seed, method, "paper", {}), dataset="bt", mechanism="mcar",
                missing_rate=0.3, realised_missing_rate=0.3, mask_digest=digest, seed=seed, method=method,
                preset="paper", params={}, n=10, d=2, status="ok", error=None, mae=0.5, rmse=0.6, wass=1.0,
                wass_method="exact", fit_seconds=1.0, device="cpu", finished_at="2026-01-01T00:00:00")


def test_different_masks_for_one_cell_are_refused(tmp_path, capsys):
    records = [_record("knewimp", "a" * 16), _record("mean", "a" * 16), _record("mine", "b" * 16),
               _record("mine", "b" * 16, seed=1)]
    assert len(select_records(records[:2]).kept) == 2
    with pytest.raises(MaskMismatch, match=r"bt mcar rate 0.3 seed 0: mask a{16}: knewimp \(paper\), mean "
                                           r"\(paper\); mask b{16}: mine \(paper\)"):
        select_records(records)
    for rec in records:
        write_record(tmp_path, rec)
    assert tables.main(["--results-dir", str(tmp_path), "--no-figures"]) == 2
    assert "computed on different masks" in capsys.readouterr().err
