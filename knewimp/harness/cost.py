"""Seconds a cell will take, estimated from the records of cells that already ran.

For a column (method, preset) and a dataset of n rows and d columns the estimate is

* the median seconds of that column's records on that dataset, when there are any
  (``source="measured"``), a record's seconds being the wall time of its cell (``started_at`` to
  ``finished_at``: imputation and metrics) where that is longer than ``fit_seconds``;
* otherwise a power law fitted to the column's per-dataset medians,
  ``log t = a + b log n + c log d`` with ``0 <= b, c <= 2`` (bounded least squares; costs grow,
  never shrink, with size, and no method here is worse than quadratic in n or d), from at least 3
  datasets (``source="fitted"``); with 1 or 2 datasets, their median (``source="median"``).

Records count only where they ran on the same kind of device as the cells being planned
(``device``: a GPU's seconds say little about a CPU's); a column with no record on that kind falls
back to its records on any device.

A results folder with no record of a column (a fresh one) borrows that column's estimates from
the records committed with the checkout (:func:`prior_timings`: every ``results/**/runs`` beside
``configs/`` and the timed runs of ``results/bench``): the prior that lets a fresh sweep plan and honour ``stop_at`` from its first
cell. A cell whose column is in neither has no estimate; :meth:`CostModel.fallback` then gives its
method's median seconds (over every preset), or the median of all records, for the deadline to weigh.

Only a planning aid: a column's time on a dataset also depends on its preset's per-dataset
settings and on the machine's load, so extrapolated estimates can be off by several times. Records
of failed cells count too, since their seconds were spent. Every estimate adds
``OVERHEAD_SECONDS`` for what a cell's job does before its clock starts (config composition, data
loading, amputation).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator
from pathlib import Path

import numpy as np
from scipy.optimize import lsq_linear

from knewimp.harness import records as records_io
from knewimp.protocol.datasets import dataset_shape
from knewimp.vocab import CONFIG_DIR, base_preset

MAX_EXPONENT = 2.0
OVERHEAD_SECONDS = 1.0


def cell_seconds(record: dict) -> float | None:
    """Seconds a recorded cell took: the longer of ``fit_seconds`` and its wall time."""
    secs = record.get("fit_seconds")
    if not isinstance(secs, (int, float)):
        return None
    try:
        wall = (dt.datetime.fromisoformat(record["finished_at"])
                - dt.datetime.fromisoformat(record["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        wall = 0.0
    return max(float(secs), wall)


def device_kind(device: str | None) -> str:
    """'cuda:1' -> 'cuda'; a record without a device ran on the CPU (the only kind before the field)."""
    return str(device or "cpu").split(":")[0]


def data_key(dataset: str, n_rows: int | None = None) -> str:
    """What a cell's seconds are keyed by: its dataset, or ``dataset@n`` for a row subsample."""
    return dataset if n_rows is None else f"{dataset}@{n_rows}"


def key_shape(key: str) -> tuple[int, int] | None:
    """(rows, columns) a :func:`data_key` stands for (a subsample's rows, at most the dataset's)."""
    dataset, _, n = str(key).partition("@")
    shape = dataset_shape(dataset)
    if shape is None or not n:
        return shape
    return min(int(n), shape[0]), shape[1]


def record_key(record: dict) -> str:
    return data_key(record.get("dataset"), (record.get("protocol") or {}).get("n_rows"))


@dataclass(frozen=True)
class Estimate:
    seconds: float
    source: str  # measured | fitted | median


@functools.lru_cache(maxsize=4)
def _timed(root: str) -> tuple[tuple[str, dict], ...]:
    """(folder, record) of every record under ``root``, then ("bench", timing) of every timed run of
    its benchmark files ``root/bench/*.json``. Read once per process and root."""
    folders = sorted({p.parent.parent for p in Path(root).glob("**/runs/*.json")})
    found = [(str(folder.resolve()), r) for folder in folders for r in records_io.load_records(folder)]
    for path in sorted((Path(root) / "bench").glob("*.json")):
        try:
            found += [("bench", t) for t in bench_timings(json.loads(path.read_text()))]
        except (OSError, ValueError):
            continue
    return tuple(found)


def bench_timings(node) -> Iterator[dict]:
    """Record-like dicts of a benchmark file's timed runs (any nesting; seconds = ``seconds``, else
    training plus sampling), on the CPU unless the entry names a device."""
    if isinstance(node, dict):
        secs = node.get("seconds")
        if secs is None and isinstance(node.get("train_s"), (int, float)):
            secs = node["train_s"] + (node.get("sample_s") or 0.0)
        if all(isinstance(node.get(k), str) for k in ("method", "preset", "dataset")) and isinstance(secs, (int, float)):
            yield {"method": node["method"], "preset": node["preset"], "dataset": node["dataset"],
                   "fit_seconds": float(secs), "device": node.get("device") or "cpu"}
        for value in node.values():
            yield from bench_timings(value)
    elif isinstance(node, list):
        for value in node:
            yield from bench_timings(value)


