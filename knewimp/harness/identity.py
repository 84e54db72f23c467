"""A cell's identity: the fields that name its record, and the file-name-safe id made of them.

A re-launched sweep finds the record of a finished cell by this id and skips it; two cells that
can differ in result never share an id.

The identity is the composed config itself, minus an explicit list of keys that cannot change a
result (:data:`NON_RESULT_KEYS`, each with its reason). It is split in three:

* the named fields (dataset, mechanism, missing rate, seed, method, preset) that make the
  readable part of the id;
* ``params``: the method's constructor arguments (its config minus :data:`META_KEYS`);
* ``protocol``: every other key of the composed config (mechanism options, ``wass_max_rows``, and
  any key added later) **whose value differs from its default** in the config files
  (``config.yaml`` for top-level keys, ``mechanism/<name>.yaml`` for ``mechanism.*``,
  ``dataset/<name>.yaml`` for ``dataset.*``).

The id's digest is taken over ``params`` alone when ``protocol`` is empty, and over
``{"params": ..., "protocol": ...}`` otherwise: a cell at the defaults keeps the id it had before
``protocol`` existed, and ``mechanism.options.p_obs=0.3`` or ``wass_max_rows=500`` give other ids.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, OmegaConf

from knewimp.vocab import CONFIG_DIR

IDENTITY_FIELDS = ("dataset", "mechanism", "missing_rate", "seed", "method", "preset", "params", "protocol")
#: Keys of a method's config that are not constructor arguments (``_target_`` follows from ``name``).
META_KEYS = ("_target_", "name", "preset")
#: Composed keys (dotted, top level or a subtree) that enter the identity through the named fields
#: or ``params``.
NAMED_KEYS = ("dataset.name", "mechanism.name", "missing_rate", "seed", "method")
#: Composed keys that cannot change a cell's result, and why. Everything else is identity.
NON_RESULT_KEYS: dict[str, str] = {
    "results_dir": "where the record is written",
    "data_dir": "where the raw files are read from; their SHA-256 digests are checked",
    "download": "whether the network may be used to fetch the same digest-checked files",
    "device": "where the computation runs; the record's `device` field says it",
    "threads": "torch intra-op threads; the record's `threads` field says it",
    "force": "whether an ok cell is re-run",
    "retry_failed": "whether a failed cell is re-run",
    "stop_at": "whether a cell may start",
    "logger": "where a copy of the record is sent",
    "hydra": "Hydra's own settings (output folders, launcher, sweeper)",
    "downstream": "adds the downstream scores to the record; the imputation is the same (the cell checks its MAE "
                  "against the grid's record of the same id)",
    "downstream_reference": "where the grid's records are looked up for that check",
    "sensitivity_point": "read only through interpolations into method.*, which params hold resolved",
    "sensitivity_points": "read only through interpolations into method.*, which params hold resolved",
    "time_cap_s": "whether a cell finishes; a capped cell's record says failed with `time cap`",
}
#: Composed keys outside :data:`NAMED_KEYS` known to change a result: they enter ``protocol``
#: when they differ from their default. A key in neither this list nor :data:`NON_RESULT_KEYS`
#: also enters ``protocol`` (tests/test_identity.py lists the composed keys to keep these honest).
PROTOCOL_KEYS = ("mechanism.options", "wass_max_rows", "scaling", "n_rows", "wass_row_sample", "encoding")


def method_params(method_cfg: DictConfig) -> dict[str, Any]:
    """The method's constructor arguments: its config minus the meta keys."""
    node = OmegaConf.to_container(method_cfg, resolve=True)
    return {k: v for k, v in node.items() if k not in META_KEYS}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": leaf}`` of a nested dict (an empty dict is a leaf: a key that exists)."""
    if isinstance(node, dict) and node:
        out = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _under(key: str, roots) -> bool:
    return any(key == r or key.startswith(r + ".") for r in roots)


