"""Seconds per cell and MAE (vs column-mean imputation) of the classic baselines, per preset.

Each (method, preset) is composed exactly as the harness composes it (configs/method +
configs/method_preset), run once on one cell (dataset x mechanism at 30% x seed), and timed
around ``fit_transform``. A preset a method does not have is reported as such.

    .venv/bin/python scripts/bench_baselines.py --dataset cc --methods mice,tdm,gain,sinkhorn --presets published,paper
    .venv/bin/python scripts/bench_baselines.py --synthetic 1000 10 --methods tdm --presets published
    .venv/bin/python scripts/bench_baselines.py --dataset qb --methods tdm --presets published --set n_iter=1000
    .venv/bin/python scripts/bench_baselines.py --dataset pk --methods miwae,remasker,miracle --presets published,paper,cpu

Methods configured in the new layout (configs/method/<name>/<preset>.yaml: MIWAE, ReMasker,
MIRACLE) are composed from their preset file; the others through configs/method_preset.

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

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def new_layout(method: str) -> bool:
    """True for a method configured as configs/method/<name>/<preset>.yaml."""
    return (CONFIGS / "method" / method).is_dir()


def has_preset(method: str, preset: str) -> bool:
    if new_layout(method):
        return (CONFIGS / "method" / method / f"{preset}.yaml").exists()
    return (CONFIGS / "method_preset" / method / f"{preset}.yaml").exists()


def compose_method(method: str, preset: str, sets: list[str]):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from knewimp.cell import method_params

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        if new_layout(method):
            # the preset file alone (its defaults pull in `published`); nested under method.<name>
            node = compose(config_name=f"method/{method}/{preset}").method[method]
            node = OmegaConf.merge(node, OmegaConf.from_dotlist(sets))
            return node._target_, method_params(node)
        cfg = compose(config_name="config", overrides=[f"method={method}", f"preset={preset}"]
                      + [f"method.{s}" for s in sets])
    return cfg.method._target_, method_params(cfg.method)


def cell_input(args):
    if args.synthetic:
        n, d = args.synthetic
        rng = np.random.default_rng(args.seed)
        rank = max(1, d // 3)
        X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 0.3 * rng.normal(size=(n, d))
        X = (X - X.mean(0)) / X.std(0)
        from knewimp.missingness import ampute

        return f"synthetic {n}x{d} (rank {rank})", X, ampute(X, args.mechanism, 0.3, np.random.default_rng(args.seed))
    from knewimp.cell import make_cell_input

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
    from knewimp.metrics import mae

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
            if not has_preset(method, preset):
                print(f"| {method} | {preset} | (no such preset) | | |")
                continue
            target, params = compose_method(method, preset, args.set)
            imputer = get_class(target)(**params, random_state=args.seed, device=args.device)
            start = time.perf_counter()
            out = imputer.fit_transform(X_nan)
            seconds = time.perf_counter() - start
            err = mae(X, out, mask)
            print(f"| {method} | {preset} | {seconds:.1f} | {err:.4f} | {err / mean_mae:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
