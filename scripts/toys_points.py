"""Imputed points of the Table F.1 toys, for the figure ``results/figures/toys.png``.

For each toy (knewimp/protocol/toys.py) and one cell (mechanism, 30%, seed; default MCAR, seed 0)
this runs each method preset exactly as the harness does (same standardised matrix, same mask,
``random_state`` = seed, one thread, CPU) and stores the complete standardised matrix, the mask and
each method's imputed matrix in one compressed ``.npz``; ``python -m knewimp.report.experiments.toys`` draws
the figure from it. The records of the same cells (``experiment=toys``) hold the metrics; the
script prints its own MAE per method so the two can be compared.

    PYTHONPATH=. python scripts/toys_points.py [--mechanism mcar] [--seed 0] [--out results/toys/points.npz]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from knewimp.harness.methods import build_imputer
from knewimp.protocol import metrics
from knewimp.protocol.cell_input import make_cell_input
from knewimp.vocab import TOY_DATASETS

METHODS = ("mean/published", "mice/single", "tdm/paper", "knewimp/paper")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mechanism", default="mcar")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated method/preset choices")
    ap.add_argument("--out", default="results/toys/points.npz")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    arrays: dict[str, np.ndarray] = {"toys": np.array(TOY_DATASETS), "methods": np.array(methods),
                                     "mechanism": np.array(args.mechanism), "seed": np.array(args.seed)}
    for toy in TOY_DATASETS:
        X, mask = make_cell_input(toy, args.mechanism, 0.3, args.seed)
        arrays[f"{toy}/X"], arrays[f"{toy}/mask"] = X, mask
        for choice in methods:
            t0 = time.perf_counter()
            X_hat = build_imputer(choice, random_state=args.seed, device="cpu").fit_transform(np.where(mask, np.nan, X))
            arrays[f"{toy}/{choice}"] = X_hat
            print(f"{toy:14s} {choice:18s} MAE {metrics.mae(X, X_hat, mask):.4f}  {time.perf_counter() - t0:6.1f}s",
                  flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
