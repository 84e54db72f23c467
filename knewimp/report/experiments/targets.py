"""What each make target computes and what its records cost: ``tables/make_targets.{md,csv}``.

Per target of :data:`knewimp.harness.targets.TARGETS`: its experiments, the cells they expand to
(a cell two experiments of the target share counts once), the cells with an ok or failed record
in the experiment's records folder, and the hours of imputation those records hold (the sum of
their ``fit_seconds``, one thread per cell). A cell shared by two targets counts in both.
"""
from __future__ import annotations

from pathlib import Path

from knewimp.harness.identity import cell_id
from knewimp.harness.records import scan
from knewimp.harness.sweep import expected_cells
from knewimp.harness.targets import TARGETS, results_folder
from knewimp.report.experiments.common import _write_table

DOCUMENTS = ("docs/running.md",)


def target_rows(results_dir: str | Path) -> list[dict]:
    """One row per make target: cells, ok, failed, not run, hours of the records."""
    results_dir = Path(results_dir)
    by_folder: dict[str, dict[str, dict]] = {}
    rows = []
    for target, experiments in TARGETS.items():
        cells: dict[str, dict | None] = {}
        for experiment in experiments:
            folder = results_folder(experiment)
            if folder not in by_folder:
                by_folder[folder] = {r["cell_id"]: r for r in scan(results_dir / folder)[0]}
            for cell in expected_cells(experiment):
                cid = cell_id(**cell)
                cells[cid] = by_folder[folder].get(cid)
        done = [r for r in cells.values() if r is not None]
        ok = sum(r["status"] == "ok" for r in done)
        rows.append({"target": target, "experiments": " ".join(experiments),
                     "folders": " ".join(sorted({results_folder(e) or "." for e in experiments})),
                     "cells": len(cells), "ok": ok, "failed": len(done) - ok, "not_run": len(cells) - len(done),
                     "hours": round(sum(r.get("fit_seconds") or 0.0 for r in done) / 3600, 1)})
    return rows


def render(rows: list[dict]) -> str:
    lines = ["| target | experiments (`configs/experiment/`) | records under the results folder | cells | ok | "
             "failed | not run | CPU-hours of the records |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        experiments = ", ".join(f"`{e}`" for e in r["experiments"].split())
        folders = ", ".join(f"`{f}/`" if f != "." else "`./`" for f in r["folders"].split())
        lines.append(f"| `make {r['target']}` | {experiments} | {folders} | {r['cells']} | {r['ok']} | "
                     f"{r['failed']} | {r['not_run']} | {r['hours']:.1f} |")
    return ("\n".join(lines) + "\n\nCPU-hours: the sum of the records' `fit_seconds` (ok and failed cells, one "
            "thread each); a target's cells are counted once, a cell two targets share in both. Written by "
            "`python -m knewimp.report.build` from `knewimp.harness.targets.TARGETS`.\n")


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    rows = target_rows(results_dir)
    if not any(r["ok"] or r["failed"] for r in rows):
        return []
    return _write_table(Path(out), "make_targets", render(rows), rows)
