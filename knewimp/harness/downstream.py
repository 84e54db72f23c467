"""A cell's downstream scores (``downstream: true``): the task's model on the cell's imputed matrix,
the same on the complete matrix (ground truth), and the check that the imputation is the one the
grid recorded.

The option adds fields to the record and changes no imputation, so it is not part of the cell's
identity: a downstream cell has the id of the grid cell it repeats, which is how its record finds
the grid's (``downstream_reference`` folders) and checks that it has the same mask and MAE.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from knewimp.harness import records
from knewimp.protocol import downstream


def target_for_cell(cfg, dataset: str, X_miss: np.ndarray) -> np.ndarray:
    """The dataset's target, after checking that the imputer's input does not contain it
    (:class:`knewimp.protocol.downstream.LeakError` otherwise)."""
    y = downstream.load_target(dataset, cfg.get("data_dir"))
    downstream.assert_no_target(X_miss, y, "the imputer's input")
    return y


@lru_cache(maxsize=None)
def _ground_truth(dataset: str, data_dir: str | None, X_bytes: bytes, shape: tuple) -> dict:
    X = np.frombuffer(X_bytes, dtype=np.float64).reshape(shape)
    y = downstream.load_target(dataset, data_dir)
    return downstream.evaluate(X, y, downstream.task_of(dataset).kind)


def ground_truth(dataset: str, data_dir, X: np.ndarray) -> dict:
    """The evaluation on the complete standardised matrix, computed once per dataset and process."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    return _ground_truth(dataset, None if data_dir is None else str(data_dir), X.tobytes(), X.shape)


def scores(cfg, dataset: str, X: np.ndarray, X_hat: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The record's ``downstream`` field."""
    t0 = time.perf_counter()
    kind = downstream.task_of(dataset).kind
    imputed = downstream.evaluate(np.asarray(X_hat, dtype=np.float64), y, kind)
    truth = ground_truth(dataset, cfg.get("data_dir"), X)
    return {"task": kind, "target": downstream.task_of(dataset).target, **downstream.describe(),
            "imputed": imputed, "ground_truth": truth, "seconds": time.perf_counter() - t0}


#: Relative MAE differences between a recomputed imputation and the grid's record: up to
#: MAE_EXACT it is the same computation (BLAS summation order moves MICE's MAE at 1e-14); up to
#: MAE_RTOL (with the same mask) the same algorithm on the same input whose floating-point order
#: changed since the grid ran (KnewImp's 500 flow steps amplify it to about 3e-5). A method that
#: trains a network for thousands of steps amplifies the same rounding further, so a difference
#: also counts as the same imputation when it is below SPREAD_SHARE of the standard deviation of
#: the grid's MAE across the block's seeds (same dataset, mechanism, rate, method and settings):
#: a tenth of what another seed moves the MAE by cannot be another imputation of consequence.
#: Beyond both, on the same mask and within RERUN_SPREADS of that spread, it is a rerun: the same
#: method and settings on the same input, computed by code whose arithmetic changed after the grid
#: ran (a speed-up whose paired records showed the column unchanged), so training took another
#: path. Its scores stand, paired with its own MAE, and the record says it is not the grid's
#: imputation. Further off than another seed would move it, on another mask, or with no spread to
#: judge by, it cannot be the grid's method and settings, and the cell fails.
MAE_EXACT = 1e-9
MAE_RTOL = 1e-3
SPREAD_SHARE = 0.1
RERUN_SPREADS = 1.0


def _block_spread(folder: str | Path, record: dict[str, Any]) -> float | None:
    """Sample std of the ok grid MAEs of ``record``'s block (its other seeds) in ``folder``."""
    same = ("dataset", "mechanism", "missing_rate", "method", "preset", "params", "protocol")
    maes = [r["mae"] for r in records.load_records(folder)
            if r.get("status") == "ok" and all(r.get(k) == record.get(k) for k in same)]
    return float(np.std(maes, ddof=1)) if len(maes) >= 2 else None


def reference_check(cfg, record: dict[str, Any]) -> dict[str, Any] | None:
    """The grid's record of the same cell in the first ``downstream_reference`` folder that has one,
    compared with this one: ``{"results_dir", "mae", "mask_digest", "mae_rel_diff", "seed_spread",
    "exact", "same", "rerun"}`` (exact: MAE within :data:`MAE_EXACT`; same: equal mask digests and the
    MAE within :data:`MAE_RTOL`, or within :data:`SPREAD_SHARE` of the block's seed spread
    ``seed_spread``; rerun: not the same, but equal mask digests and the MAE within
    :data:`RERUN_SPREADS` of that spread); None if no folder has an ok record of the cell (then
    nothing is checked, and the record says so)."""
    for folder in cfg.get("downstream_reference") or []:
        ref = records.read_record(records.record_path(folder, record["cell_id"]))
        if ref is None or ref.get("status") != "ok":
            continue
        diff = abs(ref["mae"] - record["mae"])
        rel = diff / abs(ref["mae"])
        spread = _block_spread(folder, ref) if rel > MAE_RTOL else None
        close = rel <= MAE_RTOL or (spread is not None and diff <= SPREAD_SHARE * spread)
        same_mask = ref.get("mask_digest") == record.get("mask_digest")
        same = close and same_mask
        rerun = not same and same_mask and spread is not None and diff <= RERUN_SPREADS * spread
        return {"results_dir": str(Path(folder)), "mae": ref["mae"], "mask_digest": ref.get("mask_digest"),
                "mae_rel_diff": rel, "seed_spread": spread, "exact": bool(rel <= MAE_EXACT), "same": bool(same),
                "rerun": bool(rerun)}
    return None
