"""The harness tried as an adversarial user would: prints the figures of issues 18 and 32.

    python scripts/harness_adversarial.py                       # every section (several minutes)
    python scripts/harness_adversarial.py --only bad damaged    # the fast sections (also a test)

Sections:
  bad         bad inputs, through the harness's pre-pass (library) and, with --cli, the command line:
              each must be refused with one line naming the key, exit code 2, no traceback, no record
  library     bad constructor arguments of the imputers: one-line ValueError naming the parameter
  damaged     damaged record kinds: each reported by name and reason, not a result, then moved aside
              and its cell recomputed by the next run
  records     records that lie (content of another cell, a nearby rate, impossible values, names that
              climb out of the folder) and odd files (deep nests, huge integers, a FIFO, /dev/zero, too
              big): each damaged and named, status and tables finish, nothing written outside
  estimators  the 11 imputers' parameters and input through the shared validation: one line naming
              the parameter or the column
  odd         data digests (a doctored cache), KNEWIMP_OFFLINE, hydra.job.chdir, a full disk, a killed
              report writer, two protocol variants in one table, the column-mean rule on every cell
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
    # issue 32: values that become part of a path, out-of-range seeds, launcher settings
    (["dataset.name=../../../x"], "dataset.name='../../../x'"), (["method.preset=../x"], "method.preset='../x'"),
    (["mechanism.name=a/b"], "mechanism.name='a/b'"), (["method.name=X"], "method.name='X'"),
    (["-m", "dataset=bt,pk", "dataset.name=../x"], "dataset.name='../x'"),
    (["-m", "experiment=../x"], "experiment='../x'"), (["method=../x/quick"], "method='../x/quick'"),
    ([f"seed={10**300}"], "seed=1000000000"), (["seed=4294967296"], "seed=4294967296"),
    (["-m", "seed=0,99999999999"], "seed=99999999999"),
    (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0"),
    (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=abc"], "hydra.launcher.n_jobs"),
    (["method=knewimp/quick", "method.hidden='64'"], "method.hidden='64'"),
    (["method=knewimp/quick", "method.entropy_weight=nan"], "method.entropy_weight=nan"),
    (["method=knewimp/quick", "method.step_size=inf"], "method.step_size=inf"),
    (["method=miwae/quick", "method.n_epochs=2.5"], "method.n_epochs=2.5"),
    (["method=miwae/quick", "method.lr=abc"], "method.lr='abc'"),
    (["method=gain/quick", "method.n_iter=2.5"], "method.n_iter=2.5"),
    ([f"missing_rate={10**400}"], "missing_rate=1000000000"),
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
    # issue 32: garbage that once was recorded ok (MAE 28x, 4.9x, 2.1x the column mean's)
    ["dataset=bt", "method=knewimp/quick", "method.step_size=10"],
    ["dataset=bt", "method=knewimp/quick", "method.step_size=3"],
    ["dataset=pk", "method=remasker/quick", "method.base_lr=10"],
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


def _lying_record(tmp: Path, kind: str) -> tuple[Path, str]:
    """A record file of kind ``kind`` under ``tmp/runs``: (its path, the text its damage reason must hold)."""
    from knewimp.harness import records
    from knewimp.harness.cell import run_cell
    from knewimp.harness.sweep import _compose

    runs = records.runs_dir(tmp)
    runs.mkdir(parents=True, exist_ok=True)
    if kind in ("nested brackets", "5000-digit integer", "a FIFO", "a link to /dev/zero", "5 MB of spaces"):
        path = runs / f"{kind.replace(' ', '_').replace('/', '_')}.json"
        if kind == "nested brackets":
            path.write_text("[" * 5000 + "]" * 5000)
            return path, "nested too deep"
        if kind == "5000-digit integer":
            path.write_text('{"seed": ' + "7" * 5000 + "}")
            return path, "an integer of 5000 digits"
        if kind == "a FIFO":
            os.mkfifo(path)
            return path, "a FIFO"
        if kind == "a link to /dev/zero":
            path.symlink_to("/dev/zero")
            return path, "not a regular file"
        path.write_bytes(b" " * (records.MAX_RECORD_BYTES + 1))
        return path, "larger than"
    seed = RECORD_KINDS.index(kind)
    rec = run_cell(_compose(["dataset=bt", "method=mean/published", f"seed={seed}", f"results_dir={tmp}"]))
    path = records.record_path(tmp, rec["cell_id"])
    changes, why = {
        "fields of pk seed 7 under bt's name": (dict(dataset="pk", seed=7), "give the cell id 'pk__mcar__r0.3__s7"),
        "missing_rate 0.3000001 under r0.3": (dict(missing_rate=0.3000001), "__r0.3000001__"),
        "mae -3.0": (dict(mae=-3.0), "not a finite non-negative number"),
        "mechanism ../../../../x": (dict(mechanism="../../../../x"), "must be a name"),
        "seed 2**40": (dict(seed=2**40), "not an integer in [0, 2**32)"),
        "protocol a list": (dict(protocol=[1]), "protocol is not an object"),
    }[kind]
    path.write_text(json.dumps({**rec, **changes}))
    return path, why


RECORD_KINDS = ["fields of pk seed 7 under bt's name", "missing_rate 0.3000001 under r0.3", "mae -3.0",
                "mechanism ../../../../x", "seed 2**40", "protocol a list", "nested brackets", "5000-digit integer",
                "a FIFO", "a link to /dev/zero", "5 MB of spaces"]


def section_records() -> tuple[int, int]:
    from knewimp.harness import records
    from knewimp.harness.cell import run_cell
    from knewimp.harness.status import grid_status
    from knewimp.harness.sweep import _compose
    from knewimp.report.tables import write_tables

    print("## Records that lie, and odd files\n")
    good = 0
    with tempfile.TemporaryDirectory() as top:
        tmp = Path(top) / "a" / "b" / "c" / "results"
        made = [(kind, *_lying_record(tmp, kind)) for kind in RECORD_KINDS]
        outside_before = sorted(p for p in Path(top).rglob("*") if "results" not in p.parts)
        t0 = time.perf_counter()
        usable, damaged = records.scan(tmp)
        reasons = {d.path.name: d.reason for d in damaged}
        report, _ = grid_status("quick", tmp)
        write_tables(tmp, figures=False, log=lambda *_: None)
        secs = time.perf_counter() - t0
        failed_md = (tmp / "tables" / "failed.md").read_text()
        outside_after = sorted(p for p in Path(top).rglob("*") if "results" not in p.parts)
        print("| file | damage reason | reason right | in status | in failed.md | recomputed / moved aside |\n"
              "|---|---|---|---|---|---|")
        for seed, (kind, path, why) in enumerate(made):
            reason = reasons.get(path.name, "")
            if path.name.startswith("bt__"):
                rec = run_cell(_compose(["dataset=bt", "method=mean/published", f"seed={seed}", f"results_dir={tmp}"]))
                redone = rec["status"] == "ok" and rec["seed"] == seed and records.read_record(path) is not None
            else:
                redone = records.quarantine(path).parent.name == ".damaged"
            checks = (why in reason, path.name in report, path.name in failed_md, redone)
            good += all(checks)
            print(f"| {kind} | {reason[:90].replace('|', '/')} | " + " | ".join("yes" if c else "**no**" for c in checks)
                  + " |")
        escaped = len(outside_after) - len(outside_before)
        print(f"\n{len(RECORD_KINDS)} kinds; usable records among them: {len(usable)}; scan + status + tables took "
              f"{secs:.1f} s; files written outside the results folder: {escaped}; "
              f"{good} named, listed and recomputed or moved aside\n")
    return good + (escaped == 0 and not usable), len(RECORD_KINDS) + 1


def _estimator_cases() -> list[tuple[str, dict, str]]:
    """(imputer, bad arguments, the parameter its one-line refusal must name): the table of
    tests/test_estimator_validation.py (read from the file, the one list of these cases) plus a
    negative seed for every imputer."""
    import importlib.util

    from knewimp.registry import IMPUTERS

    path = Path(__file__).resolve().parents[1] / "tests" / "test_estimator_validation.py"
    spec = importlib.util.spec_from_file_location("_estimator_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return ([(name, kwargs, message.split()[0]) for name, kwargs, message in module.BAD]
            + [(name, dict(random_state=-1), "random_state") for name in IMPUTERS])


def section_estimators() -> tuple[int, int]:
    import warnings

    import numpy as np

    from knewimp.registry import IMPUTERS as ESTIMATORS, imputer_class as cls

    print("## The 11 imputers through the shared validation\n")
    good = total = 0
    for name, kwargs, key in _estimator_cases():
        try:
            cls(name)(**kwargs)._validate_params()
            msg = "accepted"
        except ValueError as exc:
            msg = str(exc)
        ok = msg.startswith(key) and "\n" not in msg
        good, total = good + ok, total + 1
        print(f"- `{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})`: {'ok' if ok else '**not refused**'}: {msg}")
    X = np.random.default_rng(0).normal(size=(12, 3))
    X[0, 0] = X[3, 1] = np.nan
    huge = X.copy()
    huge[:, 2] *= 1e300
    for name in ESTIMATORS:
        for label, data, key in (("a column of 1e300", huge, "input column 2"), ("complex input", X + 1j, "Complex data")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    cls(name)(random_state=0).fit(data)
                    msg = "accepted"
                except Exception as exc:  # any other type is a finding
                    msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            ok = msg.startswith(key) and "\n" not in msg
            good, total = good + ok, total + 1
            if not ok:
                print(f"- `{name}` on {label}: **not refused as required**: {msg[:200]}")
    print(f"\n{good} of {total} refused with one line naming the parameter or the column "
          f"(input cases listed only when mishandled)\n")
    return good, total


def section_odd() -> tuple[int, int]:
    import numpy as np

    from knewimp.harness import records
    from knewimp.harness.atomic import write_csv_atomic
    from knewimp.harness.cell import run_cell
    from knewimp.harness.run import prepare
    from knewimp.harness.sweep import _compose
    from knewimp.protocol import datasets
    from knewimp.report.tables import select_records

    print("## Odd settings, data and writes\n")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = {k: os.environ.get(k) for k in ("KNEWIMP_CACHE_DIR", "KNEWIMP_OFFLINE")}
        os.environ["KNEWIMP_CACHE_DIR"] = str(tmp / "cache")
        try:
            X = datasets.load_dataset("pk")
            (tmp / "cache").mkdir()
            np.save(tmp / "cache" / "pk.npy", X + 1e-9)
            try:
                datasets.load_dataset("pk", data_dir=tmp / "nowhere", download=False)
                msg = "accepted"
            except datasets.DataError as exc:
                msg = str(exc)
            results.append(("a cached pk matrix of the right shape, other numbers", "matrix digest" in msg, msg))
            os.environ["KNEWIMP_OFFLINE"] = "1"
            try:
                datasets.load_dataset("bt", data_dir=tmp / "nowhere", download=True)
                msg = "loaded (network tried)"
            except datasets.DataError as exc:
                msg = str(exc)
            results.append(("KNEWIMP_OFFLINE=1 with download=true", "not found offline" in msg, msg[:120]))
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            argv, _ = prepare(["hydra.job.chdir=true", "results_dir=rel"])
        finally:
            os.chdir(cwd)
        results.append(("hydra.job.chdir=true with results_dir=rel", f"results_dir={tmp}/rel" in argv,
                        f"launched with {[a for a in argv if a.startswith('results_dir=')]}"))
        target = tmp / "t.csv"
        write_csv_atomic(target, ["a"], [{"a": 1}])

        def dying():
            yield {"a": 2}
            raise KeyboardInterrupt
        try:
            write_csv_atomic(target, ["a"], dying())
        except KeyboardInterrupt:
            pass
        whole = target.read_text().split() == ["a", "1"] and len(list(tmp.glob(".*.tmp*"))) == 0
        results.append(("a report CSV whose writer dies half-way", whole, "old file intact, no temporary left"))
        recs = []
        for p_obs, seeds in ((0.3, (0, 1)), (0.5, (2, 3))):
            for seed in seeds:
                recs.append(run_cell(_compose(["dataset=bt", "mechanism=mar", f"mechanism.options.p_obs={p_obs}",
                                               "method=mean/published", f"seed={seed}", f"results_dir={tmp}/v"])))
        sel = select_records(records.load_records(tmp / "v"))
        variants = {json.dumps(r.get("protocol"), sort_keys=True) for r in sel.kept}
        results.append(("bt mar mean under p_obs 0.3 (seeds 0, 1) and 0.5 (seeds 2, 3)",
                        len(variants) == 1 and sel.count("another variant") == 2,
                        f"{len(sel.kept)} records tabulated, one variant; 2 excluded: "
                        f"{next(iter(v for v in sel.excluded.values()))[:100]}"))
        rec = recs[0]
        results.append(("every new record carries the column-mean MAE, its ratio and a data digest",
                        all(k in rec for k in ("mae_colmean", "mae_ratio", "data_digest", "mask_digest")),
                        f"mae_colmean {rec['mae_colmean']:.4g}, mae_ratio {rec['mae_ratio']:.3g}, "
                        f"data_digest {rec['data_digest']}"))
    good = 0
    for what, ok, detail in results:
        good += bool(ok)
        print(f"- {what}: {'ok' if ok else '**not handled**'}: {detail}")
    print(f"\n{good} of {len(results)} handled\n")
    return good, len(results)


def section_blowup() -> tuple[int, int]:
    from knewimp.harness.cell import DIVERGENCE_RATIO, run_cell
    from knewimp.harness.sweep import _compose

    print("## Blow-ups\n")
    good = 0
    with tempfile.TemporaryDirectory() as tmp:
        for args in BLOWUPS:
            rec = run_cell(_compose([*args, f"results_dir={tmp}", "threads=1"]))
            ok = rec["status"] == "failed" and bool(rec.get("error"))
            good += ok
            what = rec.get("error") if rec["status"] == "failed" else \
                f"MAE {rec.get('mae'):.4g}, {rec.get('mae_ratio'):.3g}x the column mean's (rule: failed beyond {DIVERGENCE_RATIO:g}x)"
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


SECTIONS = ("bad", "library", "damaged", "records", "estimators", "odd", "blowup", "concurrent", "sigkill",
            "reproduce")


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
        elif name == "records":
            scores[name] = section_records()
        elif name == "estimators":
            scores[name] = section_estimators()
        elif name == "odd":
            scores[name] = section_odd()
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
