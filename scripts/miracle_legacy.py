"""Does MIRACLE's original mini-batch loop explain the paper's MIRACLE numbers on IS and PK?

The original loop (``legacy_batches=True``) takes no gradient step when n < batch size; with the
KnewImp paper's batch 512, IS (351 rows) and PK (195 rows) are never trained, and the imputation
is the averaged output of a random network. This runs MIRACLE at the `paper` preset (batch 512)
with the legacy loop and with the fixed one (every row every epoch) on the harness's real cells
(30% missing, seeds 0..S-1), next to column-mean imputation on the same cells, and keeps every
run in a JSON file (rewritten atomically after each cell; a re-run skips the runs it holds).
``make tables`` renders it with the paper's printed values beside it as
``results/tables/miracle_legacy.md`` (:mod:`knewimp.report.experiments.bench`). A completion beyond the
library's divergence guard (:func:`knewimp.base.check_in_range`), which the harness would record as
failed, is scored unguarded, as the original code scored it, and marked with the guard's message.

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
LOOPS = (("legacy", True), ("fixed", False))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="is,pk")
    p.add_argument("--mechanisms", default="mar,mcar")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--preset", default="paper", help="MIRACLE preset (the paper's App. E.2 batch 512)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "miracle_legacy.json")
    args = p.parse_args(argv)

    import torch

    from knewimp.baselines.mean import MeanImputer
    from knewimp.base import ImputationError
    from knewimp.harness.methods import build_imputer
    from knewimp.harness.records import write_json_atomic
    from knewimp.protocol.cell_input import make_cell_input
    from knewimp.protocol.metrics import mae

    torch.set_num_threads(1)
    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    data = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    data["description"] = (f"MIRACLE `{args.preset}` preset with the original mini-batch loop (legacy) and the fixed "
                           "one, and column-mean imputation, on the harness's 30% cells; MAE in standardised units")
    held = {(r["dataset"], r["mechanism"], r["seed"], r["loop"], r["preset"]) for r in data["runs"]}
    for dataset in args.datasets.split(","):
        for mechanism in args.mechanisms.split(","):
            for seed in range(args.seeds):
                todo = [(name, legacy) for name, legacy in LOOPS
                        if (dataset, mechanism, seed, name, args.preset) not in held]
                if not todo:
                    continue
                X, mask = make_cell_input(dataset, mechanism, 0.3, seed, data_dir=data_dir, download=False)
                X_nan = np.where(mask, np.nan, X)
                mean_mae = float(mae(X, MeanImputer().fit_transform(X_nan), mask))
                for name, legacy in todo:
                    imp = build_imputer(f"miracle/{args.preset}", f"method.legacy_batches={legacy}",
                                        random_state=seed, device="cpu")
                    start = time.perf_counter()
                    try:
                        completed, guard = imp.fit_transform(X_nan), None
                    except ImputationError as exc:
                        # the original code has no range guard: score its unguarded completion as well
                        guard = str(exc)
                        completed = np.where(mask, np.asarray(imp._impute(X_nan.copy(), mask)), X)
                    err = float(mae(X, completed, mask))
                    data["runs"].append(dict(dataset=dataset, n=int(X.shape[0]), mechanism=mechanism, seed=seed,
                                             preset=args.preset, loop=name, batch_size=int(imp.batch_size),
                                             n_epochs=int(imp.n_epochs), steps=int(imp.n_steps_), mae=err,
                                             mean_mae=mean_mae, out_of_range=guard,
                                             seconds=time.perf_counter() - start))
                    write_json_atomic(args.out, data)
                    print(f"{dataset} {mechanism} seed {seed} {name}: MAE {err:.3f} ({imp.n_steps_} steps; "
                          f"mean imputation {mean_mae:.3f})" + (f"; {guard}" if guard else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
