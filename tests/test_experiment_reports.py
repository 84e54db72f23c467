"""The toys, runtime and Dirichlet reports on tiny inputs: what they compute and write."""
import json
import math

import numpy as np
import pytest

from knewimp.harness.identity import cell_id
from knewimp.harness.records import write_record
from knewimp.report.experiments import dirichlet, runtime, toys


def _record(toy, mech, method, preset, seed, mae, wass, status="ok"):
    return dict(cell_id=cell_id(toy, mech, 0.3, seed, method, preset, {}), dataset=toy, mechanism=mech,
                missing_rate=0.3, seed=seed, method=method, preset=preset, params={}, status=status,
                mae=mae, wass=wass)


@pytest.fixture
def toy_results(tmp_path):
    res = tmp_path / "toys"
    for seed, (k, m) in enumerate([(0.70, 0.30), (0.80, 0.40)]):
        write_record(res, _record("toy_gaussian", "mcar", "knewimp", "paper", seed, k, m))
        write_record(res, _record("toy_gaussian", "mcar", "mean", "published", seed, 0.9, 0.5))
    write_record(res, _record("toy_gaussian", "mar", "knewimp", "paper", 0, 0.5, 0.2))
    write_record(res, _record("toy_skewed", "mcar", "knewimp", "paper", 0, None, None, status="failed"))
    write_record(res, _record("bt", "mcar", "knewimp", "paper", 0, 0.1, 0.1))   # not a toy: ignored
    return res


def test_toys_summary_is_mean_and_sample_std_over_seeds(toy_results):
    from knewimp.harness.records import load_records

    columns, summary = toys.summarise(load_records(toy_results))
    assert columns == ["knewimp", "mean"]
    row = summary[("toy_gaussian", "mcar", "knewimp")]
    assert row["n_seeds"] == 2 and row["mae_mean"] == pytest.approx(0.75)
    assert row["mae_std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
    assert math.isnan(summary[("toy_gaussian", "mar", "knewimp")]["mae_std"])
    assert not any(k[0] in ("toy_skewed", "bt") for k in summary)


def test_toys_table_has_the_paper_values_beside_ours_and_bolds_the_best(toy_results, tmp_path):
    written = toys.build(toy_results, tmp_path / "out", log=lambda *a: None)
    md = (tmp_path / "out" / "tables" / "toys.md").read_text()
    paper = toys.paper_values()
    assert paper[("toy_gaussian", "mcar", "mae")] == (0.769, 0.013)   # Table F.1 as printed
    assert "| Gaussian | MCAR | 0.769 ± 0.013 | **0.750 ± 0.071** | 0.900 ± 0.000 |" in md
    assert "| Gaussian | MAR | 0.769 ± 0.030 | **0.500** | - |" in md
    csv_text = (tmp_path / "out" / "tables" / "toys.csv").read_text()
    assert "toy_gaussian,mcar,mae,paper NewImp,,0.769,0.013" in csv_text
    assert all(p.suffix != ".png" for p in written)   # no points file, no figure


def test_the_packaged_paper_values_cover_every_toy_mechanism_and_metric():
    paper = toys.paper_values()
    assert len(paper) == 4 * 3 * 2
    assert {k[0] for k in paper} == set(toys.TOY_DATASETS)


def test_toys_figure_from_a_points_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 2))
    mask = np.zeros_like(X, dtype=bool)
    mask[:10, 0] = True
    np.savez(tmp_path / "points.npz", toys=np.array(["toy_gaussian"]), methods=np.array(["mean/published"]),
             mechanism=np.array("mcar"), seed=np.array(0), **{"toy_gaussian/X": X, "toy_gaussian/mask": mask,
                                                              "toy_gaussian/mean/published": np.where(mask, 0.0, X)})
    assert toys.points_figure(tmp_path / "points.npz", tmp_path / "toys.png").stat().st_size > 0


def _runtime_json(path):
    ms = []
    for n in (100, 200, 400):
        t = 1e-4 * n ** 2                                   # quadratic in N
        ms.append(dict(method="knewimp", preset="paper", dtype="float64", device="cpu", n=n, d=4, wall_total=3 * t,
                       cpu_total=t, cpu_score_fit=0.25 * t, cpu_flow=0.75 * t, score_fit=0.1, particle_steps=0.2))
        ms.append(dict(method="mean", preset="published", dtype="preset", device="cpu", n=n, d=4, wall_total=1e-3,
                       cpu_total=1e-3 * n / 100))
    for d in (2, 8):
        ms.append(dict(method="knewimp", preset="paper", dtype="float64", device="cpu", n=200, d=d, wall_total=1.0,
                       cpu_total=0.5 * d, cpu_score_fit=0.1 * d, cpu_flow=0.4 * d))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(fixed_n=200, fixed_d=4, host={"cpus": 2}, measurements=ms)))
    return path


