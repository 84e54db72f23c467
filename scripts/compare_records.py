"""Cell-by-cell comparison of two results folders: the cells both hold, side by side.

    python scripts/compare_records.py results/crosscheck/h200 results

Used to check that a cell gives the same scores on another machine (device, torch version): the
same cell id means the same dataset, mask, method, parameters and seed.
"""
from __future__ import annotations

import argparse

from knewimp.harness import records

FIELDS = ("mae", "wass", "fit_seconds")


def compare(a_dir: str, b_dir: str) -> str:
    (a_recs, a_bad), (b_recs, b_bad) = records.scan(a_dir), records.scan(b_dir)
    a = {r["cell_id"]: r for r in a_recs}
    b = {r["cell_id"]: r for r in b_recs}
    common = sorted(c for c in set(a) & set(b) if a[c].get("status") == b[c].get("status") == "ok")
    damaged = "".join(f"damaged in {side}: {d.path.name}: {d.reason}\n" for side, bad in (("A", a_bad), ("B", b_bad))
                      for d in bad)
    if not common:
        return f"no cell has an ok record in both {a_dir} and {b_dir}\n" + damaged
    head = ["cell"] + [f"{f} ({side})" for f in FIELDS for side in ("A", "B")] + ["device A", "device B"]
    lines = [f"A = {a_dir}, B = {b_dir}; {len(common)} cells ok in both", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for cid in common:
        ra, rb = a[cid], b[cid]
        vals = [f"{r[f]:.4f}" if f != "fit_seconds" else f"{r[f]:.1f}" for f in FIELDS for r in (ra, rb)]
        dev = [f"{r.get('device')} (torch {(r.get('versions') or {}).get('torch', '?')})" for r in (ra, rb)]
        lines.append(f"| {cid} | " + " | ".join(vals + dev) + " |")
    only = [f"{len(set(x) - set(y))} cells have a record only in {side}" for side, x, y in (("A", a, b), ("B", b, a))]
    return "\n".join(lines) + "\n\n" + "; ".join(only) + "\n" + damaged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="results folder A (records under A/runs/)")
    ap.add_argument("b", help="results folder B")
    args = ap.parse_args(argv)
    print(compare(args.a, args.b), end="")


if __name__ == "__main__":
    main()
