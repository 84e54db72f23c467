"""A method preset (``"tdm/paper"``) as the harness composes it, for scripts and tests."""
from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class

from knewimp.harness.identity import method_params
from knewimp.harness.sweep import _compose


def preset_params(choice: str, *overrides: str) -> tuple[type, dict[str, Any]]:
    """(imputer class, constructor arguments) of a method preset such as ``"knewimp/quick"``;
    ``overrides`` are Hydra overrides such as ``"method.n_steps=10"``."""
    cfg = _compose([f"method={choice}", *overrides])
    return get_class(cfg.method._target_), method_params(cfg.method)


def runtime_arguments(cls: type, params: dict[str, Any], random_state: int | None, device: str,
                      threads: int | None = 1) -> dict[str, Any]:
    """The constructor arguments the harness sets itself (:data:`knewimp.base.RUNTIME_PARAMS`),
    for those ``cls`` takes and the preset ``params`` do not fix: the cell's seed and device,
    ``standardize=False`` (the protocol hands over data it has already standardised on the
    complete matrix) and ``num_threads=threads``."""
    accepted = inspect.signature(cls).parameters
    wanted = dict(random_state=random_state, device=device, standardize=False, num_threads=threads)
    return {k: v for k, v in wanted.items()
            if k not in params and (k in accepted or k in ("random_state", "device"))}


def build_imputer(choice: str, *overrides: str, random_state: int | None = 0, device: str = "cpu",
                  threads: int | None = 1):
    """The imputer of a method preset as the harness builds it, ready to ``fit_transform``."""
    cls, params = preset_params(choice, *overrides)
    return cls(**params, **runtime_arguments(cls, params, random_state, device, threads))