def test_runtime_exponents_and_shared_point(tmp_path):
    data = json.loads(_runtime_json(tmp_path / "rt.json").read_text())
    rows = {(r["method"], r["phase"], r["axis"]): r for r in runtime.summarise(data)}
    assert rows[("knewimp", "total", "n")]["exponent"] == pytest.approx(2.0)
    assert rows[("knewimp", "flow", "n")]["exponent"] == pytest.approx(2.0)
    assert rows[("mean", "total", "n")]["exponent"] == pytest.approx(1.0)
    assert rows[("knewimp", "total", "n")]["seconds_at_fixed"] == pytest.approx(1e-4 * 200 ** 2)
    # two points on the D axis (2 and 8) plus the shared point (200, 4): three, slope 1
    assert rows[("knewimp", "total", "d")]["points"] == 3
    assert rows[("knewimp", "total", "d")]["exponent"] == pytest.approx(1.0, abs=0.3)
    assert ("mean", "total", "d") in rows and math.isnan(rows[("mean", "total", "d")]["exponent"])


def test_runtime_build_writes_table_and_figure_and_skips_without_json(tmp_path):
    assert runtime.build(tmp_path / "absent", tmp_path / "out", log=lambda *a: None) == []
    _runtime_json(tmp_path / "rt" / "runtime.json")
    written = runtime.build(tmp_path / "rt", tmp_path / "out", log=lambda *a: None)
    assert sorted(p.name for p in written) == ["runtime.csv", "runtime.md", "runtime_scaling.png"]
    assert "| knewimp (paper) | float64 | cpu | total | N | 3 | 100-400 | 2.00 | 4 |" in \
        (tmp_path / "out" / "tables" / "runtime.md").read_text()


def _gpu_json(path, fixed_n=200):
    ms = [dict(method="knewimp", preset="paper", dtype="float32", device="cuda", n=n, d=4, wall_total=0.01 * n,
               cpu_total=0.01 * n, score_fit=0.004 * n, particle_steps=0.006 * n, loadavg_before=3.0) for n in (100, 200, 400)]
    ms.append(dict(ms[0], n=800, wall_total=99.0, cold_start=True))   # paid CUDA's start-up: left out
    path.write_text(json.dumps(dict(fixed_n=fixed_n, fixed_d=4, host={"cpus": 16, "gpu": "G", "torch": "t"},
                                    measurements=ms)))


def test_runtime_merges_one_file_per_machine_and_leaves_out_cold_starts(tmp_path):
    folder = tmp_path / "rt"
    _runtime_json(folder / "runtime.json")
    _gpu_json(folder / "runtime_cuda.json")
    data = runtime.load(folder)
    assert data["cold_starts"] == 1 and [h["file"] for h in data["machines"]] == ["runtime.json", "runtime_cuda.json"]
    rows = {(r["method"], r["dtype"], r["device"], r["phase"], r["axis"]): r for r in runtime.summarise(data)}
    gpu = rows[("knewimp", "float32", "cuda", "total", "n")]
    assert (gpu["points"], gpu["x_max"], gpu["seconds_at_fixed"]) == (3, 400, pytest.approx(2.0))
    assert rows[("knewimp", "float32", "cuda", "flow", "n")]["exponent"] == pytest.approx(1.0)
    runtime.build(folder, tmp_path / "out", log=lambda *a: None)
    md = (tmp_path / "out" / "tables" / "runtime.md").read_text()
    assert "Left out: 1 measurement that paid" in md and "`runtime_cuda.json`: cuda on G (torch t, 16 CPUs)" in md
    _gpu_json(folder / "runtime_cuda.json", fixed_n=300)
    with pytest.raises(ValueError, match="fixed_n = 300"):
        runtime.load(folder)


