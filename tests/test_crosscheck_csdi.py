"""scripts/crosscheck_csdi.py (CSDI-T and MissDiff beside their original code): bad input is refused
in one line before anything is computed, and a saved csdi_t cross-check becomes its table."""
import sys
from pathlib import Path

import pytest
from conftest import rendered_crosscheck

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import crosscheck_csdi  # noqa: E402


@pytest.mark.parametrize("argv, says", [
    (["--sides", "ours,bogus"], "--sides: ['bogus'] not among ours, theirs, ours_shared"),
    (["--method", "missdiff", "--sides", ","], "--sides: ',' not among ours, theirs, ours_shared (for --method missdiff)"),
    (["--k", "0"], "--k must be >= 1, got 0"),
    (["--rate", "1.5"], "--rate must be in (0, 1), got 1.5"),
    (["--method", "ddpm"], "invalid choice: 'ddpm'"),
])
def test_bad_arguments_are_refused_in_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        crosscheck_csdi.main(["--dataset", "bt", "--mechanism", "mnar", *argv])
    assert exc.value.code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error) == 1 and says in error[0]


def test_a_setting_the_original_fixes_in_its_code_is_refused_before_any_compute(tmp_path):
    # ff_dim is hard-coded (64) in the original's Transformer layer: no config key can carry 32
    with pytest.raises(SystemExit, match=r"^ff_dim=32: the original code fixes it at 64$"):
        crosscheck_csdi.main(["--dataset", "bt", "--mechanism", "mnar", "--original", str(tmp_path),
                              "--override", "method.ff_dim=32"])
    with pytest.raises(SystemExit, match="has no src/main_model_table.py"):
        crosscheck_csdi.main(["--dataset", "bt", "--mechanism", "mnar", "--original", str(tmp_path)])


def test_our_cpu_presets_map_onto_the_original_config_keys():
    from knewimp.harness.methods import preset_params

    params = preset_params("csdi_t/cpu")[1]
    config = crosscheck_csdi.original_config(params)
    assert config["train"] == {"epochs": params["epochs"], "batch_size": params["batch_size"], "lr": params["lr"]}
    assert config["diffusion"]["num_steps"] == params["n_steps"] and config["model"]["is_unconditional"] == 0
    assert config["model"]["timeemb"] == params["pos_emb_dim"] and config["model"]["featureemb"] == params["feat_emb_dim"]
    missdiff = crosscheck_csdi.original_config(preset_params("missdiff/cpu")[1], unconditional=1)
    assert missdiff["model"]["is_unconditional"] == 1


def test_a_saved_csdi_t_crosscheck_renders_one_row_per_side(tmp_path):
    written = rendered_crosscheck(tmp_path, "csdi_t", "bt", "mnar", dict(
        ours=[0.40, 0.41, 0.39], theirs=[0.40, 0.39, 0.41], ours_shared=[0.50, 0.51, 0.49]), wass_factor=2)
    assert written.name == "crosscheck_csdi_t.md"
    text = written.read_text()
    assert "| bt | mnar | 0 | ours | 3 | 0.4000 ± 0.0100 | t = +0.00, p = 1.000 | 0.800 ± 0.020 |" in text
    assert "| bt | mnar | 0 | ours_shared | 3 | 0.5000 ± 0.0100 | t = +12.25, p = 0.000 |" in text
    assert "| bt | mnar | 0 | theirs | 3 | 0.4000 ± 0.0100 | (reference) |" in text
    assert "bt mnar MAE (p = 0.000; ours_shared higher by 25.0%)" in text


def test_the_scripts_share_one_run_entry_and_one_closing_summary():
    import numpy as np

    from knewimp.report.experiments import crosscheck

    X = np.arange(12, dtype=float).reshape(6, 2)
    mask = np.zeros_like(X, dtype=bool)
    mask[0, 0] = mask[3, 1] = True
    out = X.copy()
    out[0, 0] += 2.0
    entry = crosscheck.run_entry(4, X, out, mask, 1.5)
    assert entry["imputer_seed"] == 4 and entry["mae"] == 1.0 and entry["seconds"] == 1.5 and entry["wass"] >= 0
    runs = {"ours": [dict(entry, mae=m) for m in (1.0, 2.0)], "theirs": [dict(entry, mae=m) for m in (1.0, 3.0)],
            "extra": []}
    lines = crosscheck.side_lines(runs, width=6)
    assert lines[0] == f"  ours  : MAE 1.5000 +/- 0.7071 (n=2)   WASS {crosscheck.mean_sd_text([entry['wass']] * 2)}"
    assert len(lines) == 3 and lines[2].startswith("  Welch (ours vs theirs): MAE t = -0.45")
