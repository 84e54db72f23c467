"""Every view's claim counts on the same blocks: those complete in the ``faithful`` view.

    python scripts/claims_same_blocks.py [--results-dir results]

While the faithful grid runs, ``claims.md`` counts each view on the blocks complete in it, so the
``paper`` view (24 blocks) and the ``faithful`` one (fewer) are not yet comparable; this restricts
every view to the blocks the faithful view has, so the effect of the published baselines reads
block for block.
"""
from __future__ import annotations

import argparse

from knewimp.report.claims import compute_claims
from knewimp.report.selection import column_labels, columns_in
from knewimp.report.tables import load_records, resolve_reference, select_records


def same_block_counts(results_dir: str, reference: str = "knewimp") -> str:
    kept = select_records(load_records(results_dir)).kept
    ref = resolve_reference(kept, reference)
    faithful = [c for c in compute_claims(kept, ref) if c.view == "faithful" and c.scope == "all"]
    if not faithful:
        return "no faithful view: no published baseline records\n"
    blocks = set(faithful[0].places)
    claims = compute_claims([r for r in kept if (r["dataset"], r["mechanism"]) in blocks], ref)
    labels = column_labels(columns_in(kept))
    lines = [f"{len(blocks)} blocks complete in view faithful: "
             + ", ".join(f"{d}/{m}" for d, m in sorted(blocks)), "",
             "| view | metric | best | second | best or second | winners where not best |", "|---|---|---|---|---|---|"]
    for c in claims:
        if c.scope == "all":
            won = sorted({labels.get(w, w.method) for w in c.winners.values()})
            lines.append(f"| {c.view} | {c.metric.upper()} | {c.count(1)} | {c.count(2)} | "
                         f"{c.top2}/{len(c.places)} | {', '.join(won) or 'none'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--reference", default="knewimp")
    args = ap.parse_args()
    print(same_block_counts(args.results_dir, args.reference), end="")


if __name__ == "__main__":
    main()
