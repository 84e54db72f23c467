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
from knewimp.harness import records
from knewimp.harness.cost import CostModel
from knewimp.harness.deadline import hold_reason, parse_stop_at
from knewimp.harness.methods import runtime_arguments
from knewimp.harness.identity import IDENTITY_FIELDS, cell_id, cell_identity
from knewimp.harness.provenance import code_changed, git_commit, package_versions
from knewimp.protocol import metrics
from knewimp.protocol.cell_input import make_cell_input, mask_digest
from knewimp.protocol.datasets import DataError
from knewimp.vocab import MECHANISMS

log = logging.getLogger("knewimp.harness.cell")


class UserError(ValueError):
    """Bad configuration or missing data: reported in one line, never recorded as a result."""


def _validate(cfg: DictConfig) -> None:
    rate = cfg.missing_rate
    if not isinstance(rate, (int, float)) or not 0.0 < float(rate) < 1.0:
        raise UserError(f"missing_rate must be in (0, 1), got {rate!r}")
    if cfg.mechanism.name not in MECHANISMS:
        raise UserError(f"unknown mechanism {cfg.mechanism.name!r}; valid choices: {', '.join(MECHANISMS)}")
    if not isinstance(cfg.seed, int):
        raise UserError(f"seed must be an integer, got {cfg.seed!r}")
    try:
        parse_stop_at(cfg.get("stop_at"))
        resolve_device(cfg.device)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_cell(cfg: DictConfig) -> dict[str, Any]:
    """Run the cell described by ``cfg`` (a composed config) and return its record."""
    _validate(cfg)
    identity = cell_identity(cfg)
    method, params = identity["method"], identity["params"]
    cid = cell_id(**identity)
    old = records.read_record(records.record_path(cfg.results_dir, cid))
    if old is not None and old.get("status") == "ok" and not cfg.force:
        log.info("skip %s: record ok (force=true re-runs it)", cid)
        return old
    held = code_changed() or _held_by_deadline(cfg, identity)
    if held:
        log.info("hold %s: %s; not started, no record written (a later run picks it up)", cid, held)
        return dict(cell_id=cid, **identity, status="not_started", error=held)
    try:
        imputer_cls = get_class(cfg.method._target_)
    except Exception as exc:
        raise UserError(f"method {method!r}: cannot import {cfg.method._target_!r} ({exc})") from None
    try:
        X, mask = make_cell_input(identity["dataset"], identity["mechanism"], identity["missing_rate"],
                                  identity["seed"], cfg.data_dir, cfg.download,
                                  OmegaConf.to_container(cfg.mechanism.options, resolve=True))
    except DataError as exc:
        raise UserError(str(exc)) from None
    record: dict[str, Any] = dict(schema=records.SCHEMA_VERSION, cell_id=cid, **identity, n=int(X.shape[0]),
                                  d=int(X.shape[1]), realised_missing_rate=float(mask.mean()),
                                  mask_digest=mask_digest(mask), started_at=_now(),
                                  host=platform.node(), versions=package_versions(), git_commit=git_commit())
    _set_threads(cfg.get("threads"))
    record["threads"] = cfg.get("threads")
    X_miss = np.where(mask, np.nan, X)
    log.info("cell %s: n=%d d=%d, missing %.3f", cid, X.shape[0], X.shape[1], mask.mean())
    t0 = time.perf_counter()
    try:
        imputer = imputer_cls(**params, **runtime_arguments(imputer_cls, params, int(cfg.seed), cfg.device,
                                                            cfg.get("threads")))
        record["device"] = _device_of(imputer)
        _attach_trajectory_metrics(imputer, X, mask, cfg.wass_max_rows)
        t0 = time.perf_counter()
        X_hat = imputer.fit_transform(X_miss)
        record["fit_seconds"] = time.perf_counter() - t0
        if getattr(imputer, "trajectory_", None) is not None:
            record["trajectory"] = imputer.trajectory_
        record["mae"] = metrics.mae(X, X_hat, mask)
        record["rmse"] = metrics.rmse(X, X_hat, mask)
        record["wass"], record["wass_method"] = metrics.wass(X, X_hat, mask, max_rows=cfg.wass_max_rows)
        record.update(status="ok", error=None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # any failure of the method is a result: record it with its reason
        record.setdefault("device", str(cfg.device))
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", mae=None, rmse=None, wass=None,
                      wass_method=None, fit_seconds=time.perf_counter() - t0)
        log.error("cell %s failed: %s", cid, record["error"])
    record["finished_at"] = _now()
    path = records.write_record(cfg.results_dir, record)
    if record["status"] == "ok":
        log.info("cell %s: MAE %.4f RMSE %.4f WASS %.4f (%s) in %.1fs -> %s", cid, record["mae"], record["rmse"],
                 record["wass"], record["wass_method"], record["fit_seconds"], path)
    _log_external(cfg, record)
    return record


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
    model = CostModel(records.load_records(cfg.results_dir), resolve_device(cfg.device))
    est = model.estimate(identity["method"], identity["preset"], identity["dataset"])
    return hold_reason(stop_at, None if est is None else est.seconds)


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
