"""Tables, ranks and figures built from hand-constructed run records written with ``write_record``.

Grid: datasets bt, cc x mechanisms mar, mcar x seeds 0..4, columns knewimp, tdm, gain, mice, mean.
* tdm = knewimp + ~0.1 (clearly worse: the t-test marker must appear),
* mice = knewimp exactly (equal: no marker, tied for best),
* gain = knewimp + noise with mean +0.01 and large spread (not significant),
* mean = 0.8 everywhere, but no record at all on cc (a missing cell),
* tdm on cc seed 1 failed (a failed record).
"""
import csv
import math

import numpy as np
import pytest

from knewimp.report import tables
from knewimp.harness.identity import cell_id
from knewimp.harness.records import write_record

SEEDS = range(5)
KNEW = {"bt": [0.40, 0.41, 0.42, 0.43, 0.44], "cc": [0.30, 0.32, 0.31, 0.29, 0.33]}
TDM_OFF = [0.10, 0.11, 0.09, 0.12, 0.08]
GAIN_OFF = [0.30, -0.25, 0.20, -0.20, 0.00]


def _record(ds, mech, seed, method, value, preset="paper", status="ok", rate=0.3, params=None, n=100,
            finished="2026-11-25T10:00:00"):
    params = params if params is not None else {"p": 1}
    ok = status == "ok"
    return dict(dataset=ds, mechanism=mech, missing_rate=rate, realised_missing_rate=rate, seed=seed, method=method,
                preset=preset, params=params, n=n, d=4, status=status,
                error=None if ok else "Traceback ...\nImputationError: loss diverged at step 7",
                mae=value if ok else None, rmse=value * 1.5 if ok else None, wass=value * 2 if ok else None,
                wass_method="exact", fit_seconds=0.5 + seed + (10 if method == "knewimp" else 0), device="cpu",
                versions={"torch": "x"}, git_commit="deadbeef",
                cell_id=cell_id(ds, mech, rate, seed, method, preset, params),
                started_at="2026-11-25T09:59:00", finished_at=finished)


def _write_grid(root):
    for mech in ("mar", "mcar"):
        for ds, base in KNEW.items():
            for s in SEEDS:
                k = base[s]
                write_record(root, _record(ds, mech, s, "knewimp", k))
                write_record(root, _record(ds, mech, s, "mice", k))
                write_record(root, _record(ds, mech, s, "gain", k + 0.01 + GAIN_OFF[s]))
                write_record(root, _record(ds, mech, s, "tdm", k + TDM_OFF[s],
                                           status="failed" if (ds, s) == ("cc", 1) else "ok"))
                if ds == "bt":
                    write_record(root, _record(ds, mech, s, "mean", 0.8))
    # records that must be filtered out by default
    write_record(root, _record("bt", "mar", 0, "knewimp", 9.9, preset="quick"))
    write_record(root, _record("bt", "mar", 0, "knewimp", 7.7, rate=0.5))


