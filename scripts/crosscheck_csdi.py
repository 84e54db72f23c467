"""CSDITImputer and MissDiffImputer against their original code on one harness cell.

The originals: TabCSDI (Zheng & Charoenphakdee, github.com/pfnet-research/TabCSDI) for CSDI-T, and
MissDiff (Ouyang et al., github.com/YiDongOuYang/MissDiff), a fork of TabCSDI's files whose model
class ``CSDIT`` runs unconditional (one input channel, no mask channel) with the loss on every
observed entry, and imputes through TabCSDI's unconditional path. Both are run from checkouts
outside the project; their code is run, never copied.

Every side gets the identical input: ``knewimp.protocol.cell_input.make_cell_input(dataset,
mechanism, 0.3, seed)`` (the standardised complete matrix and the cell's mask), the masked entries
hidden. Sides (``--sides``, comma list):

- ``ours``: our ``csdi_t/cpu`` (``--method csdi_t``) or ``missdiff/cpu`` (``--method missdiff``)
  preset as the harness builds it (one learned embedding per feature);
- ``ours_shared``: our ``csdi_t/cpu_shared_embedding`` preset (the originals' one embedding vector
  shared by every feature: they lay the features along CSDI's time axis); for MissDiff, which has
  no such preset, ``missdiff/cpu`` with the same switch (``feature_embedding="shared"``, read by
  the shared DDPM core's network builder) set on the imputer by this script;
- ``theirs``: the original model class (``src/main_model_table.py``, network in
  ``src/diff_models_table.py``) trained by its own ``train`` (``src/utils_table.py``) and imputing
  with its own ``evaluate`` method (n_samples reverse chains, per-entry median), with our ``cpu``
  preset's settings as the keys of its yaml config (:data:`CONFIG_KEYS`).

What the originals fix in their code and our preset must match (else the script refuses, one line):
feed-forward 64 and dropout 0.1 (their Transformer layer), weight decay 1e-6 and lr factor 0.1 (their
``train``), and for TabCSDI 80% of each row's observed entries hidden as targets (its
``get_randmask``). Deviations, each the least that runs them on our cell: (1) their data loaders
(fold splits of their own files, TabCSDI's per-column (x + 1) / (max + 1) scaling) are replaced by
the cell's rows, which are both the training and the imputation set as in the harness; the rows are
z-scored with the observed column means and stds and missing entries set to 0 (the observed mean, as
MissDiff's loader fills them and as our imputers do inside), and the median is mapped back; (2) their
``train`` hard-codes the lr drops at 25, 50, 75 and 90% of the epochs, and our ``cpu`` presets drop at
75 and 90%: its ``MultiStepLR`` is handed int(f * epochs) for our preset's fractions (its own
formula); (3) their ``train`` and ``evaluate`` reseed torch with 0; both get the imputer seed instead,
so seed 0 is exactly their own seeding and other seeds vary their draws as ours vary (the weights are
initialised after ``torch.manual_seed(seed)``); (4) device ``cpu``, one thread; (5) ``tqdm`` (progress
bars) and ``ipdb`` (a debugger call on MissDiff's validation path, never reached) are not installed
here: stand-ins are supplied. All of it is done at import time on module attributes; none of their
files is changed. Left as they are: TabCSDI's config key ``target_strategy: random`` is read by
nothing (its ``get_randmask`` always hides 80%, our ``fixed`` 0.8); MissDiff's imputation noises the
observed values along one forward chain (ours draws fresh noise at each step), and its feature
embedding is shared (``missdiff/cpu`` has one per feature; no shared-embedding MissDiff preset).

Imputer seeds 0..k-1 per side. Prints every run, the mean +/- std (ddof 1) of MAE and WASS per side,
and Welch's t-test of each side against ``theirs``; ``--json PATH`` saves the runs (shape of
``results/crosscheck/remasker/cc_*.json``).

    OMP_NUM_THREADS=1 python scripts/crosscheck_csdi.py --dataset pk --mechanism mnar --k 3 \
        --json results/crosscheck/csdi_t/cc_pk_mnar.json
    OMP_NUM_THREADS=1 python scripts/crosscheck_csdi.py --method missdiff --dataset pk --mechanism mnar \
        --k 3 --json results/crosscheck/missdiff/cc_pk_mnar.json

``--original`` is a checkout of the original repository (defaults: ``$TABCSDI_ORIG`` or
/work/tabcsdi_orig; ``$MISSDIFF_ORIG`` or /work/missdiff_orig). Not part of the package.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch

from knewimp.baselines.diffusion.core import standardise
from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.methods import build_imputer, preset_params
from knewimp.protocol.cell_input import make_cell_input
from knewimp.report.experiments import crosscheck

#: Per method: our presets per side, the original's repository (its default checkout), its model
#: class in ``src/main_model_table.py``, and its ``is_unconditional`` flag.
METHODS = {
    "csdi_t": dict(presets={"ours": "csdi_t/cpu", "ours_shared": "csdi_t/cpu_shared_embedding"},
                   repo="pfnet-research/TabCSDI", env="TABCSDI_ORIG", checkout="/work/tabcsdi_orig",
                   model_class="TabCSDI", unconditional=0),
    # MissDiffImputer takes no feature_embedding argument; the core's network builder reads the
    # attribute, so the shared embedding is set on the imputer (a diagnostic side, not a preset)
    "missdiff": dict(presets={"ours": "missdiff/cpu", "ours_shared": "missdiff/cpu"},
                     set_on_imputer={"ours_shared": {"feature_embedding": "shared"}},
                     repo="YiDongOuYang/MissDiff", env="MISSDIFF_ORIG", checkout="/work/missdiff_orig",
                     model_class="CSDIT", unconditional=1),
}
SIDES = ("ours", "theirs", "ours_shared")
#: (section, key) of the original's yaml config <- our constructor argument.
CONFIG_KEYS = {("train", "epochs"): "epochs", ("train", "batch_size"): "batch_size", ("train", "lr"): "lr",
               ("diffusion", "layers"): "n_layers", ("diffusion", "channels"): "channels",
               ("diffusion", "nheads"): "n_heads", ("diffusion", "diffusion_embedding_dim"): "step_emb_dim",
               ("diffusion", "beta_start"): "beta_start", ("diffusion", "beta_end"): "beta_end",
               ("diffusion", "num_steps"): "n_steps", ("diffusion", "schedule"): "schedule",
               ("model", "timeemb"): "pos_emb_dim", ("model", "featureemb"): "feat_emb_dim"}
#: Our arguments whose value the original fixes in its code, with that value (the target choice
#: only where the network is conditional: MissDiff's loss covers every observed entry).
FIXED_IN_ORIGINAL = {"ff_dim": 64, "dropout": 0.1, "weight_decay": 1e-6, "lr_gamma": 0.1,
                     "target_strategy": "fixed", "target_ratio": 0.8}


def original_config(params: dict, unconditional: int = 0) -> dict:
    """The original's config dict carrying our preset's settings; refuses what its code fixes otherwise."""
    for name, value in FIXED_IN_ORIGINAL.items():
        if name not in params and unconditional:
            continue
        got = params[name]
        same = got == value if isinstance(value, str) else math.isclose(float(got), value)
        if not same:
            raise SystemExit(f"{name}={got!r}: the original code fixes it at {value!r}")
    config = {"train": {}, "diffusion": {"mixed": False},
              "model": {"is_unconditional": unconditional, "target_strategy": "random", "mixed": False}}
    for (section, key), ours in CONFIG_KEYS.items():
        config[section][key] = params[ours]
    return config


class _SilentBar:
    """What the original's ``train`` uses of ``tqdm.tqdm``: iteration, a context, ``set_postfix``."""

    def __init__(self, iterable, *args, **kwargs):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_postfix(self, *args, **kwargs):
        pass


