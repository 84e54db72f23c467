"""The comparisons the report draws, defined once: which (method, preset) column stands for each
method of the paper's main table, and what that column is.

Every reader (claims, the headline, the paper comparison, the README) takes its views from here.

* ``paper``: every baseline at the settings the KnewImp paper states (App. E.2, the ``paper``
  presets), beside KnewImp ``paper``: the view whose printed numbers we expect to reproduce.
* ``published``: every baseline at its authors' published settings. Where a full published run
  is beyond the CPU budget the ``cpu`` preset stands in, labelled as what it is (the published
  network with the settings it cuts, :func:`stand_in_label`), never as published.
* ``grid``: the presets the committed main grid ran (TDM and GAIN at the paper's settings, five
  baselines at their ``cpu`` presets, Sinkhorn at its published ones): a mixed view, complete
  today, named for what it is.

A view's columns are fixed here; a column without records is shown as incomplete ("k of 24
blocks"), never replaced by another preset.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import yaml

from knewimp.report.selection import Column
from knewimp.vocab import CONFIG_DIR

REFERENCE = Column("knewimp", "paper")


class ViewColumn(NamedTuple):
    method: str
    preset: str
    #: why this preset stands for the method in this view (shown in the view's description)
    why: str = ""
    #: the preset whose settings this one stands in for (``""``: it is that view's own setting)
    stands_in_for: str = ""

    @property
    def column(self) -> Column:
        return Column(self.method, self.preset)


@dataclass(frozen=True)
class View:
    name: str
    meaning: str
    columns: tuple[ViewColumn, ...]

    @property
    def stand_ins(self) -> list[Column]:
        """Columns standing in for a setting the view names but could not afford."""
        return [c.column for c in self.columns if c.stands_in_for]

    def column_list(self) -> list[Column]:
        return [c.column for c in self.columns]

    def describe(self, column: Column) -> str:
        """What ``column`` is in this view: its preset, and for a stand-in what it cuts."""
        vc = next(c for c in self.columns if c.column == column)
        if vc.stands_in_for:
            return f"`{vc.preset}`: {stand_in_label(vc.method, vc.preset, vc.stands_in_for)}"
        return f"`{vc.preset}`" + (f" ({vc.why})" if vc.why else "")


_KNEWIMP = ViewColumn("knewimp", "paper", "the authors' run script")
_SINK = ViewColumn("sinkhorn", "published", "Muzellec et al.'s settings; the paper states none of its own")
_REMASKER = ViewColumn("remasker", "paper", "App. E.2 states ReMasker's published settings: the presets coincide")

PAPER = View("paper", "every baseline at the settings the KnewImp paper states (App. E.2)", (
    _KNEWIMP,
    ViewColumn("csdi_t", "paper"), ViewColumn("missdiff", "paper"), ViewColumn("tdm", "paper"),
    ViewColumn("gain", "paper"), ViewColumn("miwae", "paper"), _REMASKER,
    ViewColumn("miracle", "paper"), _SINK))

PUBLISHED = View("published", "every baseline at its authors' published settings", (
    _KNEWIMP,
    ViewColumn("csdi_t", "cpu", stands_in_for="published"),
    ViewColumn("missdiff", "cpu", stands_in_for="published"),
    ViewColumn("tdm", "published"), ViewColumn("gain", "published"), ViewColumn("miwae", "published"),
    _REMASKER, ViewColumn("miracle", "published"), _SINK))

GRID = View("grid", "the presets the committed main grid ran: TDM and GAIN at the paper's settings, "
            "five baselines at their `cpu` presets, Sinkhorn at its published settings", (
    _KNEWIMP,
    ViewColumn("csdi_t", "cpu", stands_in_for="published"),
    ViewColumn("missdiff", "cpu", stands_in_for="published"),
    ViewColumn("tdm", "paper"), ViewColumn("gain", "paper"),
    ViewColumn("miwae", "cpu", stands_in_for="published"),
    ViewColumn("remasker", "cpu", stands_in_for="published"),
    ViewColumn("miracle", "cpu", stands_in_for="published"), _SINK))

#: In the order the report reads them.
VIEWS: tuple[View, ...] = (PAPER, PUBLISHED, GRID)


def view(name: str) -> View:
    for v in VIEWS:
        if v.name == name:
            return v
    raise KeyError(f"view {name!r} is not one of {[v.name for v in VIEWS]}")


@lru_cache(maxsize=None)
def _preset_keys(method: str, preset: str) -> dict:
    """The keys a preset file sets itself (not those it inherits), without Hydra's ``defaults``."""
    path = CONFIG_DIR / "method" / method / f"{preset}.yaml"
    node = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {k: v for k, v in node.items() if k not in ("defaults", "preset", "name", "_target_")}


def stand_in_label(method: str, preset: str, of: str = "published", short: bool = False) -> str:
    """What a stand-in preset cuts, from the two preset files: e.g. ``the published network, epochs
    120 of 500, n_steps 30 of 150``; read from the configs, so it cannot drift from what ran.
    ``short``: only the counts it cuts (``epochs 120 of 500, ...``)."""
    own, ref = _preset_keys(method, preset), _preset_keys(method, of)
    cuts = []
    for k, v in own.items():
        if k in ref and ref[k] != v:
            if _is_smaller(v, ref[k]):
                cuts.append(f"{k} {v} of {ref[k]}")
            elif not short:
                cuts.append(f"{k} {v} ({of} {ref[k]})")
    if short:
        return ", ".join(cuts)
    return f"the {of} network, " + ", ".join(cuts) if cuts else f"the {of} settings"


def _is_smaller(a, b) -> bool:
    return (isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and a < b)
