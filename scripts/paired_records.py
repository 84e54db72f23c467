"""A changed implementation against the committed records, cell by cell on the same masks.

A speed change that is not bit-identical must leave the results where they were. The new code's
records (run into a scratch folder with the same cell ids: same dataset, mask, method, parameters,
seed) are paired with the committed records of those ids, and per method preset the script gives:

- the number of pairs and how many are bit-identical in MAE and WASS;
- the mean signed difference (new - committed), the mean |difference| and the largest;
- a two-sided paired t-test of the differences (``scipy.stats.ttest_rel``; ``p = 1`` when every
  difference is zero);
- the seed-to-seed spread of the committed column on the blocks the pairs touch: per block
  (dataset, mechanism, missing rate, method, parameters) the standard deviation over its seeds
  (ddof 1), averaged over the blocks.

The verdict "unchanged" needs p >= 0.05 in both metrics and a mean |difference| below the seed
spread in both; anything else is "moved", stated as such.

    python scripts/paired_records.py --new /tmp/paired-miwae --committed results --out results/bench/paired_miwae.json

``make tables`` renders the JSON (``kind: bench_paired``) as ``results/tables/bench_paired_<name>.md``.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from knewimp.harness import records

METRICS = ("mae", "wass")
ALPHA = 0.05
_SEED = re.compile(r"__s\d+__")


def block_of(cell_id: str) -> str:
    """The cell id without its seed: the block whose seeds give the spread."""
    return _SEED.sub("__s*__", cell_id, count=1)


def committed_records(root: Path) -> dict[str, dict]:
    """Every ok record under ``root/*/runs`` and ``root/runs``, by cell id."""
    folders = [root] + sorted(p.parent for p in root.glob("*/runs") if p.is_dir())
    out: dict[str, dict] = {}
    for folder in folders:
        recs, _ = records.scan(folder)
        for r in recs:
            if r.get("status") == "ok":
                out.setdefault(r["cell_id"], r)
    return out


def seed_spread(committed: dict[str, dict], blocks: set[str], metric: str) -> float | None:
    """Mean over ``blocks`` of the standard deviation of ``metric`` over each block's committed seeds."""
    values: dict[str, list[float]] = defaultdict(list)
    for cid, r in committed.items():
        b = block_of(cid)
        if b in blocks:
            values[b].append(float(r[metric]))
    sds = [statistics.stdev(v) for v in values.values() if len(v) >= 2]
    return float(np.mean(sds)) if sds else None


def compare_group(pairs: list[tuple[dict, dict]], committed: dict[str, dict]) -> dict:
    """The statistics of one method preset's pairs (new, committed)."""
    from scipy import stats

    blocks = {block_of(new["cell_id"]) for new, _ in pairs}
    row: dict = {"pairs": len(pairs), "cells": sorted(new["cell_id"] for new, _ in pairs),
                 "datasets": sorted({new["dataset"] for new, _ in pairs}),
                 "mechanisms": sorted({new["mechanism"] for new, _ in pairs}),
                 "new_commits": sorted({new.get("git_commit", "?")[:12] for new, _ in pairs}),
                 "committed_commits": sorted({old.get("git_commit", "?")[:12] for _, old in pairs})}
    unchanged = True
    for m in METRICS:
        d = np.array([float(new[m]) - float(old[m]) for new, old in pairs])
        if np.all(d == 0):
            p = 1.0
        else:
            p = float(stats.ttest_rel([float(new[m]) for new, _ in pairs], [float(old[m]) for _, old in pairs]).pvalue)
        spread = seed_spread(committed, blocks, m)
        row[m] = {"identical": int(np.sum(d == 0)), "mean_diff": float(d.mean()), "mean_abs_diff": float(np.abs(d).mean()),
                  "max_abs_diff": float(np.abs(d).max()), "p_value": p, "seed_spread": spread,
                  "mean_new": float(np.mean([new[m] for new, _ in pairs])),
                  "mean_committed": float(np.mean([old[m] for _, old in pairs]))}
        unchanged &= p >= ALPHA and spread is not None and float(np.abs(d).mean()) < spread
    ratios = [float(old["fit_seconds"]) / float(new["fit_seconds"]) for new, old in pairs
              if new.get("fit_seconds") and old.get("fit_seconds")]
    row["fit_seconds_ratio_median"] = float(np.median(ratios)) if ratios else None
    row["verdict"] = "unchanged" if unchanged else "moved"
    return row


def compare(new_dir: Path, committed_root: Path) -> dict:
    """Pair every ok record of ``new_dir`` with the committed record of its cell id; group by method preset."""
    new_recs, damaged = records.scan(new_dir)
    if damaged:
        raise SystemExit(f"{new_dir}: {len(damaged)} damaged record(s), e.g. {damaged[0].path.name}: {damaged[0].reason}")
    committed = committed_records(committed_root)
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = defaultdict(list)
    unmatched = []
    for r in new_recs:
        if r.get("status") != "ok":
            continue
        old = committed.get(r["cell_id"])
        if old is None:
            unmatched.append(r["cell_id"])
        else:
            groups[(r["method"], r["preset"])].append((r, old))
    if not groups:
        raise SystemExit(f"no ok record of {new_dir} has a committed ok record of the same cell id under {committed_root}")
    return {"kind": "bench_paired", "new_dir": str(new_dir), "date": time.strftime("%Y-%m-%d"), "alpha": ALPHA,
            "unmatched": sorted(unmatched),
            "groups": [{"method": m, "preset": p, **compare_group(pairs, committed)}
                       for (m, p), pairs in sorted(groups.items())]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new", type=Path, required=True, help="results folder of the new code (records under NEW/runs)")
    ap.add_argument("--committed", type=Path, default=Path("results"), help="root of the committed results folders")
    ap.add_argument("--out", type=Path, default=None, help="JSON to write (kind bench_paired)")
    args = ap.parse_args(argv)
    data = compare(args.new, args.committed)
    for g in data["groups"]:
        cells = ", ".join(f"{m.upper()} identical {g[m]['identical']}/{g['pairs']}, mean diff {g[m]['mean_diff']:+.2e}, "
                          f"mean |diff| {g[m]['mean_abs_diff']:.2e} vs seed spread "
                          f"{g[m]['seed_spread'] if g[m]['seed_spread'] is None else format(g[m]['seed_spread'], '.2e')}, "
                          f"p {g[m]['p_value']:.3f}" for m in METRICS)
        print(f"{g['method']}/{g['preset']}: {g['pairs']} pairs; {cells}; {g['verdict']}")
    if data["unmatched"]:
        print(f"{len(data['unmatched'])} new record(s) without a committed twin, e.g. {data['unmatched'][0]}")
    if args.out is not None:
        records.write_json_atomic(args.out, data, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
