"""One cell of the benchmark, from composed config to written record.

config -> identity -> (record ok? stop) -> load -> standardise -> ampute -> impute -> metrics -> record.
"""
from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from typing import Any

import numpy as np
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from knewimp.base import resolve_device
from knewimp.harness import claims, downstream, records
from knewimp.harness.cost import model_for, seconds_under_cap
from knewimp.harness.deadline import hold_reason, parse_stop_at
from knewimp.harness.divergence import DIVERGENCE_RATIO, Diverged, _check_against_column_mean  # noqa: F401
from knewimp.harness.methods import runtime_arguments
from knewimp.harness.mixed_cell import compute_mixed
from knewimp.harness.identity import IDENTITY_FIELDS, cell_id, cell_identity
from knewimp.harness.provenance import code_changed, git_commit, package_versions
from knewimp.harness.scale import (TimeCap, capped_at_fewer_rows, memory_fields, reset_peak_memory, rss_mb,
                                  time_cap)
from knewimp.harness.validate import UserError, check_cell
from knewimp.protocol import metrics
from knewimp.protocol.amputation import MaskError
from knewimp.protocol.cell_input import SCALINGS, make_cell_input, mask_digest
from knewimp.protocol.datasets import DataError, matrix_digest
from knewimp.protocol.mixed import is_mixed


log = logging.getLogger("knewimp.harness.cell")



