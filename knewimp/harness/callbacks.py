"""Hydra callback: cells done / total and an estimate of time left for a multirun sweep.

Works with every launcher (basic, joblib workers, submitit jobs) through files in
``<sweep dir>/.progress/``: ``start.json`` (written once, before any job) and ``done.log`` (each
finished job appends its cell id; O_APPEND writes of one short line do not interleave).

At the start the sweep's cells are expanded and those whose record is already ok (skipped on
resume) are set aside; each cell left gets a cost estimate from the records (``knewimp.harness.cost``).
The time left is then the estimated seconds still to run, times the wall seconds the sweep has
actually taken per estimated second so far: a resumed grid is not credited for its skipped cells,
a slow dataset counts for more than a fast one, and the parallelism and load of the machine
calibrate the estimate as cells finish. A sweep the planner cannot expand falls back to counting
cells.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
from hydra import compose
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from knewimp.harness import records
from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.identity import cell_id, cell_identity
from knewimp.base import resolve_device
from knewimp.harness.cost import estimates_under_cap, model_for
from knewimp.harness.sweep import PREPARED, sweep_cells, sweep_overrides
from knewimp.progress import format_seconds

log = logging.getLogger("knewimp.sweep")


def sweep_size(config: DictConfig) -> int:
    """Number of jobs in the sweep: the product of the sweep lengths of the CLI overrides and of
    ``hydra.sweeper.params`` (a CLI value for the same key replaces the config's)."""
    _, sweeps = sweep_overrides(config)
    return math.prod(len(values) for values in sweeps.values())


def estimate_cells(config: DictConfig, compose_fn=None) -> dict[str, float | None]:
    """{cell id: estimated seconds, or None for a column with no record at all} of the sweep's
    cells that will run (those whose record is not :func:`~knewimp.harness.records.settled`).

    A launch through ``knewimp-run`` planned them already (:data:`~knewimp.harness.sweep.PREPARED`)."""
    prepared = PREPARED.pop(str(config.hydra.sweep.dir), None)
    if prepared is not None:
        return prepared
    fixed, sweeps = sweep_overrides(config)
    if compose_fn is None:
        # the running Hydra's repository was built before a command-line hydra.searchpath (a
        # user's own method configs) applied, so each composition names it again
        searchpath = list(config.hydra.get("searchpath") or [])
        extra = [f"hydra.searchpath=[{','.join(searchpath)}]"] if searchpath else []

        def compose_fn(overrides):
            return compose(config_name=config.hydra.job.config_name, overrides=[*overrides, *extra])
    have = {r["cell_id"]: r for r in records.iter_records(config.results_dir)}
    model = model_for(config.results_dir, resolve_device(config.get("device")))
    cells = [cell for cell in sweep_cells(compose_fn, fixed, sweeps) if not records.settled(have.get(cell_id(**cell)), config)]
    cap = config.get("time_cap_s")
    return {cell_id(**cell): est.seconds if est is not None else model.seconds(cell["method"], cell["preset"],
                                                                               cell["dataset"], cap=cap)
            for cell, est in zip(cells, estimates_under_cap(model, cells, cap))}


def fill_unknown(estimates: dict[str, float | None]) -> dict[str, float]:
    """The estimates with each None replaced by the median of the known ones (1 s if none is
    known): weights for the ETA, which rescales them by the measured pace."""
    known = [s for s in estimates.values() if s is not None]
    fill = float(np.median(known)) if known else 1.0
    return {cid: fill if s is None else s for cid, s in estimates.items()}


def describe_plan(estimates: dict[str, float | None]) -> str:
    """What the records say about the compute of the cells to run, without inventing a figure
    for cells that nothing estimates."""
    if not estimates:
        return "nothing to run"
    known = [s for s in estimates.values() if s is not None]
    unknown = len(estimates) - len(known)
    if not known:
        return "no record yet to estimate their compute from"
    text = f"about {format_seconds(sum(known))} of compute by the records so far"
    return text + (f", plus {unknown} cells with no record to estimate from" if unknown else "")


class SweepProgress(Callback):
    def _dir(self, config: DictConfig) -> Path:
        return Path(config.hydra.sweep.dir) / ".progress"

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        d = self._dir(config)
        d.mkdir(parents=True, exist_ok=True)
        total = sweep_size(config)
        try:
            estimates = estimate_cells(config)
            plan = fill_unknown(estimates)
        except Exception as exc:  # an exotic sweep: still report counts
            log.info("sweep: no per-cell plan (%s: %s); the estimate counts cells", type(exc).__name__, exc)
            plan = None
        # atomic: a job that starts while it is being written reads all of it or none of it
        write_text_atomic(d / "start.json", json.dumps({"total": total, "start": time.time(), "plan": plan}))
        if plan is not None:
            kept = "" if config.get("retry_failed", True) else " or failed ones kept"
            log.info("sweep: %d cells, %d with ok records%s (skipped), %d to run, %s", total, total - len(plan), kept,
                     len(plan), describe_plan(estimates))

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        d = self._dir(config)
        if not (d / "start.json").is_file() or (d / "first_job").is_file():
            return
        plan = json.loads((d / "start.json").read_text()).get("plan")
        if plan is not None and cell_id(**cell_identity(config)) not in plan:
            return  # a cell to skip: work has not begun
        try:  # the first cell to run marks when work began (composition and skipped cells excluded)
            fd = os.open(d / "first_job", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{time.time()}\n")

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        d = self._dir(config)
        start_file = d / "start.json"
        if not start_file.is_file():  # a single run, not a sweep
            return
        cid = cell_id(**cell_identity(config))
        info = json.loads(start_file.read_text())
        held = _held(config, cid, info)
        _append_line(d / ("held.log" if held else "done.log"), cid)
        finished = _lines(d / "done.log")
        n_held = len(_lines(d / "held.log"))
        if n_held:
            log.info("sweep: %d/%d cells done, %d held back (not started, no record: stop_at, code "
                     "changed under the sweep, or computed by another launcher; the log says which)",
                     len(finished), info["total"], n_held)
            return
        first = d / "first_job"
        began = float(first.read_text()) if first.is_file() else info["start"]
        elapsed = time.time() - began
        plan = info.get("plan")
        if plan is None:
            left = elapsed / len(finished) * (info["total"] - len(finished))
            log.info("sweep: %d/%d cells done, %s elapsed, about %s left", len(finished), info["total"],
                     format_seconds(elapsed), format_seconds(left))
            return
        ran = set(finished) & set(plan)
        est_done = sum(plan[c] for c in ran)
        est_left = sum(s for c, s in plan.items() if c not in ran)
        if est_done <= 0:
            log.info("sweep: %d/%d cells done (skipped: record ok); %d to run", len(finished), info["total"], len(plan))
            return
        log.info("sweep: %d/%d cells done (%d of %d to run, the rest had ok records), %s elapsed, about %s left",
                 len(finished), info["total"], len(ran), len(plan), format_seconds(elapsed),
                 format_seconds(est_left * elapsed / est_done))


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.is_file() else []


def _append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def _held(config: DictConfig, cid: str, info: dict) -> bool:
    """A cell kept from starting (by ``stop_at``, or by code changed under the sweep): it has no
    record written since the sweep began and no ok record from before (a skipped cell)."""
    rec = records.read_record(records.record_path(config.results_dir, cid))
    if rec is None:
        return True
    if records.settled(rec, config):
        return False
    try:
        finished = dt.datetime.fromisoformat(rec["finished_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return True
    return finished < math.floor(info["start"])
