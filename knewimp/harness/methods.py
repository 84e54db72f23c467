"""A method preset (``"tdm/paper"``) as the harness composes it, for scripts and tests."""
from __future__ import annotations

from typing import Any

from hydra.utils import get_class

from knewimp.harness.identity import method_params
from knewimp.harness.sweep import _compose


def preset_params(choice: str, *overrides: str) -> tuple[type, dict[str, Any]]:
    """(imputer class, constructor arguments) of a method preset such as ``"knewimp/quick"``;
    ``overrides`` are Hydra overrides such as ``"method.n_steps=10"``."""
    cfg = _compose([f"method={choice}", *overrides])
    return get_class(cfg.method._target_), method_params(cfg.method)


def build_imputer(choice: str, *overrides: str, random_state: int | None = 0, device: str = "cpu"):
    """The imputer of a method preset, ready to ``fit_transform``."""
    cls, params = preset_params(choice, *overrides)
    return cls(**params, random_state=random_state, device=device)