def in_multirun() -> bool:
    """True inside a job of a Hydra multirun (a sweep), where one cell's data error must not stop
    the other cells."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


#: When this process started launching cells, and the cells it computed itself: a failed record
#: started since then by someone else is another launcher's of the same launch.
_LAUNCHED = _now()
_COMPUTED_HERE: set[str] = set()


def run_cell(cfg: DictConfig) -> dict[str, Any]:
    """Run the cell described by ``cfg`` (a composed config) and return its record.

    Configuration errors raise :class:`UserError` before anything is loaded or written. A cell
    with an ok record is skipped (unless ``force``), and so is a failed one when ``retry_failed`` is
    false; one claimed by a live process elsewhere is
    left to it; a damaged record of the cell is moved to ``runs/.damaged/`` and the cell computed.
    """
    check_cell(cfg)
    identity = cell_identity(cfg)
    cid = cell_id(**identity)
    path = records.record_path(cfg.results_dir, cid)
    if _done(cfg, path, cid):
        return records.read_record(path)
    held = code_changed() or _held_by_deadline(cfg, identity)
    if held:
        log.info("hold %s: %s; not started, no record written (a later run picks it up)", cid, held)
        return dict(cell_id=cid, **identity, status="not_started", error=held)
    claim = claims.try_claim(cfg.results_dir, cid)
    if isinstance(claim, str):
        log.info("leave %s: claimed by %s, which computes it", cid, claim)
        return dict(cell_id=cid, **identity, status="not_started", error=f"claimed by {claim}")
    with claim:
        records.clean_stale_tmp(path.parent)
        if _done(cfg, path, cid):  # finished by another launcher between the first look and the claim
            return records.read_record(path)
        _, damage = records.inspect_record(path)
        if damage:
            moved = records.quarantine(path)
            log.warning("record %s was damaged (%s): moved to %s; computing the cell again", path.name, damage, moved)
        return _compute(cfg, identity, cid)


def _done(cfg: DictConfig, path, cid: str) -> bool:
    rec = records.read_record(path)
    if rec is None or cfg.force:
        return False
    if cfg.get("downstream") and rec["status"] == "ok" and "downstream" not in rec:
        return False  # an imputation record without the downstream scores this launch asks for
    if records.settled(rec, cfg):
        if rec["status"] == "ok":
            log.info("skip %s: record ok (force=true re-runs it)", cid)
        else:
            log.info("skip %s: failed (%s), kept as its result (retry_failed=true re-runs it)", cid, rec["error"])
        return True
    if rec["status"] == "failed" and str(rec.get("started_at", "")) >= _LAUNCHED and cid not in _COMPUTED_HERE:
        # Another launcher of the same sweep failed it after this one started: retrying now would
        # repeat that failure on the same code; the next launch retries it.
        log.info("skip %s: failed at %s in another launcher of this launch; a later launch retries it",
                 cid, rec.get("finished_at"))
        return True
    return False


def _compute(cfg: DictConfig, identity: dict[str, Any], cid: str) -> dict[str, Any]:
    _COMPUTED_HERE.add(cid)
    params = identity["params"]
    imputer_cls = get_class(cfg.method._target_)
    record: dict[str, Any] = dict(schema=records.SCHEMA_VERSION, cell_id=cid, **identity, started_at=_now(),
                                  host=platform.node(), versions=package_versions(), git_commit=git_commit(),
                                  threads=cfg.get("threads"), time_cap_s=cfg.get("time_cap_s"))
    if is_mixed(identity["dataset"]):  # a table with categorical columns: the mixed protocol
        _set_threads(cfg.get("threads"))
        compute_mixed(cfg, identity, record, imputer_cls, in_multirun())
        record["finished_at"] = _now()
        records.write_record(cfg.results_dir, record)
        _log_external(cfg, record)
        return record
    try:
        X, mask = make_cell_input(identity["dataset"], identity["mechanism"], identity["missing_rate"],
                                  identity["seed"], cfg.data_dir, cfg.download,
                                  OmegaConf.to_container(cfg.mechanism.options, resolve=True),
                                  scaling=cfg.get("scaling", SCALINGS[0]), n_rows=cfg.get("n_rows"))
    except (DataError, MaskError) as exc:
        if not in_multirun():
            raise UserError(str(exc)) from None
        # in a sweep, one dataset's data problem (or a mask that cannot be drawn as asked) fails
        # that cell before any imputation, not the sweep; its record says why
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", mae=None, rmse=None, wass=None,
                      wass_method=None, fit_seconds=0.0, device=str(cfg.device), finished_at=_now())
        records.write_record(cfg.results_dir, record)
        log.error("cell %s failed: %s", cid, record["error"])
        return record
    capped = capped_at_fewer_rows(cfg.results_dir, identity, cfg.get("time_cap_s"))
    if capped is not None:
        record.update(status="failed", error=capped, mae=None, rmse=None, wass=None, wass_method=None,
                      mask_digest=mask_digest(mask), fit_seconds=0.0, device=str(cfg.device), finished_at=_now())
        records.write_record(cfg.results_dir, record)
        log.info("cell %s: %s", cid, capped)
        return record
    record.update(n=int(X.shape[0]), d=int(X.shape[1]), realised_missing_rate=float(mask.mean()),
                  mask_digest=mask_digest(mask), data_digest=matrix_digest(X),
                  mae_colmean=metrics.mae(X, metrics.column_mean_fill(X, mask), mask))
    _set_threads(cfg.get("threads"))
    X_miss = np.where(mask, np.nan, X)
    log.info("cell %s: n=%d d=%d, missing %.3f", cid, X.shape[0], X.shape[1], mask.mean())
    t0 = time.perf_counter()
    try:
        y = downstream.target_for_cell(cfg, identity["dataset"], X_miss) if cfg.get("downstream") else None
        imputer = imputer_cls(**params, **runtime_arguments(imputer_cls, params, int(cfg.seed), cfg.device,
                                                            cfg.get("threads")))
        record["device"] = _device_of(imputer)
        _attach_trajectory_metrics(imputer, X, mask, cfg.wass_max_rows)
        rss_before, reset_ok = rss_mb(), reset_peak_memory()
        t0, c0 = time.perf_counter(), time.process_time()
        with time_cap(cfg.get("time_cap_s")):
            X_hat = imputer.fit_transform(X_miss)
        record["fit_seconds"] = time.perf_counter() - t0
        record.update(fit_cpu_seconds=time.process_time() - c0, **memory_fields(reset_ok, rss_before))
        if getattr(imputer, "trajectory_", None) is not None:
            record["trajectory"] = imputer.trajectory_
        mae = metrics.mae(X, X_hat, mask)
        record["mae_ratio"] = _check_against_column_mean(mae, record["mae_colmean"])
        record["mae"] = mae
        record["rmse"] = metrics.rmse(X, X_hat, mask)
        record["wass"], record["wass_method"] = metrics.wass(X, X_hat, mask, max_rows=cfg.wass_max_rows,
                                                             row_sample=cfg.get("wass_row_sample"))
        record.update(status="ok", error=None)
        if y is not None:
            _add_downstream(cfg, record, X, X_hat, y)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # any failure of the method is a result: record it with its reason
        record.setdefault("device", str(cfg.device))
        record.update(status="failed", error=str(exc) if isinstance(exc, TimeCap) else f"{type(exc).__name__}: {exc}",
                      mae=None, rmse=None, wass=None, wass_method=None,
                      fit_seconds=record.get("fit_seconds", time.perf_counter() - t0))
        log.error("cell %s failed: %s", cid, record["error"])
    record["finished_at"] = _now()
    path = records.write_record(cfg.results_dir, record)
    if record["status"] == "ok":
        log.info("cell %s: MAE %.4f RMSE %.4f WASS %.4f (%s) in %.1fs -> %s", cid, record["mae"], record["rmse"],
                 record["wass"], record["wass_method"], record["fit_seconds"], path)
    _log_external(cfg, record)
    return record




def _add_downstream(cfg: DictConfig, record: dict[str, Any], X: np.ndarray, X_hat: np.ndarray, y) -> None:
    """The downstream scores, and the check that this imputation is the grid's (the same mask, the
    same MAE up to summation rounding) or a rerun of it (the same mask, the MAE within the block's
    seed spread: :func:`knewimp.harness.downstream.reference_check`). Anything else fails the cell
    with both MAEs, scores kept: it cannot be the grid's method and settings on the grid's mask."""
    record["grid_reference"] = downstream.reference_check(cfg, record)
    record["downstream"] = downstream.scores(cfg, record["dataset"], X, X_hat, y)
    ref = record["grid_reference"]
    if ref is not None and not (ref["same"] or ref.get("rerun")):
        spread = "no seed spread to judge by" if ref["seed_spread"] is None else \
            f"seed spread {ref['seed_spread']:.3g}"
        record.update(status="failed", error=f"imputation differs from the record in {ref['results_dir']}: "
                                             f"MAE {record['mae']!r} there {ref['mae']!r} ({spread}), mask "
                                             f"{record['mask_digest']} there {ref['mask_digest']}")


def _attach_trajectory_metrics(imputer, X: np.ndarray, mask: np.ndarray, wass_max_rows: int | None) -> None:
    """A method asked to record its trajectory (``record_every`` set, no ``callback`` of its own)
    gets a callback scoring each recorded matrix against the truth, which only the cell knows:
    the record's ``trajectory`` then holds MAE and WASS along the run (the convergence figures)."""
    if getattr(imputer, "record_every", None) is None or getattr(imputer, "callback", False) is not None:
        return

    def score(current: np.ndarray) -> dict[str, float]:
        return {"mae": metrics.mae(X, current, mask), "wass": metrics.wass(X, current, mask, max_rows=wass_max_rows)[0]}

    imputer.callback = score


