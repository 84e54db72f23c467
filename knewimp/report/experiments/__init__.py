"""The report of each experiment, one module per experiment; adding an experiment adds one module here.

A module ``<name>.py`` in this package (other than :mod:`.common`, the helpers they share) defines

- ``report(results_dir, out, log=print) -> list[Path]``: writes its tables under ``<out>/tables/``
  and figures under ``<out>/figures/`` from the records under ``results_dir`` (the top results
  folder; the module knows its own subfolder), and writes nothing when its records are absent;
- optionally ``GRIDS``: ``((experiment, status file, records folder under results_dir), ...)``, the
  Hydra experiments whose progress ``make tables`` reports (``tables/<status file>``);
- optionally ``DOCUMENTS``: documents (relative to the project root) with ``<!-- results:NAME -->``
  blocks filled from its tables.

:func:`modules` finds them; :mod:`knewimp.report.build` runs every one, in name order.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

#: Modules of this package that are not experiments.
SHARED = ("common",)


def modules() -> list[ModuleType]:
    """Every experiment module of this package, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in SHARED and not m.name.startswith("_"))
    found = [importlib.import_module(f"{__name__}.{name}") for name in names]
    for module in found:
        if not callable(getattr(module, "report", None)):
            raise TypeError(f"{module.__name__} defines no report(results_dir, out, log) function")
    return found
