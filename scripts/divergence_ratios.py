"""Every committed ok record's MAE against the column-mean imputation's MAE on its own mask.

    python scripts/divergence_ratios.py --results results --out results/bench/divergence_ratios.json
    python scripts/divergence_ratios.py --results results --apply     # records beyond the rule -> failed

The harness records a cell ``failed`` when its MAE exceeds ``DIVERGENCE_RATIO`` times the MAE of
filling each column with its observed mean on the same mask (knewimp/harness/cell.py). Records
written before that rule carry no ``mae_colmean``; this script recomputes it from the cell's own
protocol (dataset, mechanism and its options, rate, seed, scaling, row subsample), checks the mask
against the record's ``mask_digest`` where there is one, and writes the distribution of the ratio
over every committed ok record: quantiles, the count above each candidate multiple, and the
largest ratios with their cells, so the multiple is chosen from the records and the cells it
would fail are named. ``make tables`` renders the JSON (tables/divergence_ratios.md).

``--apply`` rewrites each ok record beyond the rule as the harness would have written it: status
``failed``, the error naming its MAE, the ratio and the column mean's MAE, no metrics, and
``mae_colmean`` / ``mae_ratio`` kept beside a ``migrated`` note; the record's identity (its file
name) is unchanged, and the JSON names every record so rewritten.

Records of the mixed-type protocol are compared on their numerical entries (their MAE's), against
the numerical columns' observed means on the same mask, as their cell does.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

from knewimp.harness import records
from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.cell import DIVERGENCE_RATIO, Diverged, _check_against_column_mean
from knewimp.protocol import metrics
from knewimp.protocol.cell_input import SCALINGS, make_cell_input, mask_digest
from knewimp.protocol.mixed import is_mixed, make_mixed_input, numerical_column_mean_mae

CANDIDATES = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)
TOP = 25


def _cell_protocol(rec: dict) -> tuple:
    proto = rec.get("protocol") or {}
    options = {k.split(".", 2)[2]: v for k, v in proto.items() if k.startswith("mechanism.options.")}
    return (rec["dataset"], rec["mechanism"], float(rec["missing_rate"]), int(rec["seed"]),
            json.dumps(options, sort_keys=True), proto.get("scaling", SCALINGS[0]), proto.get("n_rows"))


def column_mean_maes(recs: list[dict], log=print) -> dict[tuple, tuple[float, str]]:
    """``{cell protocol: (column-mean MAE, mask digest)}`` for every distinct protocol of ``recs``."""
    out = {}
    for key in sorted({_cell_protocol(r) for r in recs}, key=str):
        dataset, mechanism, rate, seed, options, scaling, n_rows = key
        if is_mixed(dataset):
            cell = make_mixed_input(dataset, mechanism, rate, seed, json.loads(options))
            out[key] = (numerical_column_mean_mae(cell), mask_digest(cell.mask))
            continue
        X, mask = make_cell_input(dataset, mechanism, rate, seed, mechanism_options=json.loads(options),
                                  scaling=scaling, n_rows=n_rows)
        out[key] = (metrics.mae(X, metrics.column_mean_fill(X, mask), mask), mask_digest(mask))
    log(f"column-mean MAE of {len(out)} distinct masks")
    return out


def ratios(results: Path, log=print) -> tuple[list[dict], list[str]]:
    """(one row per ok record with its ratio, the records whose mask digest disagrees)."""
    recs = [r for runs in sorted(results.glob("**/runs")) for r in records.load_records(runs.parent)
            if r.get("status") == "ok" and r.get("mae") is not None]
    colmean = column_mean_maes(recs, log)
    rows, mismatched = [], []
    for r in recs:
        mae_mean, digest = colmean[_cell_protocol(r)]
        if r.get("mask_digest") not in (None, digest):
            mismatched.append(r["cell_id"])
            continue
        rows.append(dict(cell_id=r["cell_id"], method=r["method"], preset=r["preset"], dataset=r["dataset"],
                         mechanism=r["mechanism"], missing_rate=r["missing_rate"], seed=r["seed"],
                         mae=r["mae"], mae_colmean=mae_mean, ratio=r["mae"] / mae_mean if mae_mean > 0 else None))
    return rows, mismatched


def fail_diverged(results: Path, rows: list[dict]) -> list[str]:
    """Rewrite the ok records of ``rows`` beyond :data:`DIVERGENCE_RATIO` as failed; their cell ids."""
    by_id = {r["cell_id"]: r for r in rows}
    done = []
    for runs in sorted(results.glob("**/runs")):
        for rec in records.load_records(runs.parent):
            row = by_id.get(rec["cell_id"])
            if rec.get("status") != "ok" or row is None or row["ratio"] is None:
                continue
            try:
                _check_against_column_mean(rec["mae"], row["mae_colmean"])
                continue
            except Diverged as exc:
                error = f"Diverged: {exc}"
            rec.update(status="failed", error=error, mae=None, rmse=None, wass=None, wass_method=None,
                       mae_colmean=row["mae_colmean"], mae_ratio=row["ratio"],
                       migrated=f"recorded ok before the divergence rule; failed by it at {DIVERGENCE_RATIO:g}x "
                                f"(scripts/divergence_ratios.py --apply)")
            records.write_record(runs.parent, rec)
            done.append(rec["cell_id"])
    return done


def migrated(results: Path) -> list[dict]:
    """The committed records the rule rewrote as failed (``--apply``), with their ratio."""
    return [dict(cell_id=r["cell_id"], ratio=r["mae_ratio"], error=r["error"])
            for runs in sorted(results.glob("**/runs")) for r in records.load_records(runs.parent)
            if r.get("migrated") and r.get("status") == "failed"]


def summary(rows: list[dict], mismatched: list[str]) -> dict:
    values = np.array([r["ratio"] for r in rows if r["ratio"] is not None])
    top = sorted((r for r in rows if r["ratio"] is not None), key=lambda r: -r["ratio"])[:TOP]
    return dict(kind="divergence_ratios", at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                records=len(rows), mask_mismatches=mismatched, divergence_ratio=DIVERGENCE_RATIO,
                quantiles={f"{q:g}": float(np.quantile(values, q)) for q in QUANTILES},
                above={f"{c:g}": int((values > c).sum()) for c in CANDIDATES},
                largest=top)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--apply", action="store_true", help="rewrite the ok records beyond the rule as failed")
    ap.add_argument("--out", type=Path, default=Path("results/bench/divergence_ratios.json"))
    args = ap.parse_args(argv)
    rows, mismatched = ratios(args.results)
    data = summary(rows, mismatched)
    if args.apply:
        print(f"{len(fail_diverged(args.results, rows))} ok records beyond {DIVERGENCE_RATIO:g}x rewritten as failed")
    data["failed_by_the_rule"] = migrated(args.results)
    write_text_atomic(args.out, json.dumps(data, indent=1) + "\n")
    print(f"{data['records']} ok records; quantiles {data['quantiles']}; above {data['above']}; "
          f"{len(mismatched)} mask mismatches -> {args.out}")
    for r in data["largest"][:15]:
        print(f"  {r['ratio']:.3f}  {r['cell_id']}")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
