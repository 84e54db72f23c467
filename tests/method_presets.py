"""A preset's constructor arguments, read from configs/method/<name>/<preset>.yaml (new layout)."""
from pathlib import Path

from omegaconf import OmegaConf

METHOD_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "method"
META_KEYS = ("_target_", "name", "preset", "defaults")


def preset_args(method: str, preset: str) -> dict:
    """``published`` merged with ``preset`` (presets other than published state differences only)."""
    folder = METHOD_CONFIGS / method
    cfg = OmegaConf.load(folder / "published.yaml")
    if preset != "published":
        cfg = OmegaConf.merge(cfg, OmegaConf.load(folder / f"{preset}.yaml"))
    return {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in META_KEYS}