def prior_timings(root: str | Path | None = None, exclude: str | Path | None = None) -> tuple[list[dict], str]:
    """What a results folder plans from beyond its own records, and a line saying so: every record
    under ``root`` (default: the checkout's ``results/``, none for an install without it) outside
    the folder ``exclude``, and the timed runs of ``root/bench/*.json``. A column's seconds per cell
    do not depend on the folder it ran for, so a fresh folder plans with the committed ones."""
    root = Path(root) if root is not None else CONFIG_DIR.parent / "results"
    if not root.is_dir():
        return [], f"No records under `{root.as_posix()}` to estimate from."
    skip = str(Path(exclude).resolve()) if exclude is not None else None
    found = [(folder, r) for folder, r in _timed(str(root.resolve())) if folder != skip]
    recs = [r for folder, r in found if folder != "bench"]
    folders = len({folder for folder, _ in found if folder != "bench"})
    line = (f"Estimates also use {len(recs)} records of {folders} other folders under `{root.as_posix()}` and "
            f"{len(found) - len(recs)} timed runs of its benchmark files (a column's seconds per cell do not depend on "
            "the folder it ran for; they do depend on the missing rate, which no estimate accounts for).")
    return [r for _, r in found], line


def committed_records(root: str | Path | None = None, exclude: str | Path | None = None) -> list[dict]:
    """The records and benchmark timings committed with the checkout (:func:`prior_timings`)."""
    return prior_timings(root, exclude)[0]


class CostModel:
    """Per-column seconds-per-cell estimates; ``estimate(method, preset, dataset)``.

    ``prior``: records consulted for a column (method, preset) that ``records`` lacks entirely
    (e.g. :func:`committed_records` for a fresh results folder)."""

    def __init__(self, records: list[dict], device: str | None = None, prior: list[dict] | None = None):
        self.medians = self._medians(records, device)
        if prior:
            for col, meds in self._medians(prior, device).items():
                self.medians.setdefault(col, meds)
        self._laws = {col: _fit_law(meds) for col, meds in self.medians.items()}
        by_method: dict[str, list[float]] = defaultdict(list)
        for (method, _), meds in self.medians.items():
            by_method[method].extend(meds.values())
        self._method_median = {m: float(np.median(v)) for m, v in by_method.items()}
        every = [s for v in by_method.values() for s in v]
        self._overall = float(np.median(every)) if every else None

    @staticmethod
    def _medians(records: list[dict], device: str | None) -> dict[tuple, dict[str, float]]:
        seen: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        same: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        kind = None if device is None else device_kind(device)
        for r in records:
            secs = cell_seconds(r)
            # a capped fit's seconds are the cap's, not the cell's cost: left out
            capped = str(r.get("error") or "").startswith("time cap")
            if secs is not None and secs > 0 and not capped and key_shape(record_key(r)) is not None:
                col, key = (r["method"], r["preset"]), record_key(r)
                seen[col][key].append(secs)
                if kind is not None and device_kind(r.get("device")) == kind:
                    same[col][key].append(secs)
        if kind is not None:
            seen = {col: same.get(col) or by_ds for col, by_ds in seen.items()}
        return {col: {ds: float(np.median(v)) for ds, v in by_ds.items()} for col, by_ds in seen.items()}

    def fallback(self, method: str) -> float | None:
        """Seconds to assume for a cell with no estimate: the median over the method's columns'
        per-dataset medians (every preset), else over all columns'; None with no record at all."""
        secs = self._method_median.get(method, self._overall)
        return None if secs is None else secs + OVERHEAD_SECONDS

    def seconds(self, method: str, preset: str, dataset: str, n_rows: int | None = None,
                cap: float | None = None) -> float | None:
        """:meth:`estimate`'s seconds, or :meth:`fallback`'s where the column has no record."""
        est = self.estimate(method, preset, dataset, n_rows, cap)
        secs = self.fallback(method) if est is None else est.seconds
        return secs if secs is None or cap is None else min(secs, cap + OVERHEAD_SECONDS)

    def estimate(self, method: str, preset: str, dataset: str, n_rows: int | None = None,
                 cap: float | None = None) -> Estimate | None:
        """Seconds for one cell (of ``n_rows`` rows of ``dataset`` when set; at most ``cap`` plus the
        overhead, the time cap stopping the fit there), or None when the column has no record at all."""
        est = self._estimate(method, preset, data_key(dataset, n_rows))
        base = base_preset(method, preset) if est is None else None
        if base is not None:  # a preset that changes one choice of another costs about what that one does
            est = self._estimate(method, base, data_key(dataset, n_rows))
            est = None if est is None else Estimate(est.seconds, f"{est.source} ({method}/{base})")
        if est is None or cap is None or est.seconds <= cap + OVERHEAD_SECONDS:
            return est
        return Estimate(cap + OVERHEAD_SECONDS, est.source)

    def _estimate(self, method: str, preset: str, key: str) -> Estimate | None:
        meds = self.medians.get((method, preset))
        if not meds:
            return None
        if key in meds:
            return Estimate(meds[key] + OVERHEAD_SECONDS, "measured")
        law = self._laws[(method, preset)]
        if law is None:
            return Estimate(float(np.median(list(meds.values()))) + OVERHEAD_SECONDS, "median")
        shape = key_shape(key)
        if shape is None:
            return Estimate(float(np.median(list(meds.values()))) + OVERHEAD_SECONDS, "median")
        n, d = shape
        a, b, c = law
        return Estimate(math.exp(a + b * math.log(n) + c * math.log(d)) + OVERHEAD_SECONDS, "fitted")


