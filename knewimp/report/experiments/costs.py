"""What each method costs per cell on the paper's datasets, from the records: ``tables/method_costs.{md,csv}``.

Per column (method, preset) with CPU records of the 30% cells on the paper's eight datasets (every
records folder under the results folder: the grid, the new baselines and views, and the
experiments that reuse a grid preset on those cells; a preset swept over its parameters counts at
the parameters most of its records share): the median seconds per cell on each dataset
(the longer of a record's ``fit_seconds`` and its wall time, :func:`knewimp.harness.cost.cell_seconds`;
one thread per cell), the number of records behind each median, and the CPU-hours of one full
column (8 datasets x 3 mechanisms x 5 seeds = 120 cells) as the sum of the medians times 15, given
only where every dataset has a median. Records that ran on a GPU are left out: the table prices a
CPU sweep.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from knewimp.harness.cost import cell_seconds, device_kind
from knewimp.harness.records import load_records
from knewimp.report.experiments.common import _write_table
from knewimp.vocab import DATASETS, METHOD_ORDER

DOCUMENTS = ("docs/methods.md",)
RATE = 0.3
CELLS_PER_DATASET = 15  # 3 mechanisms x 5 seeds


def cost_rows(results_dir: str | Path) -> list[dict]:
    """One row per (method, preset): per-dataset median seconds and counts, and the column's CPU-hours."""
    # (method, preset) -> params -> dataset -> seconds: a preset swept over its parameters (the
    # sensitivity grids) is priced at its own settings, the variant with the most records
    variants: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for runs in sorted(Path(results_dir).glob("**/runs")):
        for r in load_records(runs.parent):
            if (r["dataset"] in DATASETS and r["missing_rate"] == RATE and not r.get("protocol")
                    and device_kind(r.get("device")) == "cpu" and r["status"] == "ok"):
                secs = cell_seconds(r)
                if secs is not None:
                    key = json.dumps(r.get("params", {}), sort_keys=True)
                    variants[(r["method"], r["preset"])][key][r["dataset"]].append(secs)
    seconds = {col: max(by_params.values(), key=lambda by_ds: sum(map(len, by_ds.values())))
               for col, by_params in variants.items()}
    rows = []
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    for (method, preset), by_ds in sorted(seconds.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0])):
        row = dict(method=method, preset=preset)
        for ds in DATASETS:
            row[ds] = float(np.median(by_ds[ds])) if by_ds.get(ds) else None
            row[f"{ds}_n"] = len(by_ds.get(ds, []))
        medians = [row[ds] for ds in DATASETS]
        row["cpu_hours_per_column"] = (None if any(m is None for m in medians)
                                       else sum(medians) * CELLS_PER_DATASET / 3600)
        rows.append(row)
    return rows


def render(rows: list[dict]) -> str:
    head = "| method / preset | " + " | ".join(DATASETS) + " | CPU-h per 120 cells |"
    lines = [f"Median seconds per cell on one CPU thread at {RATE:.0%} missing (records behind each median in "
             "brackets), from every records folder; a column's CPU-hours where every dataset has a median.", "",
             head, "|---" * (len(DATASETS) + 2) + "|"]
    for r in rows:
        cells = [f"{r[ds]:.1f} ({r[f'{ds}_n']})" if r[ds] is not None else "--" for ds in DATASETS]
        total = f"{r['cpu_hours_per_column']:.2f}" if r["cpu_hours_per_column"] is not None else "--"
        lines.append(f"| {r['method']}/{r['preset']} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines) + "\n"


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    rows = cost_rows(results_dir)
    if not rows:
        return []
    return _write_table(Path(out), "method_costs", render(rows), rows)
