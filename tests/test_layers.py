"""The layers import one way: report -> harness -> protocol -> method (and vocab, a leaf).

The method (knewimp's imputer, score, kernels, base, progress, reference) and baselines/ are
libraries: they never import the harness, the report, Hydra or wandb. The protocol knows nothing
of runs. Checked on the source's import statements, so a lazy import inside a function counts.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# rank of each layer: a module may import its own layer or a lower one
LAYERS = {"vocab": 0, "method": 1, "protocol": 2, "harness": 3, "report": 4}
FORBIDDEN_IN_LIBRARIES = ("hydra", "omegaconf", "wandb", "submitit", "matplotlib")


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "knewimp":
        return None
    if len(parts) == 1:
        return "method"
    if parts[1] == "vocab":
        return "vocab"
    return parts[1] if parts[1] in ("protocol", "harness", "report") else "method"


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted([*(ROOT / "knewimp").rglob("*.py"), *(ROOT / "baselines").rglob("*.py")])


def _module(path: Path) -> str:
    # baselines/ is installed as knewimp.baselines
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "baselines":
        parts = ("knewimp", *parts)
    return ".".join(parts).removesuffix(".__init__")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_point_down(path):
    mine = layer_of(_module(path))
    for name in imports_of(path):
        theirs = layer_of(name)
        if theirs is not None:
            assert LAYERS[theirs] <= LAYERS[mine], f"{_module(path)} ({mine}) imports {name} ({theirs})"
        if mine in ("method", "protocol", "vocab"):
            assert name.split(".")[0] not in FORBIDDEN_IN_LIBRARIES, f"{_module(path)} ({mine}) imports {name}"


def test_the_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from knewimp.harness import records\n")
    assert "knewimp.harness.records" in imports_of(bad) and layer_of("knewimp.harness.records") == "harness"


@pytest.mark.parametrize("path", SOURCES + sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "tests").glob("*.py")),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nothing_imports_a_top_level_baselines_package(path):
    # The baselines are installed as knewimp.baselines; a bare `baselines` works only by accident
    # (from the checkout's root) and would pick up another package of that name elsewhere.
    assert not {n for n in imports_of(path) if n.split(".")[0] == "baselines"}
