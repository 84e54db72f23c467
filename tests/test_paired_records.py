"""scripts/paired_records.py: a changed implementation's records against the committed ones of the same cells."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from knewimp.harness import records
from knewimp.harness.identity import cell_id
from knewimp.report.experiments.bench import build

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "paired_records.py"
spec = importlib.util.spec_from_file_location("paired_records", SCRIPT)
paired = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paired)

RNG = np.random.default_rng(0)
COMMITTED = {(ds, mech, s): (0.5 + 0.05 * RNG.normal(), 1.0 + 0.1 * RNG.normal())
             for ds in ("bt", "cc") for mech in ("mcar", "mar") for s in range(5)}


def write(folder, ds, mech, seed, mae, wass):
    records.write_record(folder, dict(cell_id=cell_id(ds, mech, 0.3, seed, "mean", "published", {}), dataset=ds,
                                      mechanism=mech, missing_rate=0.3, seed=seed, method="mean", preset="published",
                                      params={}, status="ok", mae=mae, wass=wass, fit_seconds=2.0))


@pytest.fixture()
def committed(tmp_path):
    root = tmp_path / "results"
    for (ds, mech, s), (mae, wass) in COMMITTED.items():
        write(root / "grid", ds, mech, s, mae, wass)
    return root


def new_run(tmp_path, shift):
    """Seeds 0-2 of every block, the committed scores plus ``shift`` plus a little noise (none when shift is 0)."""
    folder = tmp_path / f"new{shift}"
    noise = np.random.default_rng(1)
    for (ds, mech, s), (mae, wass) in COMMITTED.items():
        if s < 3:
            e = 0.0 if shift == 0 else 0.002 * noise.normal()
            write(folder, ds, mech, s, mae + shift + e, wass + shift + e)
    return folder


def test_identical_records_are_unchanged_and_counted_bit_identical(tmp_path, committed):
    data = paired.compare(new_run(tmp_path, 0.0), committed)
    (g,) = data["groups"]
    assert g["pairs"] == 12 and g["verdict"] == "unchanged"
    assert g["mae"]["identical"] == 12 and g["mae"]["p_value"] == 1.0
    spread = np.mean([np.std([COMMITTED[(ds, m, s)][0] for s in range(5)], ddof=1)
                      for ds in ("bt", "cc") for m in ("mcar", "mar")])
    assert g["mae"]["seed_spread"] == pytest.approx(spread)


def test_a_systematic_shift_is_moved(tmp_path, committed):
    data = paired.compare(new_run(tmp_path, 0.01), committed)
    (g,) = data["groups"]
    assert g["verdict"] == "moved" and g["mae"]["p_value"] < 1e-6
    assert g["mae"]["mean_diff"] == pytest.approx(0.01, abs=0.002)


def test_a_shift_beyond_the_seed_spread_is_moved_even_when_not_significant(tmp_path, committed):
    folder = tmp_path / "wild"
    for i, ((ds, mech, s), (mae, wass)) in enumerate(COMMITTED.items()):
        if s < 3:  # alternating signs: mean difference near zero, mean |difference| far above the spread
            write(folder, ds, mech, s, mae + (0.3 if i % 2 else -0.3), wass)
    (g,) = paired.compare(folder, committed)["groups"]
    assert g["mae"]["p_value"] > 0.05 and g["verdict"] == "moved"


def test_no_twin_is_a_one_line_refusal(tmp_path, committed):
    folder = tmp_path / "other"
    write(folder, "pk", "mnar", 0, 0.5, 1.0)
    with pytest.raises(SystemExit, match="no ok record"):
        paired.compare(folder, committed)


def test_the_report_renders_the_file(tmp_path, committed):
    out = tmp_path / "bench"
    paired.main(["--new", str(new_run(tmp_path, 0.01)), "--committed", str(committed), "--out", str(out / "paired_x.json")])
    assert json.loads((out / "paired_x.json").read_text())["kind"] == "bench_paired"
    (table,) = build(out, tmp_path / "rendered", log=lambda *_: None)
    text = table.read_text()
    assert table.name == "bench_paired_x.md" and "| mean | published | 12 | bt cc | mar mcar | MAE | 0 |" in text
    assert text.count("moved") == 2
