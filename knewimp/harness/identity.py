"""A cell's identity: the fields that name its record, and the file-name-safe id made of them.

A re-launched sweep finds the record of a finished cell by this id and skips it; two cells that
can differ in result never share an id.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

IDENTITY_FIELDS = ("dataset", "mechanism", "missing_rate", "seed", "method", "preset", "params")
#: Keys of a method's config that are not constructor arguments.
META_KEYS = ("_target_", "name", "preset")


def method_params(method_cfg: DictConfig) -> dict[str, Any]:
    """The method's constructor arguments: its config minus the meta keys."""
    node = OmegaConf.to_container(method_cfg, resolve=True)
    return {k: v for k, v in node.items() if k not in META_KEYS}


def cell_identity(cfg: DictConfig) -> dict[str, Any]:
    """The identity fields (:data:`IDENTITY_FIELDS`) of a composed config."""
    return dict(dataset=cfg.dataset.name, mechanism=cfg.mechanism.name, missing_rate=float(cfg.missing_rate),
                seed=int(cfg.seed), method=cfg.method.name, preset=cfg.method.preset,
                params=method_params(cfg.method))


def params_digest(params: dict[str, Any]) -> str:
    """Short stable digest of a parameter dict (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def cell_id(dataset: str, mechanism: str, missing_rate: float, seed: int, method: str, preset: str,
            params: dict[str, Any]) -> str:
    """File-name-safe identity of one cell, e.g. ``bt__mar__r0.3__s3__mice__paper__1a2b3c4d5e``."""
    return "__".join([dataset, mechanism, f"r{float(missing_rate):g}", f"s{int(seed)}", method, preset,
                      params_digest(params)])
