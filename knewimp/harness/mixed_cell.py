"""A cell on a mixed-type table (:mod:`knewimp.protocol.mixed`): the method through
:class:`knewimp.categorical.MixedTypeImputer`, scored by the mixed protocol.

:func:`knewimp.harness.cell.run_cell` hands a cell here when its dataset is a mixed table; the
identity, claims, resume and the record's writing stay the cell's. The record adds
``encoding_path`` (``native`` or the encoding a numeric method was given), ``d_encoded`` (the
width the method saw), ``accuracy`` and ``macro_f1`` (categorical entries) beside ``mae``,
``rmse`` and ``wass`` (numerical entries only), and ``mae_colmean`` / ``mae_ratio``: the cell
fails by the numerical cells' divergence rule when its MAE exceeds ``DIVERGENCE_RATIO`` times that
of the numerical columns' observed means on the same mask.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from omegaconf import DictConfig, OmegaConf

from knewimp.categorical import MixedTypeImputer
from knewimp.harness.divergence import Diverged, _check_against_column_mean
from knewimp.harness.methods import runtime_arguments
from knewimp.harness.validate import UserError
from knewimp.protocol.cell_input import mask_digest
from knewimp.protocol.datasets import DataError
from knewimp.protocol.mixed import ENCODINGS, make_mixed_input, mixed_metrics, numerical_column_mean_mae

log = logging.getLogger("knewimp.harness.mixed_cell")

#: The record's metric fields this cell fills (None until they are known).
MIXED_METRICS = ("mae", "rmse", "wass", "wass_method", "accuracy", "macro_f1")


def check_encoding(cfg: DictConfig) -> str:
    encoding = cfg.get("encoding", ENCODINGS[0])
    if encoding not in ENCODINGS:
        raise UserError(f"encoding={encoding!r}: valid choices: {', '.join(ENCODINGS)}")
    return encoding


def compute_mixed(cfg: DictConfig, identity: dict[str, Any], record: dict[str, Any], imputer_cls,
                  in_multirun: bool) -> None:
    """Fill ``record`` (status, metrics, timings) with the mixed cell's result."""
    encoding = check_encoding(cfg)
    try:
        cell = make_mixed_input(identity["dataset"], identity["mechanism"], identity["missing_rate"],
                                identity["seed"], OmegaConf.to_container(cfg.mechanism.options, resolve=True))
    except DataError as exc:
        if not in_multirun:
            raise UserError(str(exc)) from None
        record.update(status="failed", error=f"DataError: {exc}", fit_seconds=0.0, device=str(cfg.device),
                      **dict.fromkeys(MIXED_METRICS))
        return
    record.update(n=int(cell.mask.shape[0]), d=int(cell.mask.shape[1]), realised_missing_rate=float(cell.mask.mean()),
                  mask_digest=mask_digest(cell.mask), numerical=cell.numerical, categorical=cell.categorical)
    params = identity["params"]
    t0 = time.perf_counter()
    try:
        imputer = imputer_cls(**params, **runtime_arguments(imputer_cls, params, int(cfg.seed), cfg.device,
                                                            cfg.get("threads")))
        record["device"] = imputer.compute_device() if hasattr(imputer, "compute_device") else str(cfg.device)
        wrapper = MixedTypeImputer(imputer, categorical=cell.categorical, encoding=encoding)
        t0 = time.perf_counter()
        imputed = wrapper.fit_transform(cell.frame_missing)
        record["fit_seconds"] = time.perf_counter() - t0
        record["encoding_path"] = wrapper.path_
        record["d_encoded"] = int(wrapper.imputer_.n_features_in_)
        scores = mixed_metrics(cell, imputed, max_rows=cfg.wass_max_rows)
        record["mae_colmean"] = numerical_column_mean_mae(cell)
        record["mae_ratio"] = _check_against_column_mean(scores["mae"], record["mae_colmean"])
        record.update(scores, status="ok", error=None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Diverged as exc:  # the same rule as a numerical cell's, on the numerical entries
        record.update(status="failed", error=f"Diverged: {exc}", **dict.fromkeys(MIXED_METRICS))
        log.error("cell %s failed: %s", record["cell_id"], record["error"])
    except Exception as exc:  # any failure of the method is a result: record it with its reason
        record.setdefault("device", str(cfg.device))
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", fit_seconds=time.perf_counter() - t0,
                      **dict.fromkeys(MIXED_METRICS))
        log.error("cell %s failed: %s", record["cell_id"], record["error"])
