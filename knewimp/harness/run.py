"""Hydra entry point: one cell (dataset, mechanism, missing rate, seed, method/preset) -> one record.

    knewimp-run dataset=cc mechanism=mar method=mice/single seed=3
    knewimp-run -m dataset=bt,cc mechanism=mcar,mar method=mean/published,mice/single seed=0,1,2
    knewimp-run -m experiment=reproduce
    knewimp-run -m experiment=reproduce method=mine/published 'hydra.searchpath=[file:///home/me/conf]'

A cell whose record says ``ok`` is skipped (resume) unless ``force=true``; a failed cell is retried.
"""
from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path
from typing import Sequence

import hydra
from omegaconf import DictConfig

from knewimp.harness.cell import UserError, run_cell
from knewimp.vocab import CONFIG_DIR

#: Config groups whose choice is a file under CONFIG_DIR/<group>/ (the method's as method/preset).
CHOICE_GROUPS = ("method", "dataset", "mechanism", "experiment", "logger")


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def _main(cfg: DictConfig) -> float | None:
    try:
        record = run_cell(cfg)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return record.get("mae")


def valid_choices(group: str, config_dirs: Sequence[Path] = ()) -> list[str]:
    """The options of a config group, e.g. ``tdm/paper`` for ``method``, in the package's configs
    and in ``config_dirs`` (folders added to Hydra's search path)."""
    found = set()
    for root in (CONFIG_DIR, *config_dirs):
        folder = Path(root) / group
        found.update(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
    return sorted(found)


def searchpath_dirs(overrides: list) -> list[Path] | None:
    """The folders a ``hydra.searchpath=[file:///...,pkg://...]`` override adds (a user's own
    method and experiment configs); None when one cannot be located (it is then Hydra's to judge)."""
    dirs = []
    for o in overrides:
        if o.key_or_group != "hydra.searchpath" or o.value() is None:
            continue
        value = o.value()
        for entry in value if isinstance(value, list) else [value]:
            entry = str(entry)
            if entry.startswith("pkg://"):
                package, _, sub = entry[len("pkg://"):].partition("/")
                try:
                    dirs.append(Path(str(importlib.resources.files(package))) / sub)
                except (ModuleNotFoundError, TypeError, ValueError):
                    return None
            else:
                dirs.append(Path(entry.removeprefix("file://")))
    return dirs


def _choices(overrides: list, key: str) -> list[str]:
    for o in overrides:
        if o.key_or_group == key and o.value() is not None:
            return list(o.sweep_string_iterator()) if o.is_sweep_override() else [str(o.value())]
    return []


def check_choices(argv: list[str]) -> str | None:
    """Name the valid options when a command line picks one that does not exist (Hydra would
    report a missing file, and an unknown experiment would otherwise be looked for in vain)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if "=" in a and not a.startswith("-")])
    except Exception:  # Hydra itself reports malformed overrides
        return None
    extra = searchpath_dirs(overrides)
    if extra is None:
        return None
    for group in CHOICE_GROUPS:
        valid = valid_choices(group, extra)
        for choice in _choices(overrides, group):
            if choice not in valid:
                hint = ""
                if group == "method" and "/" not in choice:
                    presets = [v for v in valid if v.split("/")[0] == choice]
                    hint = f" (a method is chosen with its preset, e.g. {presets[0]})" if presets else ""
                return f"unknown {group} {choice!r}{hint}; valid choices: {', '.join(valid)}"
    return None


def main() -> None:
    problem = check_choices(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    _main()


if __name__ == "__main__":
    main()
