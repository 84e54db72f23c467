"""The README's library example runs as written: a KnewImputer with pandas output in a Pipeline."""
import re
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_library_example_runs():
    section = (ROOT / "README.md").read_text().split("## The library", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    namespace: dict = {}
    exec(compile(code, "README.md (## The library)", "exec"), namespace)
    X_fit, X_filled, y_new = namespace["X_fit"], namespace["X_filled"], namespace["y_new"]
    assert isinstance(X_filled, pd.DataFrame) and X_filled.index.equals(X_fit.index)
    assert list(X_filled.columns) == list(X_fit.columns) and not X_filled.isna().any().any()
    observed = X_fit.notna().to_numpy()
    assert np.array_equal(X_filled.to_numpy()[observed], X_fit.to_numpy()[observed])
    assert y_new.shape == (50,) and np.isfinite(y_new).all()
