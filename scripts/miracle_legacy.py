"""Does MIRACLE's original mini-batch loop explain the paper's MIRACLE numbers on IS and PK?

The original loop (``legacy_batches=True``) takes no gradient step when n < batch size; with the
KnewImp paper's batch 512, IS (351 rows) and PK (195 rows) are never trained, and the imputation
is the averaged output of a random network. This runs MIRACLE at the `paper` preset (batch 512)
with the legacy loop and with the fixed one (every row every epoch) on the harness's real cells
(30% missing, seeds 0..S-1) and prints the MAE next to the value the paper prints (Table 1).

    KNEWIMP_DATA_DIR=../shared/data/uci .venv/bin/python scripts/miracle_legacy.py
    .venv/bin/python scripts/miracle_legacy.py --datasets is,pk,bt --mechanisms mar,mcar --seeds 5
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the shared reference folder sits next to the main checkout (../shared) or above a worktree
PAPER_TABLES = [base / "shared" / "reference" / "paper_tables.json" for base in (ROOT.parent, ROOT.parent.parent)]


def paper_value(dataset: str, mechanism: str) -> float | None:
    """MIRACLE's MAE as printed in the paper's Table 1 (None when unavailable)."""
    candidates = [Path(os.environ["KNEWIMP_PAPER_TABLES"])] if "KNEWIMP_PAPER_TABLES" in os.environ else PAPER_TABLES
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        return None
    table = next(t for t in json.loads(path.read_text())["tables"] if t["id"] == "Table 1")
    for row in table["rows"]:
        if (row["method"], row["dataset"], row["mechanism"], row["metric"], row["stat"]) == \
                ("MIRACLE", dataset.upper(), mechanism.upper(), "MAE", "mean"):
            return row["value"]
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="is,pk")
    p.add_argument("--mechanisms", default="mar,mcar")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=512, help="the paper's App. E.2 batch")
    args = p.parse_args(argv)

    import torch
    from omegaconf import OmegaConf

    from baselines.mean import MeanImputer
    from baselines.miracle import MIRACLEImputer
    from knewimp.cell import make_cell_input
    from knewimp.metrics import mae

    torch.set_num_threads(1)
    published = OmegaConf.load(ROOT / "configs" / "method" / "miracle" / "published.yaml")
    params = {k: v for k, v in OmegaConf.to_container(published).items() if k not in ("_target_", "name", "preset")}
    params["batch_size"] = args.batch_size
    data_dir = os.environ.get("KNEWIMP_DATA_DIR")

    print(f"# MIRACLE, 30% missing, batch {args.batch_size}, {params['n_epochs']} epochs, seeds 0..{args.seeds - 1}; "
          "MAE mean +- std over seeds (standardised units)")
    print("| dataset | n | mechanism | mean imputation | legacy loop (steps) | fixed loop (steps) | paper prints |")
    print("|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for mechanism in args.mechanisms.split(","):
            res = {"mean": [], "legacy": [], "fixed": []}
            steps = {"legacy": 0, "fixed": 0}
            start = time.perf_counter()
            for seed in range(args.seeds):
                X, mask = make_cell_input(dataset, mechanism, 0.3, seed, data_dir=data_dir, download=False)
                X_nan = np.where(mask, np.nan, X)
                res["mean"].append(mae(X, MeanImputer().fit_transform(X_nan), mask))
                for name, legacy in (("legacy", True), ("fixed", False)):
                    imp = MIRACLEImputer(**{**params, "legacy_batches": legacy}, random_state=seed, device="cpu")
                    res[name].append(mae(X, imp.fit_transform(X_nan), mask))
                    steps[name] = imp.n_steps_
            cells = {k: f"{np.mean(v):.2f} +- {np.std(v):.2f}" for k, v in res.items()}
            printed = paper_value(dataset, mechanism)
            print(f"| {dataset} | {len(X)} | {mechanism} | {cells['mean']} | {cells['legacy']} ({steps['legacy']}) | "
                  f"{cells['fixed']} ({steps['fixed']}) | {'n/a' if printed is None else printed} |", flush=True)
            print(f"#   {dataset} {mechanism}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