def test_dirichlet_mode_and_the_four_rules():
    np.testing.assert_allclose(dirichlet.MODE, [3 / 14, 3 / 14, 4 / 7])
    x0 = dirichlet.initial_points()
    ascent = dirichlet.mirror_ascent(x0)
    langevin = dirichlet.mirror_langevin(x0)
    attract = dirichlet.kernel_flow(x0, 10.0, iters=300)
    repel = dirichlet.kernel_flow(x0, -1.0, iters=300)
    for traj in (ascent, langevin, attract, repel):
        np.testing.assert_allclose(traj.sum(axis=2), 1.0, atol=1e-12)
        assert (traj > 0).all()
    d = dirichlet.distance_to_mode
    assert d(ascent[-1]) < 0.05 < d(langevin[-1])              # optimisation reaches it, diffusion scatters
    assert d(attract[-1]) < d(repel[-1])                       # lambda > 0 concentrates, lambda < 0 spreads
    assert np.ptp(attract[-1], axis=0).max() < np.ptp(repel[-1], axis=0).max()


def test_runtime_gpu_ratio_pairs_each_series_with_its_gpu_twin():
    row = dict(method="knewimp", preset="paper", dtype="float64", phase="total", axis="n")
    rows = [dict(row, device="cpu", seconds_at_fixed=20.0), dict(row, device="cuda", seconds_at_fixed=2.5),
            dict(row, dtype="float32", device="cpu", seconds_at_fixed=9.0),          # no GPU twin: no ratio
            dict(row, device="cuda", phase="flow", seconds_at_fixed=1.0)]
    assert runtime.gpu_ratios(rows) == {("knewimp", "paper", "float64"): pytest.approx(8.0)}


def test_the_method_cost_table_prices_a_column_from_its_medians(tmp_path):
    from knewimp.report.experiments import costs
    from knewimp.vocab import DATASETS

    def rec(ds, seed, secs, params=None, device="cpu", rate=0.3):
        params = params or {}
        return dict(cell_id=cell_id(ds, "mcar", rate, seed, "tdm", "paper", params), dataset=ds, mechanism="mcar",
                    missing_rate=rate, seed=seed, method="tdm", preset="paper", params=params, status="ok",
                    mae=0.5, wass=0.1, fit_seconds=secs, device=device)

    for i, ds in enumerate(DATASETS):
        for seed, secs in enumerate((10.0 * (i + 1), 30.0 * (i + 1), 20.0 * (i + 1))):
            write_record(tmp_path / "a", rec(ds, seed, secs))
    write_record(tmp_path / "b", rec("bt", 9, 1e6, device="cuda:0"))          # a GPU record: not a CPU price
    write_record(tmp_path / "b", rec("bt", 8, 1e6, rate=0.5))                 # another missing rate
    write_record(tmp_path / "b", rec("bt", 7, 1e6, params={"lr": 1.0}))       # a swept variant with fewer records
    (row,) = costs.cost_rows(tmp_path)
    assert [row[ds] for ds in DATASETS] == [20.0 * (i + 1) for i in range(len(DATASETS))]
    assert row["bt_n"] == 3 and row["cpu_hours_per_column"] == pytest.approx(20.0 * 36 * 15 / 3600)
    assert "| tdm/paper | 20.0 (3) |" in costs.render([row])


def test_an_authors_option_is_paired_with_the_grid_record_of_the_preset_it_modifies(tmp_path):
    from knewimp.report.experiments import author_options

    def rec(preset, seed, mae, mask="m"):
        return dict(cell_id=cell_id("pk", "mcar", 0.3, seed, "remasker", preset, {}), dataset="pk", mechanism="mcar",
                    missing_rate=0.3, seed=seed, method="remasker", preset=preset, params={}, status="ok",
                    mae=mae, wass=2 * mae, mask_digest=f"{mask}{seed}")
    for seed, (base, opt) in enumerate([(0.50, 0.45), (0.60, 0.56), (0.55, 0.49)]):
        write_record(tmp_path / "new_baselines", rec("cpu", seed, base))
        write_record(tmp_path / "author_options", rec("cpu_count", seed, opt))
    write_record(tmp_path / "author_options", rec("cpu_count", 7, 0.1))          # no base record: not paired
    rows = author_options.summary(author_options.pairs(tmp_path))
    (mae,) = [r for r in rows if r["scope"] == "all" and r["metric"] == "mae"]
    assert (mae["base_mean"], mae["cells"]) == (pytest.approx(0.55), 3) and mae["diff"] == pytest.approx(-0.05)
    assert "**remasker/cpu_count** against **remasker/cpu**" in author_options.render(rows)
    write_record(tmp_path / "author_options", rec("cpu_count", 0, 0.45, mask="other"))
    with pytest.raises(ValueError, match="mask other0 but its base"):
        author_options.pairs(tmp_path)
