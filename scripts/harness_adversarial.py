"""The harness tried as an adversarial user would: prints the figures of issue 18.

    python scripts/harness_adversarial.py                       # every section (several minutes)
    python scripts/harness_adversarial.py --only bad damaged    # the fast sections (also a test)

Sections:
  bad         bad inputs, through the harness's pre-pass (library) and, with --cli, the command line:
              each must be refused with one line naming the key, exit code 2, no traceback, no record
  library     bad constructor arguments of the imputers: one-line ValueError naming the parameter
  damaged     damaged record kinds: each reported by name and reason, not a result, then moved aside
              and its cell recomputed by the next run
  blowup      settings that blow a method up: each recorded failed with its reason
  concurrent  4 launchers of one 24-cell sweep on one results folder: cells computed, records, duplicates
  sigkill     5 sweeps SIGKILLed mid-way and resumed: lost / duplicated / corrupt records, stale tmp files
  reproduce   wall time of `knewimp-run -m experiment=reproduce` on a complete grid (--results, default
              results), which must decide there is nothing to run without launching
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (command-line overrides, text the one-line error must contain: the key and value)
BAD_INPUTS = [
    (["seed=-1"], "seed=-1"), (["seed=abc"], "seed='abc'"), (["seed=1.5"], "seed=1.5"),
    (["threads=0"], "threads=0"), (["threads=abc"], "threads='abc'"),
    (["missing_rate=1.5"], "missing_rate=1.5"), (["missing_rate=0"], "missing_rate=0"),
    (["missing_rate=abc"], "missing_rate='abc'"),
    (["wass_max_rows=1"], "wass_max_rows=1"), (["device=tpu"], "device='tpu'"),
    (["stop_at=tomorrow"], "stop_at"),
    (["+mechanism.options.pobs=0.3"], "mechanism.options.pobs"),
    (["mechanism=mar", "mechanism.options.pobs=0.3"], "mechanism.options.pobs"),
    (["mechanism=mar", "mechanism.options.p_obs=2"], "mechanism.options.p_obs=2"),
    (["mechanism=mar", "mechanism.options.p_obs=abc"], "mechanism.options.p_obs='abc'"),
    (["mechanism=mnar", "mechanism.options.p_params=0"], "mechanism.options.p_params=0"),
    (["mechanism=mnar_quantile", "mechanism.options.q=0.9"], "mechanism.options.q=0.9"),
    (["mechanism=mnar_quantile", "mechanism.options.cut=middle"], "mechanism.options.cut='middle'"),
    (["method=knewimp/quick", "method.n_steps=abc"], "method.n_steps='abc'"),
    (["method=knewimp/quick", "method.n_steps=2.5"], "method.n_steps=2.5"),
    (["method=knewimp/quick", "method.bandwidth=-1"], "bandwidth"),
    (["method=knewimp/quick", "method.hidden=3"], "method.hidden=3"),
    (["method=knewimp/quick", "method.integrator=rk4"], "integrator"),
    (["method=sinkhorn/quick", "method.lr=-1"], "lr"),
    (["method=tdm/quick", "method.depth=0"], "depth"),
    (["method=mice/quick", "method.max_iter=0"], "max_iter"),
    (["method=gain/quick", "method.hint_rate=2"], "hint_rate"),
    (["+method.bogus=1"], "method.bogus=1"),
    (["dataset=iris"], "dataset 'iris'"), (["method=nope/x"], "method 'nope/x'"), (["method=tdm"], "method 'tdm'"),
    (["mechanism=nmar"], "mechanism 'nmar'"), (["logger=slack"], "logger 'slack'"),
    (["-m", "experiment=quik"], "experiment 'quik'"),
    (["-m", "seed=0,-1"], "seed=-1"),
    (["-m", "missing_rate=0.3,2"], "missing_rate=2"),
    (["-m", "method=knewimp/quick", "method.bandwidth=0.5,-1"], "bandwidth"),
    (["data_dir=/nonexistent/uci"], "data_dir='/nonexistent/uci'"),
    (["results_dir=@FILE@"], "results_dir="),
]

LIBRARY_BAD = [
    ("knewimp.imputer", "KnewImputer", dict(bandwidth=-1.0), "bandwidth"),
    ("knewimp.imputer", "KnewImputer", dict(integrator="rk4"), "integrator"),
    ("knewimp.baselines.sinkhorn", "SinkhornImputer", dict(n_iter=0), "n_iter"),
    ("knewimp.baselines.tdm", "TDMImputer", dict(depth=0), "depth"),
    ("knewimp.baselines.gain", "GAINImputer", dict(hint_rate=2.0), "hint_rate"),
    ("knewimp.baselines.mice", "MICEImputer", dict(max_iter=0), "max_iter"),
]

BLOWUPS = [
    ["dataset=pk", "method=knewimp/quick", "method.step_size=1000"],
    ["dataset=pk", "method=knewimp/quick", "method.step_size=100"],
    ["dataset=pk", "method=sinkhorn/quick", "method.lr=1000"],
    ["dataset=pk", "method=tdm/quick", "method.lr=1000"],
    # bounded by its sigmoid, so caught by GAIN's own check (generator worse than column means)
    ["dataset=pk", "method=gain/quick", "method.lr=1000"],
]

SWEEP_24 = ["-m", "dataset=bt,pk", "mechanism=mcar,mar,mnar", "method=mean/published", "seed=0,1,2,3"]
SWEEP_12 = ["-m", "dataset=bt,pk", "mechanism=mcar,mar,mnar", "method=mean/published", "seed=0,1"]


def _env() -> dict:
    return dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="0", PYTHONPATH=str(ROOT))


def _cli(args: list[str], cwd: str | Path = ROOT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "knewimp.harness.run", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, **kw)


def _files(tmp: Path) -> int:
    runs = tmp / "runs"
    return len([p for p in runs.glob("*.json")]) if runs.is_dir() else 0


def section_bad(cli: bool) -> tuple[int, int]:
    from knewimp.harness.run import prepare
    from knewimp.harness.validate import UserError

    good = 0
    print(f"## Bad inputs ({'command line' if cli else 'library: knewimp.harness.run.prepare'})\n")
    print("| overrides | exit | one line | key named | no traceback | no record | message |\n|---|---|---|---|---|---|---|")
    for args, key in BAD_INPUTS:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "afile").write_text("x")
            args = [a.replace("@FILE@", str(tmp / "afile")) for a in args]
            out_dir = [] if any(a.startswith("results_dir=") for a in args) else [f"results_dir={tmp}"]
            if cli:
                proc = _cli([*args, *out_dir, f"hydra.run.dir={tmp}/h", f"hydra.sweep.dir={tmp}/s"], timeout=300)
                code, text = proc.returncode, (proc.stderr + proc.stdout).strip()
            else:
                try:
                    prepare([*args, *out_dir])
                    code, text = 0, ""
                except UserError as exc:
                    code, text = 2, f"error: {exc}"
            checks = (code == 2, len(text.splitlines()) == 1, key in text, "Traceback" not in text, _files(tmp) == 0)
            good += all(checks)
            marks = " | ".join("yes" if c else "**no**" for c in checks[1:])
            print(f"| `{' '.join(args)}` | {code} | {marks} | {text[:110].replace('|', '/')} |")
    print(f"\n{good} of {len(BAD_INPUTS)} bad inputs refused as required\n")
    return good, len(BAD_INPUTS)


def section_library() -> tuple[int, int]:
    import importlib

    good = 0
    print("## Bad constructor arguments (library)\n")
    for module, cls, kwargs, key in LIBRARY_BAD:
        try:
            imp = getattr(importlib.import_module(module), cls)(**kwargs, random_state=0, device="cpu")
            validate = getattr(imp, "_validate_params", None)
            if callable(validate):
                validate()
            msg = "accepted"
        except ValueError as exc:
            msg = str(exc)
        ok = key in msg and "\n" not in msg
        good += ok
        print(f"- `{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})`: {'ok' if ok else '**not refused**'}: {msg}")
    print(f"\n{good} of {len(LIBRARY_BAD)} refused with one line naming the parameter\n")
    return good, len(LIBRARY_BAD)


DAMAGE_KINDS = ["not UTF-8", "a JSON list", "{}", "no status", "a directory", "truncated JSON", "mae a string",
                "mae NaN", "status unknown", "cell_id of another file"]


def _write_damage(path: Path, kind: str, cid: str) -> None:
    rec = dict(cell_id=cid, dataset="bt", mechanism="mcar", missing_rate=0.3, seed=0, method="mean",
               preset="published", params={}, status="ok", mae=0.5, rmse=0.7, wass=0.1)
    if kind == "not UTF-8":
        path.write_bytes(b"\xff\xfe\x00{")
    elif kind == "a JSON list":
        path.write_text("[1, 2, 3]")
    elif kind == "{}":
        path.write_text("{}")
    elif kind == "no status":
        path.write_text(json.dumps({k: v for k, v in rec.items() if k != "status"}))
    elif kind == "a directory":
        path.mkdir()
    elif kind == "truncated JSON":
        path.write_text(json.dumps(rec)[:40])
    elif kind == "mae a string":
        path.write_text(json.dumps({**rec, "mae": "0.5"}))
    elif kind == "mae NaN":
        path.write_text(json.dumps({**rec, "mae": float("nan")}))
    elif kind == "status unknown":
        path.write_text(json.dumps({**rec, "status": "running"}))
    elif kind == "cell_id of another file":
        path.write_text(json.dumps({**rec, "cell_id": "bt__mcar__r0.3__s99__mean__published__0000000000"}))


def section_damaged() -> tuple[int, int]:
    from knewimp.harness import records
    from knewimp.harness.cell import run_cell
    from knewimp.harness.identity import cell_id, cell_identity
    from knewimp.harness.status import grid_status
    from knewimp.harness.sweep import _compose
    from knewimp.report.tables import write_tables

    print("## Damaged records\n")
    good = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfgs = [_compose(["dataset=bt", "mechanism=mcar", "method=mean/published", f"seed={s}", f"results_dir={tmp}"])
                for s in range(len(DAMAGE_KINDS))]
        paths = []
        for kind, cfg in zip(DAMAGE_KINDS, cfgs):
            cid = cell_id(**cell_identity(cfg))
            path = records.record_path(tmp, cid)
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_damage(path, kind, cid)
            paths.append(path)
        good_recs, damaged = records.scan(tmp)
        reasons = {d.path.name: d.reason for d in damaged}
        report, _ = grid_status("quick", tmp)
        write_tables(tmp, figures=False, log=lambda *_: None)
        failed_md = (tmp / "tables" / "failed.md").read_text()
        print("| kind | reported as | in grid status | in failed.md | recomputed ok | moved aside |\n|---|---|---|---|---|---|")
        for kind, cfg, path in zip(DAMAGE_KINDS, cfgs, paths):
            reason = reasons.get(path.name)
            rec = run_cell(cfg)
            checks = (reason is not None, path.name in report, path.name in failed_md, rec.get("status") == "ok"
                      and records.read_record(path) is not None,
                      any(p.name.startswith(path.name) for p in (path.parent / ".damaged").iterdir()))
            good += all(checks)
            print(f"| {kind} | {reason} | " + " | ".join("yes" if c else "**no**" for c in checks[1:]) + " |")
        print(f"\n{len(DAMAGE_KINDS)} damaged-record kinds tried; usable records before the rerun: {len(good_recs)}; "
              f"{good} reported by name, listed, recomputed and moved aside (none deleted)\n")
    return good, len(DAMAGE_KINDS)


def section_blowup() -> tuple[int, int]:
    from knewimp.harness.cell import run_cell
    from knewimp.harness.sweep import _compose

    print("## Blow-ups\n")
    good = 0
    with tempfile.TemporaryDirectory() as tmp:
        for args in BLOWUPS:
            rec = run_cell(_compose([*args, f"results_dir={tmp}", "threads=1"]))
            ok = rec["status"] == "failed" and bool(rec.get("error"))
            good += ok
            what = rec.get("error") if rec["status"] == "failed" else f"MAE {rec.get('mae'):.4g}"
            print(f"- `{' '.join(args)}`: status {rec['status']}: {what}")
    print(f"\n{good} of {len(BLOWUPS)} blow-up settings recorded failed with their reason\n")
    return good, len(BLOWUPS)


def section_concurrent(n: int = 4) -> tuple[int, int]:
    print(f"## {n} concurrent launchers of one 24-cell sweep\n")
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen([sys.executable, "-m", "knewimp.harness.run", *SWEEP_24, f"results_dir={tmp}"],
                                  cwd=tmp, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(n)]
        outs = [p.communicate(timeout=1800)[0] for p in procs]
        computed = [m for out in outs for m in re.findall(r"cell (\S+): MAE", out)]
        from knewimp.harness import records
        good, damaged = records.scan(tmp)
        sweep_dirs = list(Path(tmp, "multirun").glob("*/*"))
    dup = len(computed) - len(set(computed))
    print(f"cells computed: {len(computed)} (want 24); records: {len(good)} ok, {len(damaged)} damaged; "
          f"duplicates: {dup}; sweep folders: {len(sweep_dirs)} for {n} launchers; exit codes "
          f"{[p.returncode for p in procs]}\n")
    return int(len(computed) == 24 and dup == 0 and len(good) == 24 and len(sweep_dirs) == n), 1


def section_sigkill(trials: int = 5) -> tuple[int, int]:
    from knewimp.harness import records

    print(f"## {trials} SIGKILL trials (12-cell sweep killed mid-way, then resumed)\n")
    totals = dict(lost=0, duplicated=0, corrupt=0, stale_tmp=0)
    for t in range(trials):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.Popen([sys.executable, "-m", "knewimp.harness.run", *SWEEP_12, f"results_dir={tmp}"],
                                    cwd=tmp, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            runs = Path(tmp, "runs")
            target = 1 + 2 * t
            deadline = time.time() + 300
            while time.time() < deadline and _files(Path(tmp)) < target:
                time.sleep(0.01)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed_at = _files(Path(tmp))
            _cli([*SWEEP_12, f"results_dir={tmp}"], cwd=tmp, timeout=900)
            good, damaged = records.scan(tmp)
            ids = [r["cell_id"] for r in good]
            lost = 12 - len(set(ids))
            tmp_left = list(runs.glob(".*.tmp"))
            totals["lost"] += lost
            totals["duplicated"] += len(ids) - len(set(ids))
            totals["corrupt"] += len(damaged)
            totals["stale_tmp"] += len(tmp_left)
            print(f"- trial {t + 1}: killed with {killed_at} records written; after resume {len(good)} ok, "
                  f"{lost} lost, {len(damaged)} corrupt, {len(tmp_left)} tmp files left")
    print(f"\ntotals over {trials} trials: " + ", ".join(f"{k} {v}" for k, v in totals.items()) + " (want 0)\n")
    return int(not any(totals.values())), 1


def section_reproduce(results: str) -> tuple[int, int]:
    print(f"## make reproduce on a complete grid ({results})\n")
    t0 = time.perf_counter()
    proc = _cli(["-m", "experiment=reproduce", f"results_dir={results}"], timeout=1800)
    secs = time.perf_counter() - t0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    print(f"`knewimp-run -m experiment=reproduce results_dir={results}`: exit {proc.returncode}, {secs:.1f} s, "
          f"{len(lines)} lines of output:")
    for ln in lines[-3:]:
        print(f"    {ln}")
    print()
    return int(proc.returncode == 0 and secs < 60 and "nothing to run" in proc.stdout), 1


SECTIONS = ("bad", "library", "damaged", "blowup", "concurrent", "sigkill", "reproduce")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--cli", action="store_true", help="bad inputs through the command line (a process each)")
    ap.add_argument("--results", default="results", help="a complete grid's results folder, for `reproduce`")
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("WANDB_MODE", "disabled")
    scores = {}
    for name in args.only:
        if name == "bad":
            scores[name] = section_bad(args.cli)
        elif name == "library":
            scores[name] = section_library()
        elif name == "damaged":
            scores[name] = section_damaged()
        elif name == "blowup":
            scores[name] = section_blowup()
        elif name == "concurrent":
            scores[name] = section_concurrent()
        elif name == "sigkill":
            scores[name] = section_sigkill(args.trials)
        elif name == "reproduce":
            scores[name] = section_reproduce(args.results)
    print("## Summary\n")
    for name, (good, total) in scores.items():
        print(f"- {name}: {good} of {total} as required")
    return 0 if all(g == t for g, t in scores.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
