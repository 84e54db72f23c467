"""Every check of a cell's configuration that needs no data and no compute.

``check_cell(cfg)`` raises :class:`UserError` with one line naming the key, the value given and
what is valid; the harness calls it before it loads data or builds anything heavy, for each cell
of a sweep before the sweep starts (``knewimp.harness.run.main``) and again in each job. A
configuration error is never a record: a record is a result of the method.
"""
from __future__ import annotations

import inspect
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from knewimp.base import resolve_device
from knewimp.harness.deadline import parse_stop_at
from knewimp.harness.identity import META_KEYS, method_params, name_problem
from knewimp.protocol.cell_input import SCALINGS
from knewimp.harness.scale import check_scale_keys
from knewimp.vocab import CONFIG_DIR, MECHANISMS


class UserError(ValueError):
    """Bad configuration or missing data: reported in one line, never recorded as a result."""


def one_line(exc: BaseException) -> str:
    """A (Hydra, OmegaConf) exception's message on one line, without its pointers to tracebacks."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines()]
    return "; ".join(ln for ln in lines if ln and "HYDRA_FULL_ERROR" not in ln and not ln.startswith("full_key"))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    try:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:  # an integer beyond the float range
        return False


#: Seeds seed numpy's and torch's generators, which take [0, 2**32).
MAX_SEED = 2**32 - 1


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def check_seed(seed: Any) -> None:
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed={_short(seed)}: must be an integer in [0, {MAX_SEED}]")


def check_name(key: str, value: Any) -> None:
    """A value that becomes part of a file name (a record's, a table's) must be a plain name."""
    problem = name_problem(value)
    if problem:
        raise UserError(f"{key}={_short(value)}: {problem}")


def check_missing_rate(rate: Any) -> None:
    if not _is_number(rate) or not 0.0 < float(rate) < 1.0:
        raise UserError(f"missing_rate={_short(rate)}: must be a number in (0, 1)")


def check_threads(threads: Any) -> None:
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise UserError(f"threads={threads!r}: must be an integer >= 1, or null (torch's default)")


def check_scaling(scaling: Any) -> None:
    if scaling not in SCALINGS:
        raise UserError(f"scaling={scaling!r}: must be one of {', '.join(SCALINGS)} "
                        "(complete: the paper's protocol)")


def check_wass_max_rows(rows: Any) -> None:
    if rows is not None and (not _is_int(rows) or rows < 2):
        raise UserError(f"wass_max_rows={rows!r}: must be an integer >= 2, or null (always exact)")


def check_switch(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise UserError(f"{key}={value!r}: must be true or false")


#: Valid values of each mechanism option, as (test, description).
OPTION_RANGES = {
    "p_obs": (lambda v: _is_number(v) and 0.0 < v < 1.0, "a number in (0, 1)"),
    "p_params": (lambda v: _is_number(v) and 0.0 < v <= 1.0, "a number in (0, 1]"),
    "q": (lambda v: _is_number(v) and 0.0 < v <= 0.5, "a number in (0, 0.5]"),
    "cut": (lambda v: v in ("lower", "upper", "both"), "one of lower, upper, both"),
}


@lru_cache(maxsize=None)
def mechanism_options(name: str) -> tuple[str, ...]:
    """The option names a mechanism takes: those its config file sets."""
    node = OmegaConf.load(CONFIG_DIR / "mechanism" / f"{name}.yaml")
    return tuple(node.get("options") or {})


def check_mechanism(name: Any, options: dict) -> None:
    if name not in MECHANISMS:
        raise UserError(f"mechanism={name!r}: unknown; valid choices: {', '.join(MECHANISMS)}")
    known = mechanism_options(name)
    for key, value in options.items():
        if key not in known:
            raise UserError(f"mechanism.options.{key}={value!r}: {name} takes no option {key!r}; "
                            f"valid options: {', '.join(known) or 'none'}")
        test, valid = OPTION_RANGES[key]
        if not test(value):
            raise UserError(f"mechanism.options.{key}={value!r}: must be {valid}")


def check_results_dir(results_dir: Any) -> None:
    """The folder must be (or become) a writable directory: checked by writing a probe file in
    ``<results_dir>/runs``, the folder records go to."""
    if results_dir is None or str(results_dir) == "":
        raise UserError("results_dir is empty: give a folder")
    runs = Path(str(results_dir)) / "runs"
    for p in (runs.parent, runs):
        if p.exists() and not p.is_dir():
            raise UserError(f"results_dir={str(results_dir)!r}: {p} is not a directory")
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=runs, prefix=".probe.", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UserError(f"results_dir={str(results_dir)!r}: not a writable directory ({exc.strerror or exc})") from None


@lru_cache(maxsize=None)
def base_preset_values(method: str) -> dict[str, Any]:
    """The constructor arguments of the method's complete preset (the file without ``defaults``):
    the types every other preset and override must keep."""
    for path in sorted((CONFIG_DIR / "method" / method).glob("*.yaml")):
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if "defaults" not in node:
            return {k: v for k, v in node.items() if k not in META_KEYS}
    return {}


def _type_problem(expected: Any, value: Any) -> str | None:
    if expected is None or value is None:
        return None
    if isinstance(expected, bool):
        return None if isinstance(value, bool) else "true or false"
    if _is_int(expected):
        return None if _is_int(value) else "an integer"
    if isinstance(expected, float):
        return None if _is_number(value) else "a number"
    if isinstance(expected, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(expected, list):
        return None if isinstance(value, list) else "a list"
    return None


def check_method(method_cfg: DictConfig, seed: int = 0) -> None:
    """Parameter names against the constructor's signature, types against the method's complete
    preset, values through the constructor and, where the class has one, ``_validate_params()``
    (scikit-learn style estimators validate there rather than in ``__init__``)."""
    label = f"{method_cfg.get('name')}/{method_cfg.get('preset')}"
    try:
        cls = get_class(method_cfg._target_)
    except Exception as exc:
        raise UserError(f"method={label}: cannot import {method_cfg._target_!r} ({exc})") from None
    params = method_params(method_cfg)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "random_state", "device"}
    for key, value in params.items():
        if key not in accepted:
            raise UserError(f"method.{key}={value!r}: {label} takes no parameter {key!r}; "
                            f"valid parameters: {', '.join(sorted(accepted)) or 'none'}")
    base = base_preset_values(method_cfg.name)
    for key, value in params.items():
        problem = _type_problem(base.get(key), value)
        if problem:
            raise UserError(f"method.{key}={value!r}: must be {problem}")
    try:
        imputer = cls(**params, random_state=seed, device="cpu")
        validate = getattr(imputer, "_validate_params", None)
        if callable(validate):
            validate()
    except (TypeError, ValueError) as exc:
        raise UserError(f"method={label}: {exc}") from None


def check_downstream(cfg: DictConfig) -> None:
    """``downstream`` is a switch; ``downstream_reference`` a list of results folders (or null).
    The datasets are checked by :func:`check_downstream_datasets` (a sweep composes its cells'
    configs without their dataset)."""
    check_switch("downstream", cfg.get("downstream", False))
    refs = cfg.get("downstream_reference")
    if refs is not None and (not OmegaConf.is_list(refs) or not all(isinstance(r, str) for r in refs)):
        raise UserError(f"downstream_reference={refs!r}: must be a list of results folders, or null")


def check_downstream_datasets(downstream: Any, datasets: list[str]) -> None:
    """With ``downstream=true`` every dataset must have a downstream task."""
    from knewimp.protocol.downstream import TASKS

    if downstream is True:
        for name in datasets:
            if name not in TASKS:
                raise UserError(f"downstream=true with dataset={name!r}: no downstream task; "
                                f"valid datasets: {', '.join(TASKS)}")


def check_cell(cfg: DictConfig, results_dir: bool = True) -> None:
    """Every check of one composed cell config (the results folder too unless told not to)."""
    check_seed(cfg.seed)
    for key, value in (("dataset.name", cfg.dataset.get("name")), ("mechanism.name", cfg.mechanism.get("name")),
                       ("method.name", cfg.method.get("name")), ("method.preset", cfg.method.get("preset"))):
        check_name(key, value)
    check_missing_rate(cfg.missing_rate)
    check_threads(cfg.get("threads"))
    check_wass_max_rows(cfg.get("wass_max_rows"))
    check_scaling(cfg.get("scaling", SCALINGS[0]))
    scale_problem = check_scale_keys(cfg)
    if scale_problem:
        raise UserError(scale_problem)
    for key in ("force", "retry_failed"):
        check_switch(key, cfg.get(key, False))
    if cfg.get("download") is not None and not isinstance(cfg.download, bool):
        raise UserError(f"download={cfg.download!r}: must be true, false or null "
                        f"(null: download unless KNEWIMP_OFFLINE=1)")
    options = cfg.mechanism.get("options")
    check_mechanism(cfg.mechanism.name, {} if options is None else OmegaConf.to_container(options, resolve=True))
    try:
        parse_stop_at(cfg.get("stop_at"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        resolve_device(cfg.device)
    except ValueError as exc:
        raise UserError(f"device={cfg.device!r}: {exc}") from None
    data_dir = cfg.get("data_dir")
    if data_dir is not None and not os.path.isdir(str(data_dir)):
        raise UserError(f"data_dir={str(data_dir)!r}: not a folder (the raw UCI files; or unset it to use "
                        "KNEWIMP_DATA_DIR)")
    check_method(cfg.method, cfg.seed)
    check_downstream(cfg)
    if results_dir:
        check_results_dir(cfg.results_dir)