@lru_cache(maxsize=None)
def _file_defaults(group: str | None, name: str | None) -> dict[str, Any]:
    path = CONFIG_DIR / "config.yaml" if group is None else CONFIG_DIR / group / f"{name}.yaml"
    if not path.is_file():
        return {}
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    node = {k: v for k, v in node.items() if k not in ("defaults", "hydra")}
    return flatten(node, "" if group is None else f"{group}.")


def config_defaults(dataset: str, mechanism: str) -> dict[str, Any]:
    """Flattened default values of the top-level keys and of the chosen dataset's and mechanism's."""
    return {**_file_defaults(None, None), **_file_defaults("dataset", dataset),
            **_file_defaults("mechanism", mechanism)}


def composed_keys(cfg: DictConfig) -> dict[str, Any]:
    """``{dotted key: resolved value}`` of a composed config, without ``hydra`` (which may hold
    runtime interpolations that resolve only inside a job)."""
    tree = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in cfg.items() if k != "hydra"}
    return flatten(tree)


def protocol_of(cfg: DictConfig) -> dict[str, Any]:
    """The identity keys of ``cfg`` outside the named fields and params whose value differs from
    the default (flattened, dotted keys; empty at the defaults)."""
    flat = composed_keys(cfg)
    defaults = config_defaults(cfg.dataset.name, cfg.mechanism.name)
    missing = object()
    return {k: v for k, v in sorted(flat.items())
            if not _under(k, NAMED_KEYS) and not _under(k, NON_RESULT_KEYS)
            and defaults.get(k, missing) != v}


def cell_identity(cfg: DictConfig) -> dict[str, Any]:
    """The identity fields (:data:`IDENTITY_FIELDS`) of a composed config."""
    return dict(dataset=cfg.dataset.name, mechanism=cfg.mechanism.name, missing_rate=float(cfg.missing_rate),
                seed=int(cfg.seed), method=cfg.method.name, preset=cfg.method.preset,
                params=method_params(cfg.method), protocol=protocol_of(cfg))


def params_digest(params: dict[str, Any], protocol: dict[str, Any] | None = None) -> str:
    """Short stable digest of the parameters (key order does not matter), and of ``protocol``
    when it is not empty."""
    payload = {"params": params, "protocol": protocol} if protocol else params
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


#: What a name that becomes part of a file name (dataset, mechanism, method, preset, experiment)
#: may be: nothing that can climb out of a folder, hide a file or split an id at ``__``... except
#: the underscore itself, which the committed names use; a name is never split back out of an id.
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
NAME_FIELDS = ("dataset", "mechanism", "method", "preset")


def name_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a name that goes into a path, or None."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        return "must be a name of lower-case letters, digits and underscores ([a-z0-9_]+)"
    return None


def rate_text(missing_rate: float) -> str:
    """The missing rate as the id writes it: ``%g`` where that reads back as the same number (every
    committed id: ``0.3``), otherwise the shortest text that does (``0.3000001``). Distinct rates
    always give distinct texts, since each text reads back as its own rate."""
    rate = float(missing_rate)
    short = f"{rate:g}"
    return short if float(short) == rate else repr(rate)


def cell_id(dataset: str, mechanism: str, missing_rate: float, seed: int, method: str, preset: str,
            params: dict[str, Any], protocol: dict[str, Any] | None = None) -> str:
    """File-name-safe identity of one cell, e.g. ``bt__mar__r0.3__s3__mice__paper__1a2b3c4d5e``.

    Raises ValueError for a name outside :data:`NAME_PATTERN` or a seed that is not an integer."""
    for field, value in zip(NAME_FIELDS, (dataset, mechanism, method, preset)):
        problem = name_problem(value)
        if problem:
            raise ValueError(f"{field}={value!r}: {problem}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r}: must be an integer")
    return "__".join([dataset, mechanism, f"r{rate_text(missing_rate)}", f"s{seed}", method, preset,
                      params_digest(params, protocol)])


def record_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The identity fields of a record (``protocol`` absent in records at the defaults: empty)."""
    return {k: record.get(k) or {} if k == "protocol" else record.get(k) for k in IDENTITY_FIELDS}
