"""KnewImputer against the authors' released code on one harness cell, k imputer seeds each.

Both codes get the identical input: ``knewimp.protocol.cell_input.make_cell_input(dataset, mechanism, 0.3,
seed)`` (the standardised complete matrix and the cell's mask). Each runs with its default
settings (ours: ``KnewImputer()``, theirs: the arguments of their run script) at float64 and one
thread, for imputer seeds 0..k-1 (ours: ``random_state``; theirs: ``enable_reproducible_results``
as their script calls it). Prints every run, the mean +/- std (ddof 1) of MAE and WASS per side,
and Welch's t-test (scipy) of ours vs theirs.

    nice -n 10 python scripts/crosscheck_authors.py --dataset qb --mechanism mnar --seed 0 --k 5
    ... --extra 'variant=paper_kernel_eps' (an extra KnewImputer keyword, repeatable; JSON values)

``--authors-repo`` defaults to $KNEWIMP_AUTHORS_REPO, else ../authors_newimp next to this worktree.
``--json PATH`` also writes every run's numbers; ``--table A.json B.json ...`` prints the markdown
table of saved runs (one row per file) instead of running anything.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import authors_ref  # noqa: E402

from knewimp.protocol.cell_input import make_cell_input  # noqa: E402
from knewimp.imputer import KnewImputer  # noqa: E402
from knewimp.report.experiments import crosscheck  # noqa: E402



def parse_extra(items) -> dict:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def table(paths) -> str:
    """Markdown table of saved cross-check runs (``--json`` files), one row per file, and the verdict."""
    datas = [json.loads(Path(p).read_text()) for p in paths]
    return crosscheck.table(datas) + "\n" + crosscheck.verdict(datas)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--authors-repo", default=None)
    ap.add_argument("--table", nargs="+", default=None, help="print the table of these --json files and exit")
    ap.add_argument("--dataset")
    ap.add_argument("--mechanism", help="mcar, mar, mnar (harness names)")
    ap.add_argument("--seed", type=int, default=0, help="the cell seed (amputation)")
    ap.add_argument("--k", type=int, default=5, help="imputer seeds per side")
    ap.add_argument("--first-imputer-seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--sides", default="ours,theirs", help="comma list: ours, theirs")
    ap.add_argument("--extra", action="append", help="KEY=VALUE keyword for our KnewImputer")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    if not (args.dataset and args.mechanism):
        ap.error("--dataset and --mechanism are required")

    torch.set_num_threads(1)
    X, mask = make_cell_input(args.dataset, args.mechanism.lower(), args.rate, args.seed, args.data_dir)
    x_miss = np.where(mask, np.nan, X)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    extra = parse_extra(args.extra)
    ref = authors_ref.load(args.authors_repo) if "theirs" in sides else None
    runs = {side: [] for side in sides}
    for s in range(args.first_imputer_seed, args.first_imputer_seed + args.k):
        for side in sides:
            t0 = time.perf_counter()
            if side == "ours":
                out = KnewImputer(random_state=s, device="cpu", dtype="float64", standardize=False, **extra).fit_transform(x_miss)
            else:
                out = authors_ref.impute(ref, X, mask, s)
            r = crosscheck.run_entry(s, X, out, mask, time.perf_counter() - t0)
            runs[side].append(r)
            print(f"  {side:<6} seed {s}: MAE {r['mae']:.4f}  WASS {r['wass']:.4f}  {r['seconds']:.0f}s",
                  file=sys.stderr, flush=True)

    head = f"{args.dataset} {args.mechanism} {args.rate:g}, cell seed {args.seed}"
    if extra:
        head += f", ours with {extra}"
    print(head)
    print("\n".join(crosscheck.side_lines(runs, width=6)))
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": args.dataset, "mechanism": args.mechanism,
                                               "cell_seed": args.seed, "extra": extra, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
