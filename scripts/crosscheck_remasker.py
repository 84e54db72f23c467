"""ReMaskerImputer against the original ReMasker code (Du, Melis & Wang) on one harness cell.

Every side gets the identical input: ``knewimp.protocol.cell_input.make_cell_input(dataset,
mechanism, 0.3, seed)`` (the standardised complete matrix and the cell's mask), the masked entries
hidden as NaN. Sides (``--sides``, comma list):

- ``ours``: our ``remasker/cpu`` preset as the harness builds it (re-masking rule ``ratio``);
- ``ours_count``: our ``remasker/cpu_count`` preset (the original's re-masking count, observed
  entries only);
- ``theirs``: the original ``ReMasker`` class (``remasker_impute.py``), called as its README
  does (``ReMasker().fit_transform(DataFrame)``), with the ``remasker/cpu`` preset's settings given
  as the command-line arguments its constructor parses, its own re-masking rule untouched.

The original's defaults are our ``published`` preset; ``cpu`` keeps them except 100 epochs and 7
warm-up epochs (instead of 600 and 40), which one CPU thread can afford. The original never passes
its weight decay to AdamW, so AdamW's default 0.01 ran there, as our preset states. Imputer seeds
0..k-1 per side (ours ``random_state``; theirs: Python, NumPy and torch global seeds set before the
constructor, as hyperimpute's ``enable_reproducible_results`` does), one thread. Prints every run,
the mean +/- std (ddof 1) of MAE and WASS per side, and Welch's t-test of each side against
``theirs``; ``--json PATH`` saves the runs (shape of ``results/crosscheck/authors/cc_*.json``).

    nice -n 5 python scripts/crosscheck_remasker.py --dataset pk --mechanism mnar --k 3 \
        --json results/crosscheck/remasker/cc_pk_mnar.json

``--original`` is a checkout of the original repository (default $REMASKER_ORIG, else
/work/remasker_orig); it needs ``timm`` (and so ``torchvision``) importable. Not part of the
package: the original's code is run, never copied.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.methods import build_imputer, preset_params
from knewimp.protocol.cell_input import make_cell_input
from knewimp.report.experiments import crosscheck

PRESETS = {"ours": "remasker/cpu", "ours_count": "remasker/cpu_count"}
SIDES = ("ours", "theirs", "ours_count")
#: Our constructor argument -> the original's command-line option (utils.get_args_parser).
ORIGINAL_OPTIONS = {"n_epochs": "max_epochs", "batch_size": "batch_size", "embed_dim": "embed_dim", "depth": "depth",
                    "decoder_depth": "decoder_depth", "num_heads": "num_heads", "mlp_ratio": "mlp_ratio",
                    "mask_ratio": "mask_ratio", "base_lr": "blr", "min_lr": "min_lr", "warmup_epochs": "warmup_epochs"}


def _environment_shims() -> None:
    """What the original's imports need in this environment, none of it the original's code:
    NumPy 2 dropped ``np.float`` (its position table asks for it); ``remasker_impute`` imports
    hyperimpute names its ``ReMasker`` class never uses (hyperimpute 0.1.17 pins old dependencies),
    given here as modules whose names refuse to be called; and the PyPI torchvision wheel (timm
    imports it) registers fake kernels for two operators its CUDA-linked extension would define,
    which the CPU build of torch cannot load, so the two schemas are declared first."""
    if not hasattr(np, "float"):
        np.float = float

    def unused(name):
        def refuse(*a, **k):
            raise RuntimeError(f"hyperimpute's {name} is not installed here (the cross-check does not use it)")
        return refuse

    for mod, names in {"hyperimpute": (), "hyperimpute.plugins": (), "hyperimpute.utils": (),
                       "hyperimpute.plugins.imputers": ("ImputerPlugin", "Imputers"),
                       "hyperimpute.utils.benchmarks": ("compare_models",)}.items():
        if mod not in sys.modules:
            sys.modules[mod] = types.ModuleType(mod)
            for name in names:
                setattr(sys.modules[mod], name, unused(name))
    try:
        import torchvision  # noqa: F401
    except RuntimeError:
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _environment_shims.lib = lib  # the definitions live as long as the library object


def load_original(path: str | Path):
    """The original's ``ReMasker`` class from a checkout of its repository."""
    path = Path(path)
    if not (path / "remasker_impute.py").is_file():
        raise SystemExit(f"--original: {path} has no remasker_impute.py (a checkout of the original ReMasker code)")
    _environment_shims()
    sys.path.insert(0, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import remasker_impute
    return remasker_impute.ReMasker


def original_argv(params: dict) -> list[str]:
    """The original's command line carrying our preset's settings."""
    if not math.isclose(float(params["weight_decay"]), torch.optim.AdamW([torch.zeros(1)]).defaults["weight_decay"]):
        raise SystemExit(f"weight_decay={params['weight_decay']}: the original always runs AdamW's default")
    argv = ["remasker"]
    for ours, theirs in ORIGINAL_OPTIONS.items():
        argv += [f"--{theirs}", str(params[ours])]
    return argv


def run_theirs(ReMasker, argv: list[str], x_miss: np.ndarray, seed: int) -> np.ndarray:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    saved = sys.argv
    sys.argv = argv  # its constructor parses the command line (utils.get_args_parser)
    try:
        imputer = ReMasker()
    finally:
        sys.argv = saved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CUDA autocast / GradScaler asked for on a CPU
        out = imputer.fit_transform(pd.DataFrame(x_miss))
    return np.asarray(out, dtype=np.float64)



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--original", default=os.environ.get("REMASKER_ORIG", "/work/remasker_orig"))
    crosscheck.add_cell_arguments(ap)
    ap.add_argument("--sides", default=",".join(SIDES), help=f"comma list of {', '.join(SIDES)}")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--override", action="append", default=[],
                    help="Hydra override of every side's settings, e.g. method.n_epochs=2 (smoke runs)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    bad = [s for s in sides if s not in SIDES]
    if bad or not sides:
        ap.error(f"--sides: {bad or args.sides!r} not among {', '.join(SIDES)}")
    if args.k < 1:
        ap.error(f"--k must be >= 1, got {args.k}")

    torch.set_num_threads(1)
    ReMasker = load_original(args.original) if "theirs" in sides else None
    theirs_argv = original_argv(preset_params(PRESETS["ours"], *args.override)[1])
    X, mask = make_cell_input(args.dataset, args.mechanism.lower(), args.rate, args.seed, args.data_dir)
    x_miss = np.where(mask, np.nan, X)
    runs = {side: [] for side in sides}
    failed = {}

    def save():  # after every run, so a stopped cross-check keeps what it finished
        if not args.json:
            return
        data = {"dataset": args.dataset, "mechanism": args.mechanism, "cell_seed": args.seed, "extra": {},
                "overrides": args.override,
                "presets": {side: PRESETS.get(side, "original at " + PRESETS["ours"]) for side in sides},
                "runs": runs}
        if failed:
            data["failed"] = failed
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.json), json.dumps(data, indent=1))

    for s in range(args.first_imputer_seed, args.first_imputer_seed + args.k):
        for side in sides:
            t0 = time.perf_counter()
            try:
                if side == "theirs":
                    out = run_theirs(ReMasker, theirs_argv, x_miss, s)
                else:
                    out = build_imputer(PRESETS[side], *args.override, random_state=s).fit_transform(x_miss)
            except SystemExit as exc:  # the original exits on a non-finite loss
                failed.setdefault(side, []).append({"imputer_seed": s, "reason": f"exited ({exc.code})"})
                print(f"  {side:<10} seed {s}: FAILED (exited {exc.code})", file=sys.stderr, flush=True)
                save()
                continue
            r = crosscheck.run_entry(s, X, out, mask, time.perf_counter() - t0)
            runs[side].append(r)
            print(f"  {side:<10} seed {s}: MAE {r['mae']:.4f}  WASS {r['wass']:.4f}  {r['seconds']:.0f}s",
                  file=sys.stderr, flush=True)
            save()

    print(f"{args.dataset} {args.mechanism} {args.rate:g}, cell seed {args.seed}; theirs: {' '.join(theirs_argv[1:])}")
    print("\n".join(crosscheck.side_lines({side: runs[side] for side in sides}, width=10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