def _refuse(name):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"{name} is a stand-in here (the cross-check never reaches it)")
    return refuse


def load_original(path: str | Path, model_class: str = "TabCSDI"):
    """(model class, its utils_table module) from a checkout of the original repository."""
    path = Path(path)
    if not (path / "src" / "main_model_table.py").is_file():
        raise SystemExit(f"--original: {path} has no src/main_model_table.py (a checkout of the original code)")
    # tqdm (progress bars) and, in MissDiff's files, ipdb (a debugger on its validation path) are no
    # dependencies of this project: stand-in modules while the original's files are imported, then
    # gone again (torch's own imports probe for a real tqdm)
    stand_ins = {"tqdm": {"tqdm": _SilentBar}, "ipdb": {"set_trace": _refuse("ipdb.set_trace")}}
    added = []
    for name, attrs in stand_ins.items():
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
            for attr, value in attrs.items():
                setattr(sys.modules[name], attr, value)
            added.append(name)
    sys.path.insert(0, str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from src import main_model_table, utils_table
    finally:
        for name in added:
            del sys.modules[name]
    utils_table.tqdm = _SilentBar  # silent whether or not tqdm is installed
    return getattr(main_model_table, model_class), utils_table


def _torch_view(seed: int, milestone_epochs: list[int]) -> types.ModuleType:
    """``torch`` as the original's ``utils_table`` sees it: its fixed ``manual_seed(0)`` seeds with
    ``seed`` and its ``MultiStepLR`` drops at ``milestone_epochs`` (deviations (2) and (3))."""
    view = types.ModuleType("torch")
    view.__getattr__ = lambda name: getattr(torch, name)  # module-level __getattr__ (PEP 562)

    def multistep(optimizer, milestones, gamma):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestone_epochs, gamma=gamma)

    view.manual_seed = lambda _fixed: torch.manual_seed(seed)
    view.optim = types.SimpleNamespace(lr_scheduler=types.SimpleNamespace(MultiStepLR=multistep))
    return view


