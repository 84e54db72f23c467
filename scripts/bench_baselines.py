"""Seconds per cell and MAE (vs column-mean imputation) of the classic baselines, per preset.

Each (method, preset) is composed exactly as the harness composes it (configs/method +
configs/method_preset), run once on one cell (dataset x mechanism at 30% x seed), and timed
around ``fit_transform``. A preset a method does not have is reported as such.

    .venv/bin/python scripts/bench_baselines.py --dataset cc --methods mice,tdm,gain,sinkhorn --presets published,paper
    .venv/bin/python scripts/bench_baselines.py --synthetic 1000 10 --methods tdm --presets published
    .venv/bin/python scripts/bench_baselines.py --dataset qb --methods tdm --presets published --set n_iter=1000

``--set key=value`` overrides a constructor argument for every method run (a shorter schedule
gives a per-iteration cost to extrapolate from). ``--threads`` (default 1) sets torch's
intra-op threads and the BLAS threads: these loops work on small matrices, and on a shared
2-core machine a second thread was measured up to 20x slower, not faster.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from knewimp.vocab import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def compose_method(method: str, preset: str, sets: list[str]):
    from knewimp.harness.identity import method_params
    from knewimp.harness.sweep import _compose

    cfg = _compose([f"method={method}/{preset}"] + [f"method.{s}" for s in sets])
    return cfg.method._target_, method_params(cfg.method)


def cell_input(args):
    if args.synthetic:
        n, d = args.synthetic
        rng = np.random.default_rng(args.seed)
        rank = max(1, d // 3)
        X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 0.3 * rng.normal(size=(n, d))
        X = (X - X.mean(0)) / X.std(0)
        from knewimp.protocol.amputation import ampute

        return f"synthetic {n}x{d} (rank {rank})", X, ampute(X, args.mechanism, 0.3, np.random.default_rng(args.seed))
    from knewimp.protocol.cell_input import make_cell_input

    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(args.dataset, args.mechanism, 0.3, args.seed, data_dir=data_dir, download=False)
    return args.dataset, X, mask


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
    p.add_argument("--verbose", action="store_true", help="show progress messages")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    import torch
    from hydra.utils import get_class

    from baselines.mean import MeanImputer
    from knewimp.harness.methods import runtime_arguments
    from knewimp.protocol.metrics import mae

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy / scipy BLAS (MICE's BayesianRidge) likewise
    name, X, mask = cell_input(args)
    X_nan = np.where(mask, np.nan, X)
    mean_mae = mae(X, MeanImputer().fit_transform(X_nan), mask)
    print(f"# {name} {X.shape[0]}x{X.shape[1]}, {args.mechanism} 30% (missing {mask.mean():.1%}), seed {args.seed}, "
          f"device {args.device}, threads {args.threads}, load avg {os.getloadavg()[0]:.1f}"
          + (f", overrides {' '.join(args.set)}" if args.set else ""))
    print(f"# mean imputation MAE {mean_mae:.4f}")
    print("| method | preset | seconds | MAE | MAE / mean |")
    print("|---|---|---|---|---|")
    for method in args.methods.split(","):
        for preset in args.presets.split(","):
            if not (CONFIG_DIR / "method" / method / f"{preset}.yaml").exists():
                print(f"| {method} | {preset} | (no such preset) | | |")
                continue
            target, params = compose_method(method, preset, args.set)
            cls = get_class(target)
            imputer = cls(**params, **runtime_arguments(cls, params, args.seed, args.device, args.threads))
            start = time.perf_counter()
            out = imputer.fit_transform(X_nan)
            seconds = time.perf_counter() - start
            err = mae(X, out, mask)
            print(f"| {method} | {preset} | {seconds:.1f} | {err:.4f} | {err / mean_mae:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
