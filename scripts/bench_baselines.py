"""Seconds per cell and MAE (vs column-mean imputation) of the baselines, per preset.

Each (method, preset) is built exactly as the harness builds it (``configs/method``), run
once on one cell (dataset x mechanism at 30% x seed), and timed around ``fit_transform`` (wall
seconds, and the process's CPU seconds, which contention on a shared machine inflates far less).
A preset a method does not have is reported as such.

    .venv/bin/python scripts/bench_baselines.py --dataset cc --methods mice,tdm,gain,sinkhorn --presets published,paper
    .venv/bin/python scripts/bench_baselines.py --synthetic 1000 10 --methods tdm --presets published
    .venv/bin/python scripts/bench_baselines.py --dataset qb --methods tdm --presets published --set n_iter=1000
    .venv/bin/python scripts/bench_baselines.py --dataset pk --methods miwae,remasker,miracle \\
        --presets published,paper,cpu --out results/bench/new_baselines_pk.json

``--out`` keeps the measurements as JSON (rewritten atomically after each one; a re-run skips
the measurements the file already holds, ``--force`` repeats them); ``make tables`` renders each
``results/bench/*.json`` as ``results/tables/bench_<name>.md`` (:mod:`knewimp.report.experiments.bench`).
``--set key=value`` overrides a constructor argument for every method run (a shorter schedule
gives a per-iteration cost to extrapolate from). ``--threads`` (default 1) sets torch's
intra-op threads and the BLAS threads: these loops work on small matrices, where a second
thread on a shared 2-core machine was measured to slow them down.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from knewimp.vocab import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def cell_input(args):
    """(name, complete matrix, mask) of the benchmarked cell."""
    if args.synthetic:
        n, d = args.synthetic
        rng = np.random.default_rng(args.seed)
        rank = max(1, d // 3)
        X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 0.3 * rng.normal(size=(n, d))
        X = (X - X.mean(0)) / X.std(0)
        from knewimp.protocol.amputation import ampute

        return f"synthetic{n}x{d}", X, ampute(X, args.mechanism, 0.3, np.random.default_rng(args.seed))
    from knewimp.protocol.cell_input import make_cell_input

    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(args.dataset, args.mechanism, 0.3, args.seed, data_dir=data_dir, download=False)
    return args.dataset, X, mask


def _key(m: dict) -> tuple:
    return (m["method"], m["preset"], m["dataset"], m["mechanism"], m["seed"], tuple(m["overrides"]),
            m["device"], m["threads"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="cc")
    p.add_argument("--synthetic", nargs=2, type=int, metavar=("N", "D"), help="low-rank synthetic data instead")
    p.add_argument("--mechanism", default="mcar")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="mice,tdm,gain,sinkhorn")
    p.add_argument("--presets", default="published,paper")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a constructor argument")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="JSON file keeping the measurements")
    p.add_argument("--force", action="store_true", help="repeat measurements the --out file already holds")
    p.add_argument("--verbose", action="store_true", help="show progress messages")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    import torch
    from threadpoolctl import threadpool_limits

    from knewimp.baselines.mean import MeanImputer
    from knewimp.harness.methods import build_imputer
    from knewimp.harness.records import write_json_atomic
    from knewimp.protocol.metrics import mae

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy / scipy BLAS (MICE's BayesianRidge) likewise
    name, X, mask = cell_input(args)
    X_nan = np.where(mask, np.nan, X)
    mean_mae = mae(X, MeanImputer().fit_transform(X_nan), mask)
    data = json.loads(args.out.read_text()) if args.out is not None and args.out.is_file() else {"measurements": []}
    data.update(description="one cell per (method, preset): wall and CPU seconds of fit_transform, MAE over the "
                            "missing entries in standardised units, and the column mean's MAE on the same cell",
                host=platform.node(), cpus=os.cpu_count())
    held = {_key(m): i for i, m in enumerate(data["measurements"])}
    print(f"# {name} {X.shape[0]}x{X.shape[1]}, {args.mechanism} 30% (missing {mask.mean():.1%}), seed {args.seed}, "
          f"device {args.device}, threads {args.threads}, load avg {os.getloadavg()[0]:.1f}"
          + (f", overrides {' '.join(args.set)}" if args.set else ""))
    print(f"# mean imputation MAE {mean_mae:.4f}")
    print("| method | preset | seconds | CPU seconds | MAE | MAE / mean |")
    print("|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        for preset in args.presets.split(","):
            if not (CONFIG_DIR / "method" / method / f"{preset}.yaml").exists():
                print(f"| {method} | {preset} | (no such preset) | | | |")
                continue
            row = dict(method=method, preset=preset, dataset=name, mechanism=args.mechanism, seed=args.seed,
                       overrides=list(args.set), device=args.device, threads=args.threads)
            if args.out is not None and _key(row) in held and not args.force:
                m = data["measurements"][held[_key(row)]]
                print(f"| {method} | {preset} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | {m['mae']:.4f} | "
                      f"{m['mae'] / m['mean_mae']:.3f} | (held)", flush=True)
                continue
            imputer = build_imputer(f"{method}/{preset}", *[f"method.{s}" for s in args.set],
                                    random_state=args.seed, device=args.device, threads=args.threads)
            load0 = os.getloadavg()[0]
            c0, t0 = time.process_time(), time.perf_counter()
            out = imputer.fit_transform(X_nan)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            err = mae(X, out, mask)
            print(f"| {method} | {preset} | {seconds:.1f} | {cpu:.1f} | {err:.4f} | {err / mean_mae:.3f} |", flush=True)
            if args.out is not None:
                row.update(n=int(X.shape[0]), d=int(X.shape[1]), seconds=seconds, cpu_seconds=cpu, mae=float(err),
                           mean_mae=float(mean_mae), loadavg_before=load0, loadavg_after=os.getloadavg()[0],
                           torch=torch.__version__, date=time.strftime("%Y-%m-%d"))
                if _key(row) in held:
                    data["measurements"][held[_key(row)]] = row
                else:
                    held[_key(row)] = len(data["measurements"])
                    data["measurements"].append(row)
                write_json_atomic(args.out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
