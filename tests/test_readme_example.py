"""The README's library example runs as written on the core install alone: in a fresh interpreter
where pandas (the harness's dependency, not the library's) cannot be imported."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Makes pandas unimportable as if it were not installed. A finder rather than
#: ``sys.modules["pandas"] = None``: scikit-learn looks pandas up in sys.modules and would take
#: the None for the module; torch asks find_spec, which must not raise.
NO_PANDAS = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys

    class _Absent(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            return importlib.machinery.ModuleSpec(name, self) if name.split(".")[0] == "pandas" else None

        def create_module(self, spec):
            raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, _Absent())
""")

CHECKS = textwrap.dedent("""
    import numpy as np
    try:
        import pandas
    except ImportError:
        pass
    else:
        raise AssertionError("pandas importable")
    assert isinstance(X_filled, np.ndarray) and X_filled.shape == X_fit.shape
    assert not np.isnan(X_filled).any()
    observed = ~np.isnan(X_fit)
    assert np.array_equal(X_filled[observed], X_fit[observed])
    assert y_new.shape == (50,) and np.isfinite(y_new).all()
    print("example ran; pandas loaded:", "pandas" in sys.modules)
""")


def readme_example() -> str:
    section = (ROOT / "README.md").read_text().split("## The library", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    return code


def test_the_readme_library_example_runs_without_pandas(tmp_path):
    script = NO_PANDAS + readme_example() + CHECKS
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "example ran; pandas loaded: False" in proc.stdout


def test_the_mixed_type_example_of_its_page_runs_and_returns_valid_levels():
    """docs/mixed.md's example (pandas in, pandas out) runs as written, in a namespace of its own (it
    needs no interpreter of its own: pandas is there, as the page says); its own assert checks the levels."""
    text = (ROOT / "docs" / "mixed.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(code, "docs/mixed.md", "exec"), {"__name__": "__main__"})
