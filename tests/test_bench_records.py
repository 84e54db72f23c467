"""The one-cell benchmarks keep their measurements as JSON and `make tables` renders them."""
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from knewimp.report.experiments import bench

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_bench_baselines_keeps_measurements_and_skips_held(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPTS / "bench_baselines.py"))["main"]
    out = tmp_path / "bench" / "toy.json"
    argv = ["--synthetic", "60", "4", "--methods", "mean,miracle", "--presets", "quick,nosuch", "--out", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert [(m["method"], m["preset"]) for m in data["measurements"]] == [("mean", "quick"), ("miracle", "quick")]
    m = data["measurements"][1]
    assert m["mae"] < m["mean_mae"] and m["seconds"] > 0 and m["cpu_seconds"] >= 0 and (m["n"], m["d"]) == (60, 4)
    assert "(no such preset)" in capsys.readouterr().out
    assert main(argv) == 0  # a re-run measures nothing it holds
    assert capsys.readouterr().out.count("(held)") == 2
    assert json.loads(out.read_text()) == data
    written = bench.build(tmp_path / "bench", tmp_path)
    text = (tmp_path / "tables" / "bench_toy.md").read_text()
    assert written == [tmp_path / "tables" / "bench_toy.md"]
    assert "synthetic60x4 (60 x 4), mcar 30%, seed 0" in text
    assert f"| miracle | quick | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | {m['mae']:.4f} |" in text


def _run(dataset, mechanism, seed, loop, mae, steps):
    return dict(dataset=dataset, n=195, mechanism=mechanism, seed=seed, preset="paper", loop=loop, batch_size=512,
                n_epochs=399, steps=steps, mae=mae, mean_mae=0.9, seconds=1.0)


def test_miracle_legacy_table_sets_the_printed_value_beside_the_seed_spread():
    runs = [_run("pk", "mar", s, "legacy", 4.0 + 0.2 * s, 0) for s in range(5)]
    runs += [_run("pk", "mar", s, "fixed", 0.6, 399) for s in range(5)]
    runs += [_run("is", "mar", s, "legacy", 9.0 + 0.01 * s, 0) for s in range(5)]
    runs[-1]["out_of_range"] = "MIRACLEImputer imputations out of range: ..."

    paper = {"tables": [{"id": "Table 1", "rows": [
        {"method": "MIRACLE", "dataset": d, "mechanism": "MAR", "metric": "MAE", "stat": "mean", "value": v}
        for d, v in (("PK", 4.14), ("IS", 3.39))]}]}
    text = bench.miracle_legacy_table({"runs": runs}, paper)
    assert "| pk | 195 | mar | paper (512, 399) | 5 | 0.90 +- 0.00 | 4.40 +- 0.28 (0) | 0.60 +- 0.00 (399) | 4.14 |" in text
    assert "| is | 195 | mar | paper (512, 399) | 5 | 0.90 +- 0.00 | 9.02 +- 0.01 (0; 1 beyond the guard) | -- (--) | 3.39 |" in text
    assert "within the legacy loop's mean +- 2 std over seeds in 1 of 2" in text
    assert "| n/a |" in bench.miracle_legacy_table({"runs": runs}, None)


def test_a_bench_file_of_unknown_shape_is_an_error(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "odd.json").write_text("{}")
    with pytest.raises(ValueError, match="odd.json"):
        bench.build(tmp_path / "bench", tmp_path)


def test_bench_runtime_plan_puts_knewimp_first_and_keeps_cpu_only_methods_off_the_gpu():
    mod = runpy.run_path(str(SCRIPTS / "bench_runtime.py"))
    args = type("Args", (), dict(n_axis=[250, 1000], d_axis=[2], baselines=["mean/published", "gain/paper"],
                                 slow=["mice/single"], slow_n=[250], devices=["cpu", "cuda"]))
    jobs = mod["plan"](args)
    cpu, gpu = [j for j in jobs if j[3] == "cpu"], [j for j in jobs if j[3] == "cuda"]
    points = [(1000, 2), (250, 10), (1000, 10)]  # cheapest (N x D) first
    assert cpu[:6] == [("knewimp/paper", n, d, "cpu", t) for n, d in points for t in ("float64", "float32")]
    assert {j[0] for j in cpu[6:]} == {"mean/published", "gain/paper", "mice/single"}
    assert {j[0] for j in gpu} == {"knewimp/paper", "gain/paper"} and len(gpu) == 6 + 3


def test_bench_runtime_refuses_a_file_from_another_machine(tmp_path, capsys):
    out = tmp_path / "runtime.json"
    out.write_text(json.dumps(dict(host={"machine": "elsewhere"}, measurements=[{"method": "mean"}])))
    main = runpy.run_path(str(SCRIPTS / "bench_runtime.py"))["main"]
    assert main(["--out", str(out), "--devices", "cpu"]) == 2
    assert "holds measurements from another machine" in capsys.readouterr().err
    assert json.loads(out.read_text())["host"] == {"machine": "elsewhere"}


def _fidelity(states):
    cases = [dict(mechanism=m, seed=s, ref_mae=0.5, mae=0.5 + 0.005 * s, ref_wass=0.2, wass=0.2,
                  seconds=10.0, states=[[0.5 + 0.005 * s + 0.03 * k, 0.2 + 0.01 * k] for k in range(states)])
             for m in ("mcar", "mar", "mnar") for s in range(3)]
    return dict(dataset="bt", dtype="float64", integrator="adam", threads=1, tolerance=0.02,
                state_offsets=[100 * k for k in range(states)], cases=cases)


def test_fidelity_table_gives_the_means_the_verdict_and_the_seed_spread(tmp_path):
    text = bench.fidelity_table(_fidelity(1))
    assert "| **mean** | **0.5000** | **0.5050** (+1.00%) | **0.2000** | **0.2000** (+0.00%) | 10.0 |" in text
    assert "within the requirement (at most +2% each)" in text and "seed sets" not in text
    worse = _fidelity(1)
    worse["cases"][0]["wass"] = 0.3                        # nine-case mean WASS +5.6%: beyond
    assert "beyond the requirement" in bench.fidelity_table(worse)
    spread = bench.fidelity_table(_fidelity(3))
    assert "| mar seed 2 | 0.5000 | 0.5100 | 0.5100-0.5700 |" in spread
    # per seed set the nine-case mean MAE is 0.505, 0.535, 0.565: mean 0.535, sample std 0.03; the authors'
    # 0.5 lies 0.035 / 0.03 = 1.2 std from it
    assert "MAE 0.5350 +- 0.0300" in spread and "lie 1.2 and" in spread
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "fidelity_bt.json").write_text(json.dumps(_fidelity(1)))
    assert bench.build(tmp_path / "bench", tmp_path) == [tmp_path / "tables" / "fidelity_bt.md"]


