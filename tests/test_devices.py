"""Every method runs end to end on each accelerator torch sees (device=auto picks it in the grid).

Skipped on CPU-only machines; run on a GPU host with ``pytest tests/test_devices.py``. The CPU path
of each method is covered by its own test module.
"""
import numpy as np
import pytest
import torch

from conftest import low_rank_matrix, mcar
from knewimp.harness.methods import build_imputer
from knewimp.harness.run import valid_choices

METHODS = sorted({p.split("/")[0] for p in valid_choices("method")})
ACCELERATORS = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def quick_imputer(method: str, device: str):
    return build_imputer(f"{method}/quick", random_state=0, device=device)


@pytest.mark.parametrize("device", ACCELERATORS)
@pytest.mark.parametrize("method", METHODS)
def test_method_runs_on_accelerator(method, device):
    X = low_rank_matrix(n=120, d=5)
    Xm, mask = mcar(X)
    out = quick_imputer(method, device).fit_transform(Xm)
    assert isinstance(out, np.ndarray) and out.shape == X.shape
    assert np.isfinite(out).all(), method
    np.testing.assert_array_equal(out[~mask], X[~mask])


def test_records_name_the_device_a_method_really_uses(monkeypatch):
    """With a GPU visible, device=auto sends torch methods to it, while numpy/scikit-learn
    methods (mean, MICE) still run on the CPU and must not be recorded as 'cuda'."""
    from knewimp.harness.cell import _device_of

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    seen = {m: _device_of(quick_imputer(m, "auto")) for m in METHODS}
    assert seen == {m: "cpu" if m in ("mean", "mice", "mode", "mice_mixed") else "cuda" for m in METHODS}
    with pytest.raises(ValueError, match="valid choices"):
        quick_imputer("mean", "tpu").compute_device()
