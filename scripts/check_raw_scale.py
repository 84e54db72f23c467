"""Raw-scale safety: the same cell given to an imputer in raw units and in z-scores.

One dataset (default cc, whose columns span several orders of magnitude), MCAR at 30%, one seed.
For each method the imputer runs at its library defaults on
  * the standardised matrix (what the harness passes; the protocol's scaling),
  * the raw matrix (``standardize=True``, the default: z-scores of the observed entries inside),
  * the raw matrix with ``standardize=False`` (the library before it standardised inside),
and every MAE is in standardised units (raw imputations mapped through the protocol's scaler).

    KNEWIMP_DATA_DIR=... python scripts/check_raw_scale.py                      # cc, mean knewimp sinkhorn
    KNEWIMP_DATA_DIR=... python scripts/check_raw_scale.py --methods mean,tdm --dataset bt
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASSES = {
    "mean": "knewimp.baselines.mean.MeanImputer", "mice": "knewimp.baselines.mice.MICEImputer",
    "gain": "knewimp.baselines.gain.GAINImputer", "tdm": "knewimp.baselines.tdm.TDMImputer",
    "sinkhorn": "knewimp.baselines.sinkhorn.SinkhornImputer", "knewimp": "knewimp.imputer.KnewImputer",
}


def imputer_class(method: str):
    module, _, name = CLASSES[method].rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="cc")
    p.add_argument("--methods", default="mean,knewimp,sinkhorn")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from sklearn.preprocessing import StandardScaler

    from knewimp.protocol.amputation import ampute
    from knewimp.protocol.datasets import load_dataset
    from knewimp.protocol.metrics import mae

    raw = load_dataset(args.dataset)
    scaler = StandardScaler().fit(raw)
    Z = scaler.transform(raw)
    mask = ampute(Z, "mcar", 0.3, np.random.default_rng(args.seed))
    print(f"# {args.dataset} {raw.shape[0]}x{raw.shape[1]}, MCAR 30%, seed {args.seed}; column stds "
          f"{raw.std(0).min():.3g} .. {raw.std(0).max():.3g}; MAE in standardised units")
    print("| method | standardised input | raw input (standardize=True, default) | raw input, standardize=False | seconds |")
    print("|---|---|---|---|---|")
    for method in args.methods.split(","):
        cls = imputer_class(method)
        t0 = time.perf_counter()
        on_z = mae(Z, cls(random_state=args.seed, device="cpu").fit_transform(np.where(mask, np.nan, Z)), mask)
        raw_hat = cls(random_state=args.seed, device="cpu").fit_transform(np.where(mask, np.nan, raw))
        on_raw = mae(Z, scaler.transform(raw_hat), mask)
        if "standardize" in cls().get_params():
            off = cls(random_state=args.seed, device="cpu", standardize=False).fit_transform(np.where(mask, np.nan, raw))
            off_raw = f"{mae(Z, scaler.transform(off), mask):.4f}"
        else:
            off_raw = "(no parameter: scale-equivariant)"
        print(f"| {method} | {on_z:.4f} | {on_raw:.4f} | {off_raw} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