def test_bench_knewimp_keeps_each_run_and_the_tables_render_them(tmp_path):
    script = runpy.run_path(str(SCRIPTS / "bench_knewimp.py"))
    main = script["main"]
    out = tmp_path / "bench" / "knewimp_speed.json"
    tiny = ["--synthetic", "60", "3", "--steps", "3", "--epochs", "2", "--outer", "1", "--out", str(out)]
    assert main(tiny + ["--ablate"]) == 0
    assert main(tiny + ["--floor"]) == 0
    assert main(tiny + ["--floor"]) == 0                       # a re-run replaces its entry
    data = json.loads(out.read_text())
    ablate, single = data["entries"]
    assert [e["mode"] for e in data["entries"]] == ["ablate", "single"] and len(ablate["rows"]) == len(script["STEPS"])
    assert single["naive_measured"] and single["step_ratio"] > 0 and single["floor"]["total"] > 0
    written = bench.build(tmp_path / "bench", tmp_path)
    text = written[0].read_text()
    assert written == [tmp_path / "tables" / "bench_knewimp_speed.md"]
    assert f"| {ablate['rows'][0]['label']} | {ablate['rows'][0]['total']:.2f} (1.0x) |" in text
    assert "| + kernel terms as K_B @ [S + lambda X / h^2 \\| 1] in row blocks" in text   # the pipe escaped
    assert f"| synthetic 60x3 | float64 | {single['threads']} | 1 x (2 + 3) |" in text and "(measured)" in text


def test_bench_knewimp_table_sets_the_authors_time_beside_ours_and_the_floor():
    fast = dict(total=10.0, cpu=10.0, fit=4.0, steps=6.0, per_step=0.006, per_epoch=0.01, mae=0.5, rss_before=400.0,
                peak=450.0)
    single = dict(mode="single", data="bt 748x4", n=748, d=4, dtype="float64", threads=1, outer=2, epochs=200,
                  steps=500, loadavg=0.1, fast=fast, floor=dict(total=4.0), authors=dict(total=15.0, cpu=15.0, mae=0.51))
    ablate = dict(single, mode="ablate", rows=[dict(fast, label="naive", total=30.0), dict(fast, label="fast")])
    text = bench.knewimp_speed_table({"entries": [ablate, single]})
    assert "| 4.00 (2.50x) | 15.00 (1.50x; 3.75x) | 0.1 |" in text          # floor, authors (ours; bound)
    assert "15.00 s wall (15.00 s CPU), MAE 0.510000; the last row is 1.50x faster" in text
    assert "bench_knewimp.py: error: --time-authors with --dtype float32" in _bench_error(["--dataset", "bt", "--dtype",
                                                                                             "float32", "--time-authors"])


