"""Cost and result of the `paper_text` KnewImp preset against `paper` on one cell.

Usage (one thread, as the sweep runs cells):
    KNEWIMP_DATA_DIR=... python scripts/measure_paper_text.py --dataset cc --mechanism mar --seed 0

Runs the imputer at the `paper` parameters (taken from a committed `paper` record of the same dataset,
so the comparison uses exactly what the sweep ran) and at those parameters overridden by
configs/method/knewimp/paper_text.yaml, plus each single override alone (to attribute the cost and
the MAE change), and prints wall seconds, MAE and WASS. The grid estimate scales the committed `paper`
records' mean CPU fit time per dataset (times the cells of that dataset) by this cell's time ratio;
the ratio depends on the dataset's size (hidden width 256 costs ~4x in the MLP, nothing in the
n x n kernel), so measure one small and one large dataset. Timings are wall time: run it on a
quiet machine.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from knewimp.protocol import metrics
from knewimp.protocol.cell_input import make_cell_input
from knewimp.imputer import KnewImputer
from knewimp.harness.records import load_records

ROOT = Path(__file__).resolve().parents[1]
PRESET_FILE = ROOT / "configs" / "method" / "knewimp" / "paper_text.yaml"


def paper_text_overrides() -> dict:
    cfg = yaml.safe_load(PRESET_FILE.read_text())
    return {k: v for k, v in cfg.items() if k not in ("defaults", "preset", "name", "_target_")}


def run(params: dict, X: np.ndarray, mask: np.ndarray, seed: int) -> tuple[float, float, float]:
    X_miss = np.where(mask, np.nan, X)
    t0 = time.perf_counter()
    X_hat = KnewImputer(**params, random_state=seed, device="cpu").fit_transform(X_miss)
    sec = time.perf_counter() - t0
    return sec, metrics.mae(X, X_hat, mask), metrics.wass(X, X_hat, mask)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cc")
    ap.add_argument("--mechanism", default="mar")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results-dir", default=str(ROOT / "results"))
    ap.add_argument("--no-singles", action="store_true", help="skip the one-override-at-a-time runs")
    args = ap.parse_args()
    torch.set_num_threads(1)

    recs = [r for r in load_records(args.results_dir)
            if r["method"] == "knewimp" and r["preset"] == "paper" and r["status"] == "ok"
            and r["missing_rate"] == 0.3]
    base = next(r["params"] for r in recs if r["dataset"] == args.dataset)
    over = paper_text_overrides()
    variants = [("paper", dict(base)), ("paper_text", {**base, **over})]
    if not args.no_singles:
        variants += [(f"paper + {k}={v}", {**base, k: v}) for k, v in over.items()]

    X, mask = make_cell_input(args.dataset, args.mechanism, 0.3, args.seed)
    print(f"cell {args.dataset} {args.mechanism} seed {args.seed}: n={X.shape[0]} d={X.shape[1]}, 1 thread")
    secs = {}
    for name, params in variants:
        sec, mae, wass = run(params, X, mask, args.seed)
        secs[name] = sec
        print(f"{name:32s} {sec:7.1f} s  MAE {mae:.4f}  WASS {wass:.4f}")

    ratio = secs["paper_text"] / secs["paper"]
    print(f"time ratio paper_text / paper on this cell: {ratio:.2f}")
    # only CPU records: some committed cells ran on a GPU, whose times say nothing about CPU cost
    cpu = [r for r in recs if r.get("device") == "cpu"]
    per_ds = {}
    for ds in sorted({r["dataset"] for r in recs}):
        times = [r["fit_seconds"] for r in cpu if r["dataset"] == ds]
        if times:
            per_ds[ds] = (len(times), float(np.mean(times)), sum(r["dataset"] == ds for r in recs))
    print("committed `paper` CPU records, mean fit seconds per cell (cells in the grid):")
    print("  " + ", ".join(f"{ds} {m:.0f} s ({k})" for ds, (_, m, k) in per_ds.items()))
    grid = sum(m * k for _, m, k in per_ds.values())
    print(f"`paper` grid on one CPU thread: {grid / 3600:.2f} h; `paper_text` at this cell's ratio: "
          f"{ratio * grid / 3600:.2f} h; this dataset alone: "
          f"{ratio * per_ds[args.dataset][1] * per_ds[args.dataset][2] / 3600:.2f} h")


if __name__ == "__main__":
    main()
