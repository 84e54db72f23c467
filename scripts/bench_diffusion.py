"""Time and score CSDI-T / MissDiff presets on real datasets, one cell per (dataset, method, preset).

    python scripts/bench_diffusion.py --dataset cc --methods csdi_t,missdiff --presets published,paper,cpu

Data: knewimp.protocol.datasets.load_dataset -> StandardScaler on the complete matrix -> knewimp.protocol.amputation.ampute
(30% by default) with the seed. Presets are read from configs/ exactly as the harness composes them
(method config, then the preset's overrides). Presets named in --extrapolate (default: published)
are timed on a fraction of their epochs and reverse steps (same network, rows, batch size and
samples: the cost per epoch and per reverse step does not depend on how many there are), scaled
up and marked EXTRAPOLATED, with no MAE. Wall-clock seconds, and in brackets the process CPU
seconds, since the machine may be shared (with 1 thread, CPU seconds ~ wall seconds on a core of
its own).

``--out results/bench/diffusion.json`` keeps each run (one entry per dataset, mechanism, rate, seed,
method, preset, threads, extra overrides and extrapolation; a re-run replaces its entry), written
atomically with the machine and its load average; ``make tables`` renders the file as
``results/tables/bench_diffusion.md`` (:mod:`knewimp.report.experiments.bench`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knewimp.base import ImputationError  # noqa: E402
from knewimp.harness.methods import preset_params as _preset_params  # noqa: E402
from knewimp.harness.provenance import host_description  # noqa: E402
from knewimp.harness.records import write_json_atomic  # noqa: E402
from knewimp.protocol.cell_input import make_cell_input  # noqa: E402


def preset_params(method: str, preset: str) -> tuple[type, dict]:
    return _preset_params(f"{method}/{preset}")




def data(name: str, mechanism: str, rate: float, seed: int):
    X, mask = make_cell_input(name, mechanism, rate, seed)
    return X, np.where(mask, np.nan, X), mask


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="cc", help="comma-separated dataset keys")
    ap.add_argument("--methods", default="csdi_t,missdiff")
    ap.add_argument("--presets", default="published,paper,cpu")
    ap.add_argument("--extrapolate", default="published", help="presets timed on --fraction only")
    ap.add_argument("--fraction", type=float, default=0.04, help="share of epochs / reverse steps timed")
    ap.add_argument("--mechanism", default="mcar")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="override num_threads")
    ap.add_argument("--progress", action="store_true", help="log epochs and reverse steps to stderr")
    ap.add_argument("--set", default="", help="extra overrides, e.g. epochs=50,lr_milestones=[0.75,0.9]")
    ap.add_argument("--out", default=None, help="keep each run in this JSON (see the module docstring)")
    args = ap.parse_args(argv)
    if args.progress:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    pairs = re.split(r",(?![^\[]*\])", args.set)  # commas inside [..] belong to a list value
    extra = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in pairs if kv)}
    print("| dataset | n x d | method | preset | train s (CPU s) | sample s (CPU s) | MAE | mean-fill MAE | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.dataset.split(","):
        X, Xm, mask = data(name, args.mechanism, args.rate, args.seed)
        mean_mae = float(np.abs(X - np.where(mask, np.nanmean(Xm, 0), Xm))[mask].mean())
        for method in args.methods.split(","):
            for preset in args.presets.split(","):
                cls, params = preset_params(method, preset)
                params.update(extra)
                if args.threads is not None:
                    params["num_threads"] = args.threads
                partial = preset in args.extrapolate.split(",")
                scale_e = scale_t = 1.0
                if partial:
                    e, t = params["epochs"], params["n_steps"]
                    params["epochs"] = max(1, math.ceil(args.fraction * e))
                    params["n_steps"] = max(2, math.ceil(args.fraction * t))
                    scale_e, scale_t = e / params["epochs"], t / params["n_steps"]
                imp = cls(**params, random_state=args.seed)
                try:
                    out = imp.fit_transform(Xm)
                except ImputationError as exc:  # a diverged run is a result: report it, go on
                    out = None
                    failure = str(exc).replace("|", "/")
                tr, sa = imp.train_seconds_ * scale_e, imp.sample_seconds_ * scale_t
                tr_cpu, sa_cpu = imp.train_cpu_seconds_ * scale_e, imp.sample_cpu_seconds_ * scale_t
                if partial:
                    note = (f"EXTRAPOLATED from {params['epochs']} epochs x{scale_e:.1f}, "
                            f"{params['n_steps']} steps x{scale_t:.1f}")
                    err = "-"
                elif out is None:
                    note, err = f"FAILED: {failure}", "failed"
                else:
                    mae = float(np.abs(X - out)[mask].mean())
                    note, err = "full run", f"{mae:.3f}"
                print(f"| {name} | {X.shape[0]}x{X.shape[1]} | {method} | {preset} | {tr:.0f} ({tr_cpu:.0f}) | "
                      f"{sa:.0f} ({sa_cpu:.0f}) | {err} | {mean_mae:.3f} | {note} |", flush=True)
                if args.out:
                    keep(Path(args.out), dict(
                        dataset=name, n=int(X.shape[0]), d=int(X.shape[1]), mechanism=args.mechanism, rate=args.rate,
                        seed=args.seed, method=method, preset=preset, threads=params.get("num_threads"),
                        overrides=extra, extrapolated=partial, timed_epochs=params["epochs"],
                        timed_steps=params["n_steps"], train_s=tr, train_cpu_s=tr_cpu, sample_s=sa,
                        sample_cpu_s=sa_cpu, mae=None if partial or out is None else mae,
                        failure=None if partial or out is not None else failure, mean_fill_mae=mean_mae,
                        loadavg=os.getloadavg()[0], host=host_description(),
                        at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))


KEY = ("dataset", "mechanism", "rate", "seed", "method", "preset", "threads", "overrides", "extrapolated")


def keep(path: Path, entry: dict) -> None:
    """Add (or replace) one run's entry in ``path``, atomically."""
    data = json.loads(path.read_text()) if path.is_file() else {"kind": "bench_diffusion", "entries": []}
    same = lambda e: all(e.get(k) == entry[k] for k in KEY)  # noqa: E731
    data["entries"] = [e for e in data["entries"] if not same(e)] + [entry]
    write_json_atomic(path, data)


if __name__ == "__main__":
    main()
