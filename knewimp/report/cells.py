"""One (mechanism, metric) table as numbers: per-cell mean and std, row best and second, and significance.

Significance is against the reference column, over the seeds both cells have ok records for:
a one-sided paired t-test, uncorrected (the paper's test), and a one-sided Wilcoxon signed-rank
test, Holm-adjusted over all the comparisons of the table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from knewimp.report import stats
from knewimp.report.selection import Column, column_labels, columns_in, datasets_in, is_number
from knewimp.vocab import METRICS

ALPHA = 0.05


@dataclass
class Cell:
    values: dict[int, float] = field(default_factory=dict)          # seed -> metric (ok records)
    failed: list[dict] = field(default_factory=list)
    no_value: list[int] = field(default_factory=list)               # seeds of ok records without this metric
    approximations: set = field(default_factory=set)
    mean: float = float("nan")
    std: float = float("nan")
    best: bool = False
    second: bool = False
    ttest_p: float = float("nan")
    wilcoxon_p: float = float("nan")
    wilcoxon_p_holm: float = float("nan")
    n_pairs: int = 0

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def ttest_sig(self) -> bool:
        return bool(self.ttest_p < ALPHA)

    @property
    def wilcoxon_sig(self) -> bool:
        return bool(self.wilcoxon_p_holm < ALPHA)


@dataclass
class Table:
    mechanism: str
    metric: str
    datasets: list[str]
    columns: list[Column]
    labels: dict[Column, str]
    cells: dict[tuple[str, Column], Cell]
    reference: Column | None
    max_seeds: int
    n_comparisons: int

    def cell(self, dataset: str, column: Column) -> Cell:
        return self.cells[(dataset, column)]


def _fill(cells: dict[tuple[str, Column], Cell], records: list[dict], metric: str) -> None:
    for r in records:
        cell = cells[(r["dataset"], Column.of(r))]
        if r["status"] != "ok":
            cell.failed.append(r)
        elif is_number(r.get(metric)):
            cell.values[int(r["seed"])] = float(r[metric])
            if metric == "wass" and r.get("wass_method") not in (None, "exact"):
                cell.approximations.add(str(r["wass_method"]))
        else:
            cell.no_value.append(int(r["seed"]))
    for cell in cells.values():
        if cell.n:
            v = np.array(list(cell.values.values()))
            cell.mean = float(v.mean())
            cell.std = float(v.std(ddof=1)) if v.size > 1 else float("nan")


def _mark_best(cells: dict[tuple[str, Column], Cell], datasets: list[str], columns: list[Column]) -> None:
    """Bold and underline go to every cell at the lowest and second lowest mean: ties share them."""
    for ds in datasets:
        row = [cells[(ds, c)] for c in columns if cells[(ds, c)].n]
        means = sorted({cell.mean for cell in row})
        for cell in row:
            cell.best = cell.mean == means[0]
            cell.second = len(means) > 1 and cell.mean == means[1]


def _compare(cells: dict[tuple[str, Column], Cell], datasets: list[str], columns: list[Column],
             reference: Column) -> int:
    """Test every cell against the reference cell of its row; return the number of Wilcoxon p-values."""
    comparisons = []
    for ds in datasets:
        ref = cells[(ds, reference)]
        for c in columns:
            if c == reference:
                continue
            cell = cells[(ds, c)]
            seeds = sorted(set(ref.values) & set(cell.values))
            cell.n_pairs = len(seeds)
            if not seeds:
                continue
            a = [ref.values[s] for s in seeds]
            b = [cell.values[s] for s in seeds]
            cell.ttest_p = stats.paired_ttest(a, b, alternative="less")
            cell.wilcoxon_p = stats.wilcoxon_signed_rank(a, b, alternative="less")
            comparisons.append(cell)
    for cell, p in zip(comparisons, stats.holm([c.wilcoxon_p for c in comparisons])):
        cell.wilcoxon_p_holm = float(p)
    return int(np.sum(~np.isnan([c.wilcoxon_p for c in comparisons]))) if comparisons else 0


def build_table(records: list[dict], mechanism: str, metric: str, reference: Column | None,
                labels: dict[Column, str] | None = None) -> Table:
    """Aggregate the (selected) records of one mechanism into a table for ``metric``."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not one of {METRICS}")
    recs = [r for r in records if r["mechanism"] == mechanism]
    datasets, columns = datasets_in(recs), columns_in(recs)
    labels = labels or column_labels(columns)
    cells = {(ds, c): Cell() for ds in datasets for c in columns}
    _fill(cells, recs, metric)
    _mark_best(cells, datasets, columns)
    n_comp = _compare(cells, datasets, columns, reference) if reference is not None and reference in columns else 0
    max_seeds = max((c.n for c in cells.values()), default=0)
    return Table(mechanism, metric, datasets, columns, labels, cells, reference, max_seeds, n_comp)