def _md_rows(path):
    """{dataset: {column label: cell text}} from a Markdown table file."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    out = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        out[cells[0]] = dict(zip(header[1:], cells[1:]))
    return out


@pytest.fixture
def built(tmp_path):
    _write_grid(tmp_path)
    summary = tables.write_tables(tmp_path, figures=False, log=lambda *_: None)
    return tmp_path, summary


def test_cells_mean_std_bold_underline_missing(built):
    root, _ = built
    rows = _md_rows(root / "tables" / "mar_mae.md")
    assert list(rows) == ["bt", "cc"]                                        # registry order
    assert list(rows["bt"]) == ["knewimp", "tdm", "gain", "mice", "mean"]  # stable method order
    std_bt = np.std(KNEW["bt"], ddof=1)
    assert f"{std_bt:.3f}" == "0.016"
    # knewimp and mice tie for the best mean (0.42): both bold; gain (0.44) second; tdm (0.52) plain
    assert rows["bt"]["knewimp"] == "**0.420 ± 0.016**"
    assert rows["bt"]["mice"] == "**0.420 ± 0.016**"
    gain = np.add(KNEW["bt"], 0.01) + np.array(GAIN_OFF)
    assert rows["bt"]["gain"] == f"<u>{gain.mean():.3f} ± {gain.std(ddof=1):.3f}</u>" == "<u>0.440 ± 0.236</u>"
    assert rows["bt"]["mean"].startswith("0.800 ± 0.000")
    assert "**" not in rows["bt"]["tdm"] and "<u>" not in rows["bt"]["tdm"]
    assert rows["cc"]["mean"] == "--"                                        # missing cell, never 0
    tdm_cc = [KNEW["cc"][s] + TDM_OFF[s] for s in SEEDS if s != 1]
    assert rows["cc"]["tdm"].startswith(f"{np.mean(tdm_cc):.3f} ± {np.std(tdm_cc, ddof=1):.3f} (n=4)")


def test_significance_marker_only_where_clear_difference(built):
    root, _ = built
    for mech in ("mar", "mcar"):
        rows = _md_rows(root / "tables" / f"{mech}_mae.md")
        for ds in ("bt", "cc"):
            assert rows[ds]["tdm"].endswith("\\*"), rows[ds]["tdm"]        # clearly worse
            assert "*" not in rows[ds]["mice"].replace("**", "")            # equal values
            assert "\\*" not in rows[ds]["gain"]                            # noisy, mean +0.01
            assert "\\*" not in rows[ds]["knewimp"]                         # the reference itself
        assert rows["bt"]["mean"].endswith("\\*")
    text = (root / "tables" / "mar_mae.md").read_text()
    assert "one-sided" in text and "paired t-test" in text and "Holm" in text
    # 5 seeds: smallest one-sided Wilcoxon p is 1/32, and Holm over >1 comparison lifts it past 0.05
    assert tables.DAGGER not in "".join(v for r in _md_rows(root / "tables" / "mar_mae.md").values() for v in r.values())
    tex = (root / "tables" / "mar_mae.tex").read_text()
    assert r"\textbf{0.420 $\pm$ 0.016}" in tex and r"\underline{" in tex and "$^{*}$" in tex
    assert r"csdi\_t" not in tex and "--" in tex


def test_csv_parseable_and_holm_matches_hand_computation(built):
    root, _ = built
    with open(root / "tables" / "mar_mae.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 5
    by = {(r["dataset"], r["method"]): r for r in rows}
    assert float(by[("bt", "knewimp")]["mean"]) == pytest.approx(0.42)
    assert float(by[("bt", "knewimp")]["std"]) == pytest.approx(np.std(KNEW["bt"], ddof=1))
    assert by[("cc", "mean")]["mean"] == "" and by[("cc", "mean")]["n_ok"] == "0"
    assert by[("cc", "tdm")]["n_failed"] == "1" and by[("cc", "tdm")]["n_pairs"] == "4"
    assert by[("bt", "tdm")]["ttest_sig"] == "1" and by[("bt", "mice")]["ttest_sig"] == "0"
    # Holm by hand over the table's comparisons (all non-reference cells with at least one pair)
    comps = [r for r in rows if r["method"] != "knewimp" and r["wilcoxon_p"] != ""]
    assert len(comps) == 7                                  # 4 on bt + 3 on cc (mean missing there)
    ps = sorted((float(r["wilcoxon_p"]), i) for i, r in enumerate(comps))
    m, running, expected = len(ps), 0.0, {}
    for j, (p, i) in enumerate(ps):
        running = max(running, min(1.0, (m - j) * p))
        expected[i] = running
    for i, r in enumerate(comps):
        assert float(r["wilcoxon_p_holm"]) == pytest.approx(expected[i])
    assert float(by[("bt", "tdm")]["wilcoxon_p"]) == pytest.approx(1 / 32)


def test_wilcoxon_holm_marker_can_fire(tmp_path):
    # one comparison, 6 seeds, all differences negative: p = 1/64 < 0.05 after Holm with m = 1
    for s in range(6):
        write_record(tmp_path, _record("pk", "mar", s, "knewimp", 0.3 + 0.01 * s))
        write_record(tmp_path, _record("pk", "mar", s, "tdm", 0.5 + 0.02 * s))
    tables.write_tables(tmp_path, figures=False, log=lambda *_: None)
    cell = _md_rows(tmp_path / "tables" / "mar_mae.md")["pk"]["tdm"]
    assert cell.endswith("\\*" + tables.DAGGER)
    assert "$^{*\\dagger}$" in (tmp_path / "tables" / "mar_mae.tex").read_text()


def test_failed_missing_filter_and_all_records(built):
    root, summary = built
    failed = (root / "tables" / "failed.md").read_text()
    assert "ImputationError: loss diverged at step 7" in failed
    assert "| mar | cc | tdm | 1 |" in failed
    assert "| mar | cc | mean | 0 1 2 3 4 |" in failed
    assert summary["n_failed"] == 2 and summary["n_loaded"] == 2 * 2 * 5 * 4 + 2 * 5 + 2
    with open(root / "tables" / "all_records.csv", newline="") as fh:
        recs = list(csv.DictReader(fh))
    assert len(recs) == summary["n_loaded"]
    excluded = {r["preset"] + "@" + r["missing_rate"]: r["excluded_reason"] for r in recs if r["included"] == "0"}
    assert set(excluded) == {"quick@0.3", "paper@0.5"}
    assert all(r["params"] == '{"p": 1}' for r in recs)
    index = (root / "tables" / "index.md").read_text()
    for name in ("mar_mae.md", "mcar_wass.tex", "ranks.md", "failed.md", "all_records.csv"):
        assert f"]({name})" in index
    # the filtered-out values (9.9 quick, 7.7 at rate 0.5) never reach a table
    assert "9.9" not in (root / "tables" / "mar_mae.md").read_text()


def test_include_quick_and_preset_labels(tmp_path):
    _write_grid(tmp_path)
    tables.write_tables(tmp_path, include_quick=True, figures=False, log=lambda *_: None)
    rows = _md_rows(tmp_path / "tables" / "mar_mae.md")
    assert "knewimp (paper)" in rows["bt"] and "knewimp (quick)" in rows["bt"] and "tdm" in rows["bt"]
    assert rows["bt"]["knewimp (quick)"] == "9.900 (n=1)"      # one seed: no std, no test
    assert "knewimp (paper): preset `paper`" in (tmp_path / "tables" / "mar_mae.md").read_text()


def test_ranks_hand_checkable(built):
    root, summary = built
    with open(root / "tables" / "ranks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mar = {r["method"]: float(r["avg_rank"]) for r in rows if r["metric"] == "mae" and r["scope"] == "mar"}
    # 'mean' has no cc block and tdm only 4 of 5 ok seeds on cc (fewer than the fullest column, so
    # its cc entry counts as missing): both miss half their blocks and are dropped. Per block:
    # knewimp = mice (tie 1.5), gain 3rd (0.43 / 0.32 means)
    assert mar == {"knewimp": 1.5, "mice": 1.5, "gain": 3.0}
    all_rows = [r for r in rows if r["metric"] == "mae" and r["scope"] == "all"]
    assert {r["n_blocks"] for r in all_rows} == {"4"}
    assert float(all_rows[0]["nemenyi_cd"]) == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)
    md = (root / "tables" / "ranks.md").read_text()
    assert "Dropped methods (incomplete blocks): " in md
    dropped = md.split("Dropped methods (incomplete blocks): ")[1].splitlines()[0]
    assert "mean" in dropped
    assert "tdm" in dropped


def test_empty_and_figures(tmp_path, capsys):
    assert tables.main(["--results-dir", str(tmp_path / "none")]) == 0
    assert "no records" in capsys.readouterr().out
    assert "No records found" in (tmp_path / "none" / "tables" / "index.md").read_text()
    _write_grid(tmp_path)
    tables.main(["--results-dir", str(tmp_path)])
    for name in ("cd_mae.png", "cd_wass.png", "runtime.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    assert "](../figures/cd_mae.png)" in (tmp_path / "tables" / "index.md").read_text()


def test_superseded_duplicate_keeps_latest_ok(tmp_path):
    write_record(tmp_path, _record("bt", "mar", 0, "tdm", 0.6, params={"p": 1}, finished="2026-11-25T10:00:00"))
    write_record(tmp_path, _record("bt", "mar", 0, "tdm", 0.5, params={"p": 2}, finished="2026-11-25T11:00:00"))
    write_record(tmp_path, _record("bt", "mar", 0, "tdm", 0.4, params={"p": 3}, status="failed",
                                   finished="2026-11-25T12:00:00"))
    sel = tables.select_records(tables.load_records(tmp_path))
    assert [r["mae"] for r in sel.kept] == [0.5]
    assert sel.count("another variant of tdm/paper on bt mar") == 2  # other parameters: never one mean


def test_bad_metric_message():
    with pytest.raises(ValueError, match="metric='mse'"):
        tables.build_table([], "mar", "mse", None)


def test_wass_approximation_and_missing_value_are_stated(tmp_path):
    for s in range(3):
        write_record(tmp_path, _record("wqw", "mar", s, "knewimp", 0.3 + 0.01 * s))
        rec = _record("wqw", "mar", s, "mean", 0.8)
        rec["wass_method"] = "sliced"
        if s == 2:
            rec["wass"] = None
        write_record(tmp_path, rec)
    write_record(tmp_path, {**_record("wqw", "mar", 3, "mean", 0.8), "status": "running"})
    tables.write_tables(tmp_path, figures=False, log=lambda *_: None)
    text = (tmp_path / "tables" / "mar_wass.md").read_text()
    assert "WASS is an approximation (sliced) in: wqw/mean" in text
    assert "Ok records without a wass value: wqw/mean seeds 2" in text
    assert _md_rows(tmp_path / "tables" / "mar_wass.md")["wqw"]["mean"].startswith("<u>1.600 ± 0.000 (n=2)</u>")
    failed = (tmp_path / "tables" / "failed.md").read_text()
    assert "## Damaged record files" in failed and "status 'running' is not one of ok, failed" in failed


def test_a_further_grid_joins_the_tables_only_with_complete_columns(tmp_path):
    from knewimp.report.tables import complete_columns

    def rec(method, preset, seed, status="ok", rate=0.3):
        return dict(dataset="bt", mechanism="mcar", seed=seed, method=method, preset=preset, status=status,
                    missing_rate=rate)

    main = [rec("knewimp", "paper", s) for s in range(3)]
    extra = ([rec("miwae", "cpu", s) for s in range(3)] + [rec("miracle", "cpu", s) for s in range(2)]
             + [rec("miracle", "cpu", 2, status="failed"), rec("remasker", "cpu", 0, rate=0.5)])
    joined, waiting = complete_columns(main, extra)
    assert {(r["method"], r["seed"]) for r in joined} == {("miwae", 0), ("miwae", 1), ("miwae", 2)}
    assert waiting == {("miracle", "cpu"): (2, 3)}
    assert complete_columns([], extra)[0] == []  # nothing to complete against: nothing joins