def estimates_under_cap(model: CostModel, cells: list[dict], cap: float | None,
                        records: dict[str, dict] | None = None) -> list[Estimate | None]:
    """:meth:`CostModel.estimate` of each cell identity, with a time cap ``cap`` (seconds or None)
    as a scaling sweep runs it (:func:`knewimp.harness.scale.capped_at_fewer_rows`): a cell is at
    most the cap, and a cell whose column and seed reaches the cap at fewer rows (by its estimate,
    or by a record among ``records`` failed by the cap) is not run, costing only the overhead."""
    from knewimp.harness.identity import cell_id

    out = [model.estimate(c["method"], c["preset"], c["dataset"], (c.get("protocol") or {}).get("n_rows"), cap)
           for c in cells]
    if cap is None:
        return out
    reached: dict[str, int] = {}  # column and seed -> the fewest rows at which the cap is reached
    for c, est in sorted(zip(cells, out), key=lambda ce: (ce[0].get("protocol") or {}).get("n_rows") or 0):
        n = (c.get("protocol") or {}).get("n_rows")
        if n is None:
            continue
        rec = (records or {}).get(cell_id(**c)) if records else None
        if (est is not None and est.seconds >= cap + OVERHEAD_SECONDS) or \
                (rec is not None and str(rec.get("error") or "").startswith("time cap")):
            reached.setdefault(_column_and_seed(c), n)
    return [est if (n := (c.get("protocol") or {}).get("n_rows")) is None or reached.get(_column_and_seed(c), n) >= n
            else Estimate(OVERHEAD_SECONDS, "capped at fewer rows")
            for c, est in zip(cells, out)]


def seconds_under_cap(model: CostModel, cells: list[dict], cap: float | None) -> list[float | None]:
    """Seconds of each cell as a launch weighs it against ``stop_at``: :func:`estimates_under_cap`,
    or, for a column with no record at all, its method's fallback (:meth:`CostModel.seconds`).
    The launch and each cell weigh the same number, so a cell the launch let into its window is
    not held back when it starts."""
    return [e.seconds if e is not None else
            model.seconds(c["method"], c["preset"], c["dataset"], (c.get("protocol") or {}).get("n_rows"), cap)
            for e, c in zip(estimates_under_cap(model, cells, cap), cells)]


def _column_and_seed(cell: dict) -> str:
    rest = {k: v for k, v in (cell.get("protocol") or {}).items() if k != "n_rows"}
    return json.dumps([cell[k] for k in ("dataset", "mechanism", "missing_rate", "seed", "method", "preset")]
                      + [cell.get("params"), rest], sort_keys=True, default=str)


def _fit_law(medians: dict[str, float]) -> tuple[float, float, float] | None:
    if len(medians) < 3:
        return None
    shapes = np.array([key_shape(key) for key in medians], dtype=float)
    A = np.column_stack([np.ones(len(shapes)), np.log(shapes)])
    y = np.log(np.array(list(medians.values())))
    bounds = ([-np.inf, 0.0, 0.0], [np.inf, MAX_EXPONENT, MAX_EXPONENT])
    return tuple(float(v) for v in lsq_linear(A, y, bounds=bounds).x)


_MODELS: dict[tuple, tuple] = {}


def model_for(results_dir: str | Path, device: str | None) -> CostModel:
    """The cost model of a results folder, its columns completed by :func:`prior_timings`.

    Cached per process until a record is added to or removed from the folder (the ``runs/``
    folder's modification time): a sweep's jobs ask once per cell, and cells held by a deadline
    then cost no reading of the records."""
    runs = records_io.runs_dir(results_dir)
    try:
        stamp = runs.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(Path(results_dir).resolve()), device)
    cached = _MODELS.get(key)
    if cached is None or cached[0] != stamp:
        own = records_io.load_records(results_dir) if stamp is not None else []
        cached = _MODELS[key] = (stamp, CostModel(own, device, prior=prior_timings(exclude=results_dir)[0]))
    return cached[1]