def run_theirs(Model, utils_table, params: dict, x_miss: np.ndarray, seed: int, unconditional: int = 0) -> np.ndarray:
    """Fit the original on the rows of ``x_miss`` and return its median imputation, observed entries kept."""
    observed = ~np.isnan(x_miss)
    Z, mu, sd = standardise(x_miss)
    Z = Z.numpy()
    n, d = Z.shape
    # its loaders' items: values (0 where missing), observation mask, conditioning mask (gt_mask:
    # everything observed conditions the imputation), and the feature index as its "time points"
    items = [{"observed_data": Z[i], "observed_mask": observed[i].astype(np.int64),
              "gt_mask": observed[i].astype(np.int64), "timepoints": np.arange(d)} for i in range(n)]
    config = original_config(params, unconditional)
    epochs = int(config["train"]["epochs"])
    milestones = [int(float(f) * epochs) for f in params["lr_milestones"]]
    torch.manual_seed(seed)
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested-tensor notes of nn.TransformerEncoder (batch_first=False)
        model = Model(config, "cpu")
    loader = torch.utils.data.DataLoader(items, batch_size=int(config["train"]["batch_size"]), shuffle=True)
    saved = utils_table.torch
    utils_table.torch = _torch_view(seed, milestones)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            utils_table.train(model, config["train"], loader)
    finally:
        utils_table.torch = saved
    torch.manual_seed(seed)  # its evaluate() seeds with 0 before imputing (deviation (3))
    model.eval()
    medians = []
    test = torch.utils.data.DataLoader(items, batch_size=int(config["train"]["batch_size"]), shuffle=False)
    with torch.no_grad():
        for batch in test:
            samples = model.evaluate(batch, int(params["n_samples"]))[0]  # (B, n_samples, 1, d)
            medians.append(samples.median(dim=1).values[:, 0, :])
    median = torch.cat(medians).numpy().astype(np.float64) * sd + mu
    return np.where(observed, x_miss, median)



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="csdi_t", choices=sorted(METHODS))
    ap.add_argument("--original", default=None,
                    help="checkout of the original repository (default: $TABCSDI_ORIG or /work/tabcsdi_orig for "
                         "csdi_t, $MISSDIFF_ORIG or /work/missdiff_orig for missdiff)")
    crosscheck.add_cell_arguments(ap)
    ap.add_argument("--sides", default=None,
                    help=f"comma list of {', '.join(SIDES)}; default: all of them")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--override", action="append", default=[],
                    help="Hydra override of every side's settings, e.g. method.epochs=2 (smoke runs)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    method = METHODS[args.method]
    presets = method["presets"]
    known = [s for s in SIDES if s in presets or s == "theirs"]
    sides = [s.strip() for s in (args.sides or ",".join(known)).split(",") if s.strip()]
    bad = [s for s in sides if s not in known]
    if bad or not sides:
        ap.error(f"--sides: {bad or args.sides!r} not among {', '.join(known)} (for --method {args.method})")
    if args.k < 1:
        ap.error(f"--k must be >= 1, got {args.k}")
    if not 0.0 < args.rate < 1.0:
        ap.error(f"--rate must be in (0, 1), got {args.rate}")

    torch.set_num_threads(1)
    params = preset_params(presets["ours"], *args.override)[1]
    config = original_config(params, method["unconditional"])  # refuses before any compute
    original = args.original or os.environ.get(method["env"], method["checkout"])
    Model, utils_table = load_original(original, method["model_class"]) if "theirs" in sides else (None, None)
    X, mask = make_cell_input(args.dataset, args.mechanism.lower(), args.rate, args.seed, args.data_dir)
    x_miss = np.where(mask, np.nan, X)
    runs = {side: [] for side in sides}

    def label(side):
        if side == "theirs":
            return f"original ({method['repo']}) at {presets['ours']}"
        extra = method.get("set_on_imputer", {}).get(side)
        return presets[side] + (f" with {extra} set on the imputer" if extra else "")

    if args.json and Path(args.json).is_file():  # keep the saved runs of the sides not run now
        saved = json.loads(Path(args.json).read_text())
        same = all(saved.get(k) == v for k, v in (("dataset", args.dataset), ("mechanism", args.mechanism),
                                                   ("cell_seed", args.seed), ("overrides", args.override)))
        if not same:
            ap.error(f"--json {args.json} holds another cell or other overrides; give another path")
        kept = {side: r for side, r in saved["runs"].items() if side not in sides}
        runs = {**kept, **runs}
        if kept:
            print(f"kept from {args.json}: {', '.join(kept)}", file=sys.stderr)

    def save():  # after every run, so a stopped cross-check keeps what it finished
        if not args.json:
            return
        data = {"dataset": args.dataset, "mechanism": args.mechanism, "cell_seed": args.seed, "extra": {},
                "overrides": args.override,
                "presets": {side: label(side) for side in runs},
                "runs": runs}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.json), json.dumps(data, indent=1))

    for s in range(args.first_imputer_seed, args.first_imputer_seed + args.k):
        for side in sides:
            t0 = time.perf_counter()
            if side == "theirs":
                out = run_theirs(Model, utils_table, params, x_miss, s, method["unconditional"])
            else:
                imputer = build_imputer(presets[side], *args.override, random_state=s)
                for name, value in method.get("set_on_imputer", {}).get(side, {}).items():
                    setattr(imputer, name, value)
                out = imputer.fit_transform(x_miss)
            r = crosscheck.run_entry(s, X, out, mask, time.perf_counter() - t0)
            runs[side].append(r)
            print(f"  {side:<12} seed {s}: MAE {r['mae']:.4f}  WASS {r['wass']:.4f}  {r['seconds']:.0f}s",
                  file=sys.stderr, flush=True)
            save()

    shown = ", ".join(f"{section}.{key}={value}" for section, keys in config.items() for key, value in keys.items())
    print(f"{args.method}: {args.dataset} {args.mechanism} {args.rate:g}, cell seed {args.seed}; theirs: {shown}")
    print("\n".join(crosscheck.side_lines(runs, width=12)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
