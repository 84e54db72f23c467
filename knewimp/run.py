"""Hydra entry point: one cell (dataset, mechanism, missing rate, seed, method, preset) -> one record.

    python -m knewimp.run dataset=cc mechanism=mar method=mice seed=3
    python -m knewimp.run -m dataset=bt,cc mechanism=mcar,mar method=mean,mice seed=0,1,2

A cell whose record says ``ok`` is skipped (resume) unless ``force=true``; a failed cell is retried.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from knewimp.cell import UserError, run_cell

log = logging.getLogger("knewimp.run")


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def _main(cfg: DictConfig) -> float | None:
    try:
        record = run_cell(cfg)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return record.get("mae")


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def _choices(overrides: list, key: str) -> list[str]:
    for o in overrides:
        if o.key_or_group == key and o.value() is not None:
            return list(o.sweep_string_iterator()) if o.is_sweep_override() else [str(o.value())]
    return []


def check_presets(argv: list[str]) -> str | None:
    """Hydra reports an unknown preset of a method as a missing file; name the valid ones instead."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if "=" in a and not a.startswith("-")])
    except Exception:  # Hydra itself reports malformed overrides
        return None
    for preset in _choices(overrides, "preset"):
        for method in _choices(overrides, "method") or ["mean"]:
            folder = CONFIG_DIR / "method_preset" / method
            if folder.is_dir() and not (folder / f"{preset}.yaml").is_file():
                valid = sorted(p.stem for p in folder.glob("*.yaml"))
                return f"unknown preset {preset!r} for method {method!r}; valid choices: {', '.join(valid)}"
    return None


def main() -> None:
    problem = check_presets(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    _main()


if __name__ == "__main__":
    main()
