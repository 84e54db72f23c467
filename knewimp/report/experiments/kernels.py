"""Tables F.6 / F.7: KnewImp with the five other kernels, ``experiments_kernels.md/.csv``.

RBF is the grid's knewimp/paper (``<results>/runs``), the others ``<results>/kernels``; failed cells are
counted, never averaged.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from knewimp.harness.records import load_records
from knewimp.report.experiments.common import load_paper, paper_value, _ok_knewimp, _write_table, _grouped, _variant_table, _by_block, _against_paper

KERNEL_PRESETS = {"paper": "rbf", "kernel_linear": "linear", "kernel_poly": "poly",
                  "kernel_sigmoid": "sigmoid", "kernel_cos": "cos", "kernel_sin": "sin"}
PAPER_KERNEL = {"rbf": "RBF"}

#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("kernels", "grid_status_kernels.md", "kernels"),)


# ------------------------------------------------------------------------------ kernels
def kernels_report(grid: list[dict], kernel_records: list[dict], paper: list[dict], out: Path) -> list[Path]:
    full = [r for r in _ok_knewimp(grid) if r.get("preset") == "paper"]
    variants = [r for r in _ok_knewimp(kernel_records) if r.get("preset", "").startswith("kernel_")]
    if not variants:
        return []
    groups = _grouped(full + variants, lambda r: (KERNEL_PRESETS.get(r["preset"]), r["mechanism"], r["dataset"])
                      if r["preset"] in KERNEL_PRESETS else None)

    def paper_of(kernel, mech, ds, metric, stat):
        return paper_value(paper, "Table F.6" if stat == "mean" else "Table F.7", mech, ds, metric, stat,
                           kernel=PAPER_KERNEL.get(kernel, kernel))

    kernels = [k for k in KERNEL_PRESETS.values() if any(g[0] == k for g in groups)]
    intro = ["Ours: mean ± sample std over seeds (RBF = the grid's `knewimp/paper`; the others `results/kernels`, "
             "presets `knewimp/kernel_<name>`); the paper's printed mean (Table F.6) in parentheses; "
             "`failed (k)` / `[k failed]`: cells whose flow diverged (their records give the reason). "
             "Written by `python -m knewimp.report.build`."]
    text, rows = _variant_table("KnewImp with other kernels (30% missing)", intro, [(k, k) for k in kernels],
                                groups, paper_of)
    # mean rank of each kernel over the (mechanism, dataset) blocks both sources fill, ours vs the paper's
    lines = ["## Mean rank by MAE over the blocks every kernel fills, ours and the paper's (1 = best; failed cells rank last)", "",
             "| kernel | ours | paper |", "|---|---|---|"]
    ranks: dict[str, dict[str, list[float]]] = {"ours": defaultdict(list), "paper": defaultdict(list)}
    blocks = {(r["mechanism"], r["dataset"]) for r in rows}
    for mech, ds in sorted(blocks):
        by_source = {}
        for source in ("ours", "paper"):
            vals = {}
            for r in rows:
                if r["metric"] == "mae" and (r["mechanism"], r["dataset"]) == (mech, ds):
                    v = r["mean"] if source == "ours" else r["paper_mean"]
                    if source == "ours" and r["failed"] and not r["n"]:
                        v = math.inf
                    vals[r["variant"]] = v
            by_source[source] = vals
        # a block counts for both sources or for neither, so the two columns rank the same blocks
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for vals in by_source.values() for v in vals.values()):
            continue
        for source, vals in by_source.items():
            for rank, k in enumerate(sorted(vals, key=lambda k: vals[k]), 1):
                ranks[source][k].append(rank)
    for k in kernels:
        cells = [f"{np.mean(ranks[s][k]):.2f} ({len(ranks[s][k])} blocks)" if ranks[s][k] else "--" for s in ("ours", "paper")]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    ours, theirs = _by_block(rows, "mae"), _by_block(rows, "mae", "paper_mean")
    lines += _against_paper(ours, theirs, [(k, k) for k in kernels])
    text += "\n".join(lines) + "\n"
    return _write_table(out, "experiments_kernels", text, rows)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    return kernels_report(load_records(results_dir), load_records(results_dir / "kernels"), load_paper(), out)
