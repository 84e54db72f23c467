"""Baselines before and after a change, timed in one process on the same cells, interleaved.

The committed implementation of each method at ``--old`` (a git revision; its ``baselines/``
folder loaded from ``git archive`` as a private package, reachable only here) and the working
tree's run ``fit_transform`` on the same cell with the same constructor arguments, alternately
(old, new, then new, old, ...), so that the machine's load falls on both alike. The claim is the
ratio of CPU seconds (medians over the repeats), not the seconds themselves; the outputs are
compared bit for bit (``identical``), else by their largest difference and their MAE.

    .venv/bin/python scripts/bench_speedup.py --old 9bd829a --dataset bt \\
        --methods tdm/published:n_iter=300,remasker/paper:n_epochs=4+warmup_epochs=1 --out results/bench/speedup_bt.json

``method/preset:key=value+key=value`` (or ``--set key=value`` for every method) shortens a
schedule for both sides alike: per-step costs are what the changes touch. ``make tables`` renders the JSON (``kind: bench_speedup``) as
``results/tables/bench_<name>.md`` (:mod:`knewimp.report.experiments.bench`).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_old_baselines(rev: str, into: Path) -> str:
    """Extract ``baselines/`` at ``rev`` under ``into`` as a package of its own; its name."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    name = f"_bench_old_{sha}"
    blob = subprocess.run(["git", "archive", "--format=tar", sha, "baselines"], cwd=ROOT, capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    pkg = into / name
    (into / "baselines").rename(pkg)
    for path in pkg.rglob("*.py"):  # the old modules import each other, not the working tree's
        text = path.read_text().replace("knewimp.baselines", name)
        path.write_text(text.replace("from baselines", f"from {name}").replace("import baselines", f"import {name}"))
    sys.path.insert(0, str(into))
    return name


def old_twin(new, package: str):
    """The old implementation's imputer with the new one's constructor arguments."""
    module = importlib.import_module(type(new).__module__.replace("knewimp.baselines", package))
    cls = getattr(module, type(new).__name__)
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    return cls(**{k: getattr(new, k) for k in names if hasattr(new, k)})


def timed(imputer, X_nan):
    c0, t0 = time.process_time(), time.perf_counter()
    out = imputer.fit_transform(X_nan)
    return out, time.process_time() - c0, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", default="9bd829a", help="git revision of the old implementation")
    p.add_argument("--dataset", default="bt")
    p.add_argument("--mechanism", default="mcar")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="tdm/published,gain/published,sinkhorn/published")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor argument for every method (both sides)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each side, interleaved")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from knewimp.harness.methods import build_imputer
    from knewimp.harness.records import write_json_atomic
    from knewimp.protocol.cell_input import make_cell_input
    from knewimp.protocol.metrics import mae

    torch.set_num_threads(1)
    threadpool_limits(1)
    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(args.dataset, args.mechanism, 0.3, args.seed, data_dir=data_dir, download=False)
    X_nan = np.where(mask, np.nan, X)
    tmp = tempfile.TemporaryDirectory()
    package = load_old_baselines(args.old, Path(tmp.name))
    data = json.loads(args.out.read_text()) if args.out is not None and args.out.is_file() else {"runs": []}
    data.update(kind="bench_speedup", host=platform.node(), cpus=os.cpu_count(), torch=torch.__version__,
                description="CPU seconds of fit_transform, old (git revision) against new (working tree), "
                            "interleaved in one process on one thread; ratio = median old / median new")
    print(f"# {args.dataset} {X.shape[0]}x{X.shape[1]} {args.mechanism} seed {args.seed}; old = {args.old}; "
          f"{args.repeats} runs each, interleaved; load avg {os.getloadavg()[0]:.1f}; "
          f"overrides {' '.join(args.set) or 'per method'}")
    print("| method | old CPU s | new CPU s | ratio | identical | max |diff| | MAE old | MAE new |")
    print("|---|---|---|---|---|---|---|---|")
    for entry in args.methods.split(","):
        choice, _, extra = entry.partition(":")
        sets = [*args.set, *(extra.split("+") if extra else [])]
        new = build_imputer(choice, *[f"method.{s}" for s in sets], random_state=args.seed, device="cpu", threads=1)
        load0 = os.getloadavg()[0]
        secs = {"old": [], "new": []}
        walls = {"old": [], "new": []}
        outs = {}
        for r in range(args.repeats):
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                imp = old_twin(new, package) if side == "old" else build_imputer(
                    choice, *[f"method.{s}" for s in sets], random_state=args.seed, device="cpu", threads=1)
                out, cpu, wall = timed(imp, X_nan)
                secs[side].append(cpu)
                walls[side].append(wall)
                outs.setdefault(side, out)
        identical = bool(np.array_equal(outs["old"], outs["new"], equal_nan=True))
        diff = float(np.nanmax(np.abs(outs["old"] - outs["new"])))
        row = dict(method=choice.split("/")[0], preset=choice.split("/")[1], dataset=args.dataset,
                   mechanism=args.mechanism, seed=args.seed, n=int(X.shape[0]), d=int(X.shape[1]),
                   overrides=sets, old=args.old, old_cpu=secs["old"], new_cpu=secs["new"],
                   old_wall=walls["old"], new_wall=walls["new"],
                   ratio=statistics.median(secs["old"]) / statistics.median(secs["new"]),
                   identical=identical, max_abs_diff=diff, mae_old=float(mae(X, outs["old"], mask)),
                   mae_new=float(mae(X, outs["new"], mask)), loadavg_before=load0,
                   loadavg_after=os.getloadavg()[0], date=time.strftime("%Y-%m-%d"))
        print(f"| {choice} | {statistics.median(secs['old']):.2f} | {statistics.median(secs['new']):.2f} | "
              f"{row['ratio']:.2f}x | {'yes' if identical else 'no'} | {diff:.3g} | {row['mae_old']:.4f} | "
              f"{row['mae_new']:.4f} |", flush=True)
        if args.out is not None:
            key = lambda m: (m["method"], m["preset"], m["dataset"], m["mechanism"], m["seed"], m["overrides"],
                             m["old"])
            data["runs"] = [m for m in data["runs"] if key(m) != key(row)] + [row]
            write_json_atomic(args.out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
