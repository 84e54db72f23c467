"""A sweep's cells: the experiment's ``hydra.sweeper.params`` and command-line overrides expanded
into cell identities, composing each method configuration once.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
from pathlib import Path
from typing import Callable

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from knewimp.harness.identity import cell_identity
from knewimp.vocab import CONFIG_DIR

# Sweep keys whose values enter a cell's identity as they are; every other swept key (method,
# mechanism, method.entropy_weight, ...) changes the composed config beyond its own value (the
# method's parameters, the mechanism's options), so each of their combinations is composed.
DIRECT_KEYS = ("dataset", "seed", "missing_rate")

#: {sweep folder: {cell id: estimated seconds}} of the cells a launch prepared by
#: :func:`knewimp.harness.run.prepare` will run: its progress callback reads the plan here
#: instead of composing the sweep once more.
PREPARED: dict[str, dict[str, float | None]] = {}


def _compose(overrides: list[str]) -> DictConfig:
    """The config that ``knewimp-run`` composes for these overrides (inside a running Hydra
    context, such as a sweep callback's, that context's search path is used)."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def sweep_overrides(config: DictConfig, cli: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """(fixed overrides, {key: swept values}) of a multirun: ``hydra.sweeper.params`` of ``config``
    and the command-line overrides ``cli`` (default: ``hydra.overrides.task``); a command-line
    value for a key replaces the config's."""
    lines = {key: f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()}
    cli = list(config.hydra.overrides.task) if cli is None else cli
    for line in cli:
        lines[line.split("=", 1)[0]] = line
    fixed, sweeps = [], {}
    for key, override in zip(lines, OverridesParser.create().parse_overrides(list(lines.values()))):
        if override.is_sweep_override():
            sweeps[override.key_or_group] = list(override.sweep_string_iterator())
        else:
            fixed.append(lines[key])
    return fixed, sweeps


def sweep_plan(compose_fn: Callable[[list[str]], DictConfig], fixed: list[str], sweeps: dict[str, list[str]],
               check: Callable[[DictConfig, dict[str, str]], None] | None = None) -> list[tuple[dict, dict]]:
    """(swept values, identity dict) of every cell of a sweep, in the order of the swept keys.

    ``compose_fn(overrides)`` composes a config; it runs once per combination of the keys that
    change more than their own value, not once per cell; ``check(config, combination)`` is called
    on each composed config (a validation that raises)."""
    keys = [k for k in sweeps if k not in DIRECT_KEYS]
    composed = {}
    for combo in itertools.product(*(sweeps[k] for k in keys)):
        cfg = compose_fn([*fixed, *(f"{k}={v}" for k, v in zip(keys, combo))])
        if check is not None:
            check(cfg, dict(zip(keys, combo)))
        composed[combo] = (cfg, cell_identity(cfg))
    cells = []
    for combo in itertools.product(*sweeps.values()):
        values = dict(zip(sweeps, combo))
        _, base = composed[tuple(v for k, v in values.items() if k not in DIRECT_KEYS)]
        identity = dict(base)
        for key in DIRECT_KEYS:
            if key in values:
                identity[key] = values[key]
        identity["seed"], identity["missing_rate"] = int(identity["seed"]), float(identity["missing_rate"])
        cells.append((values, identity))
    return cells


def sweep_cells(compose_fn: Callable[[list[str]], DictConfig], fixed: list[str],
                sweeps: dict[str, list[str]]) -> list[dict]:
    """Identity dicts of every cell of a sweep, in the order of the swept keys (:func:`sweep_plan`)."""
    return [identity for _, identity in sweep_plan(compose_fn, fixed, sweeps)]


def experiment_config(experiment: str) -> DictConfig:
    """The composed config of ``experiment`` (its settings beside the sweep, e.g. ``retry_failed``)."""
    return _compose([f"experiment={experiment}"])


def expected_cells(experiment: str, extra: list[str] | None = None) -> list[dict]:
    """Identity dicts of every cell of ``experiment`` (values of its sweep params, ``extra``
    overrides such as ``method.entropy_weight=5`` applied to every cell).

    Outside a running Hydra context the expansion is kept for the process (``make tables`` asks
    for each grid more than once, and composing is most of its time); inside one, the context's
    search path may differ, so it is expanded afresh."""
    if GlobalHydra.instance().is_initialized():
        return _expand(experiment, tuple(extra or ()))
    return copy.deepcopy(_expand_cached(experiment, tuple(extra or ())))


def _expand(experiment: str, extra: tuple[str, ...]) -> list[dict]:
    cli = [f"experiment={experiment}", *extra]
    fixed, sweeps = sweep_overrides(_compose(cli), cli=cli)
    return sweep_cells(_compose, fixed, sweeps)


def _expansion_digest(experiment: str, extra: tuple[str, ...]) -> str:
    """What an expansion depends on: the experiment and overrides, every config file (name and
    bytes), the code that turns a composed config into an identity, and Hydra's version."""
    import hydra

    from knewimp.harness import identity

    h = hashlib.sha256(json.dumps([experiment, list(extra), hydra.__version__]).encode())
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        h.update(path.relative_to(CONFIG_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for source in (identity.__file__, __file__):
        h.update(Path(source).read_bytes())
    return h.hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def _expand_cached(experiment: str, extra: tuple[str, ...]) -> list[dict]:
    """The expansion, kept in the process and on disk (the user cache's ``expansions/``, keyed by
    :func:`_expansion_digest`): composing a large grid takes seconds per method and dataset, and
    ``make tables``, ``knewimp-status`` and the tests expand the same grids again and again. A
    cache file that cannot be read or written is ignored."""
    from knewimp.harness.atomic import write_text_atomic
    from knewimp.protocol.datasets import cache_dir

    path = cache_dir() / "expansions" / f"{experiment}-{_expansion_digest(experiment, extra)}.json"
    try:
        cells = json.loads(path.read_text())
        if isinstance(cells, list) and all(isinstance(c, dict) for c in cells):
            return cells
    except (OSError, ValueError):
        pass
    cells = _expand(experiment, extra)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(cells))
    except OSError:
        pass
    return cells
