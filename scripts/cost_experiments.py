"""CPU cost of KnewImp's experiment options, and the CPU-hours of each experiment config.

For each option (preset) the script runs the paper preset and the option on the same cells with
shortened settings (``--epochs`` DSM epochs and ``--steps`` particle steps per outer iteration,
one thread) and reports the CPU-time ratio option / paper. A full cell of the option is then
estimated as that ratio times the mean ``fit_seconds`` of the grid's knewimp/paper records of the
dataset (results/runs); for the convergence preset, the WASS computed at each of its recorded
points is timed separately (exact EMD on one recorded matrix) and added. The experiments' cell
counts come from their configs.

    python scripts/cost_experiments.py --datasets bt cc [--epochs 40 --steps 100]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from knewimp.harness.identity import cell_id
from knewimp.harness.methods import preset_params
from knewimp.harness.records import load_records
from knewimp.harness.sweep import expected_cells
from knewimp.protocol import metrics
from knewimp.protocol.cell_input import make_cell_input
from knewimp.vocab import DATASETS

OPTIONS = {name: (name, {}) for name in ("ner_off", "joint_off", "ner_joint_off", "kernel_linear", "kernel_poly",
                                          "kernel_sigmoid", "kernel_cos", "kernel_sin")}
#: the sensitivity grid's costlier points: wider networks (the other points cost what the paper preset does)
OPTIONS.update({f"hidden{w}": ("paper", {"hidden": [w, w]}) for w in (256, 512)})
EXPERIMENTS = {"ablation_ner_joint": "results/ablation_ner_joint", "kernels": "results/kernels",
               "sensitivity_paper": "results/ablation", "convergence": "results/convergence"}


def cpu_seconds(preset: str, X_miss: np.ndarray, epochs: int, steps: int, seed: int = 0, extra: dict | None = None) -> float:
    cls, params = preset_params(f"knewimp/{preset}")
    params.update(score_epochs=epochs, n_steps=steps, **(extra or {}))
    imp = cls(**params, random_state=seed, device="cpu")
    t0 = time.process_time()
    try:
        imp.fit_transform(X_miss)
    except Exception as exc:  # a diverging kernel still costs what it ran
        print(f"    {preset}: {type(exc).__name__}")
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["bt", "cc"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    grid = defaultdict(list)
    for r in load_records("results"):
        if r.get("method") == "knewimp" and r.get("preset") == "paper" and r.get("status") == "ok":
            grid[r["dataset"]].append(r["fit_seconds"])
    grid_s = {ds: float(np.mean(v)) for ds, v in grid.items()}
    print("grid knewimp/paper mean fit_seconds:", {ds: round(grid_s[ds], 1) for ds in DATASETS if ds in grid_s})

    ratios = defaultdict(list)
    for ds in args.datasets:
        X, mask = make_cell_input(ds, "mar", 0.3, 0)
        X_miss = np.where(mask, np.nan, X)
        cpu_seconds("paper", X_miss, args.epochs, args.steps)  # warm-up: first-call costs out of the baseline
        base = cpu_seconds("paper", X_miss, args.epochs, args.steps)
        print(f"{ds}: paper {base:.2f} CPU s at {args.epochs} epochs + {args.steps} steps x 2")
        for opt, (preset, extra) in OPTIONS.items():
            secs = cpu_seconds(preset, X_miss, args.epochs, args.steps, extra=extra)
            ratios[opt].append(secs / base)
            print(f"  {opt}: {secs:.2f} s, ratio {secs / base:.2f}")
    ratio = {opt: float(np.mean(v)) for opt, v in ratios.items()}

    # WASS per recorded point of the convergence preset, per dataset (one exact EMD each)
    wass_s = {}
    for ds in DATASETS:
        X, mask = make_cell_input(ds, "mar", 0.3, 0)
        filled = np.where(mask, np.nanmean(np.where(mask, np.nan, X), axis=0), X)
        t0 = time.process_time()
        metrics.wass(X, filled, mask)
        wass_s[ds] = time.process_time() - t0
    _, conv = preset_params("knewimp/convergence")
    points = 2 * (conv["n_steps"] // conv["record_every"] + 1)
    print("WASS CPU s per recorded point:", {ds: round(s, 2) for ds, s in wass_s.items()}, f"x {points} points")

    print("\nexperiment: cells to run (recorded), estimated CPU-hours")
    for exp, folder in EXPERIMENTS.items():
        total = 0.0
        todo = done = 0
        for cell in expected_cells(exp):
            if (Path(folder) / "runs" / f"{cell_id(**cell)}.json").exists():
                done += 1
                continue
            todo += 1
            ds, preset, params = cell["dataset"], cell["preset"], cell["params"]
            width = params["hidden"][0]
            key = f"hidden{width}" if preset == "paper" and width > 128 else preset
            secs = grid_s[ds] * ratio.get(key, 1.0)
            if preset == "convergence":
                secs += points * wass_s[ds]
            total += secs
        print(f"  {exp}: {todo} cells ({done} recorded), {total / 3600:.1f} CPU-h")
    print(json.dumps({"ratios": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
