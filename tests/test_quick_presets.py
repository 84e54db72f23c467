"""A smoke preset is a smoke test only if it beats column means: the cheap quick presets on pk
(23 columns, where an under-trained KnewImp score once gave twice the mean's error).

The full table over the eight datasets and every method: python scripts/quick_vs_mean.py
"""
import runpy
from pathlib import Path

import pytest

from knewimp.protocol.datasets import DataError, load_dataset

SCRIPT = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "quick_vs_mean.py"))


@pytest.fixture(scope="module", autouse=True)
def pk_available():
    try:
        load_dataset("pk", download=False)
    except DataError as exc:
        pytest.skip(f"pk not available offline: {exc}")


@pytest.mark.parametrize("method", ["knewimp", "tdm", "mice", "sinkhorn"])
def test_quick_preset_beats_column_mean_on_a_wide_dataset(method):
    quick, mean, _ = SCRIPT["quick_vs_mean"]("pk", "mcar", method)
    assert quick < mean, f"{method}/quick MAE {quick:.3f} >= column mean {mean:.3f} on pk"