def _bench_error(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPTS / "bench_knewimp.py"), *args], capture_output=True, text=True)
    assert proc.returncode == 2
    return proc.stderr


def test_bench_diffusion_keeps_each_run_and_the_table_renders_it(tmp_path):
    main = runpy.run_path(str(SCRIPTS / "bench_diffusion.py"))["main"]
    out = tmp_path / "bench" / "diffusion.json"
    tiny = ["--dataset", "bt", "--methods", "missdiff", "--mechanism", "mcar", "--out", str(out),
            "--set", "epochs=2,n_steps=4,n_samples=2"]
    main(tiny + ["--presets", "quick", "--extrapolate", "none"])
    main(tiny + ["--presets", "quick", "--extrapolate", "quick", "--fraction", "0.5"])
    main(tiny + ["--presets", "quick", "--extrapolate", "none"])              # a re-run replaces its entry
    full, part = json.loads(out.read_text())["entries"][::-1]
    assert not full["extrapolated"] and full["mae"] > 0 and part["extrapolated"] and part["mae"] is None
    text = bench.build(tmp_path / "bench", tmp_path)[0].read_text()
    assert f"| {full['mae']:.3f} | {full['mean_fill_mae']:.3f} | full; epochs=2" in text
    assert "epochs=2, n_steps=4" in text
    assert f"| -- | {part['mean_fill_mae']:.3f} | extrapolated from {part['timed_epochs']} epochs" in text


def test_bench_speedup_runs_the_committed_code_beside_the_working_tree_and_renders_the_ratio(tmp_path, capsys):
    main = runpy.run_path(str(SCRIPTS / "bench_speedup.py"))["main"]
    out = tmp_path / "bench" / "speed.json"
    assert main(["--old", "HEAD", "--dataset", "pk", "--methods", "gain/quick", "--repeats", "1", "--out", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    # the old side is HEAD's own baselines/, loaded as a package apart: the same code, the same outputs
    assert run["identical"] and run["max_abs_diff"] == 0.0 and run["mae_old"] == run["mae_new"]
    assert len(run["old_cpu"]) == len(run["new_cpu"]) == 1 and run["ratio"] > 0
    bench.build(tmp_path / "bench", tmp_path)
    text = (tmp_path / "tables" / "bench_speed.md").read_text()
    assert "| gain | quick |" in text and "bit-identical" in text and "old = `HEAD`" in text


def test_the_stacked_remasker_is_its_models_side_by_side_and_the_table_renders_the_ratio(tmp_path, capsys):
    """The benchmark's stacked network computes what each of its K single networks computes."""
    import torch

    script = runpy.run_path(str(SCRIPTS / "bench_remasker_batched.py"))
    from knewimp.baselines import remasker

    p, K, g = 6, 3, torch.Generator().manual_seed(0)
    models = [remasker._build(p, 32, 6, 4, 4, 4.0, torch.Generator().manual_seed(i)) for i in range(K)]
    x = torch.rand(K, 64, p, generator=g)
    observed = torch.rand(K, 64, p, generator=g) > 0.3
    visible = torch.stack([remasker.ReMaskerImputer()._remask(o, g) for o in observed])
    stacked = script["stacked_step_fn"](torch, models).forward(x, visible)
    for k, model in enumerate(models):
        assert torch.allclose(stacked[k], model(x[k], visible[k]), rtol=0, atol=1e-5)

    out = tmp_path / "bench" / "batched.json"
    assert script["main"](["--datasets", "pk", "--models", "1,2", "--repeats", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["blocks"][0]["rows"]
    assert [r["K"] for r in rows] == [1, 2] and all(r["single_ms"] > 0 and r["stacked_ms"] > 0 for r in rows)
    text = bench.build(tmp_path / "bench", tmp_path)[0].read_text()
    assert f"| pk | 195 x 23 | 2 | {rows[1]['single_ms']:.1f} |" in text