def _held_by_deadline(cfg: DictConfig, identity: dict[str, Any]) -> str | None:
    stop_at = parse_stop_at(cfg.get("stop_at"))
    if stop_at is None:
        return None
    past = hold_reason(stop_at, None)
    if past:  # no estimate needed, so the records are not read
        return past
    if capped_at_fewer_rows(cfg.results_dir, identity, cfg.get("time_cap_s")) is not None:
        return None  # recorded as not run at once: it costs nothing
    # the folder's records, else the committed ones; a column neither knows counts its method's median.
    # The rows and the time cap count as at the launch: a subsample costs what its size does, and a
    # capped fit at most the cap.
    model = model_for(cfg.results_dir, resolve_device(cfg.device))
    return hold_reason(stop_at, seconds_under_cap(model, [identity], cfg.get("time_cap_s"))[0])


def _set_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads: the small per-step tensors of most methods run slower with
    threads competing for cores that parallel cells already use."""
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))


def _device_of(imputer) -> str:
    if hasattr(imputer, "compute_device"):
        return imputer.compute_device()
    return resolve_device(getattr(imputer, "device", "cpu"))


def _log_external(cfg: DictConfig, record: dict[str, Any]) -> None:
    if cfg.logger.name != "wandb":
        return
    import wandb

    run = wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, mode=cfg.logger.mode,
                     group=cfg.logger.group, tags=list(cfg.logger.tags), name=record["cell_id"],
                     config={k: record[k] for k in IDENTITY_FIELDS}, reinit="finish_previous")
    run.log({k: record.get(k) for k in ("mae", "rmse", "wass", "fit_seconds", "realised_missing_rate")
             if record.get(k) is not None})
    run.summary["status"] = record["status"]
    run.finish()
