"""Where each column of a view stands: average ranks, blocks won, and KnewImp against the
strongest baseline head to head, counted over the view's complete blocks only.

A block (dataset x mechanism) is complete in a view when every column of the view has ok records
for as many seeds as the fullest entry (:func:`knewimp.report.ranks.block_means`) in both ranked
metrics. A column's own progress is its number of such full blocks ("k of 24 blocks").

* average rank: per complete block, rank 1 = lowest mean (ties share the mean rank), averaged;
* best / best or second: blocks where the column's place (1 + columns with a strictly lower
  mean) is 1 / at most 2;
* strongest baseline: the non-reference column with the lowest average MAE rank (then WASS);
* head to head: blocks where one column's mean is strictly lower than the other's; such a block
  is significant when the paired one-sided t-test over the seeds both have (H1: that column's
  error is lower) has a Holm-adjusted p < 0.05, Holm over the complete blocks of that direction.
* a failed cell (a record ``failed``, kept as the result: the same cell fails the same way again)
  is scored as :data:`FALLBACK`'s ok record of the same cell, the convention of the AutoML
  benchmark (Gijsbers et al., 2024: a failed run counts as the constant baseline on that task).
  A column that fails cells is then ranked on every block rather than dropping those blocks from
  the whole view; each column says how many of its cells were so scored.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from knewimp.report import stats
from knewimp.report.cells import ALPHA
from knewimp.report.ranks import block_means
from knewimp.report.selection import Column, is_number
from knewimp.report.views import View
from knewimp.vocab import RANKED_METRICS


#: What a failed cell scores as: the column mean's imputation of the same cell (same mask).
FALLBACK = Column("mean", "published")


@dataclass
class ColumnStanding:
    column: Column
    description: str
    full_blocks: int                                          # blocks where this column has every seed
    avg_rank: dict[str, float] = field(default_factory=dict)  # metric -> average rank (NaN: no complete block)
    best: dict[str, int] = field(default_factory=dict)
    top2: dict[str, int] = field(default_factory=dict)
    scored_as_fallback: int = 0                               # failed cells scored as FALLBACK's record


@dataclass
class HeadToHead:
    metric: str
    blocks: int
    ref_lower: int
    ref_lower_significant: int
    other_lower: int
    other_lower_significant: int


@dataclass
class Standing:
    view: View
    reference: Column
    n_blocks: int                                  # blocks the reference has records in
    complete: list[tuple[str, str]]
    columns: list[ColumnStanding]                  # ranked: lowest average MAE rank first
    strongest: Column | None
    head_to_head: dict[str, HeadToHead]

    def of(self, column: Column) -> ColumnStanding:
        return next(c for c in self.columns if c.column == column)

    @property
    def top(self) -> ColumnStanding | None:
        return self.columns[0] if self.complete else None

    @property
    def waiting(self) -> list[ColumnStanding]:
        return [c for c in self.columns if c.full_blocks < self.n_blocks]


def _seed_values(records: list[dict], metric: str) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in records:
        if r["status"] == "ok" and is_number(r.get(metric)):
            out[((r["dataset"], r["mechanism"]), Column.of(r))][int(r["seed"])] = float(r[metric])
    return out


def _head_to_head(records, metric, blocks, ref: Column, other: Column, alpha: float) -> HeadToHead:
    values = _seed_values(records, metric)
    lower = {ref: [], other: []}
    pvals = {ref: [], other: []}
    for b in blocks:
        a, o = values[(b, ref)], values[(b, other)]
        seeds = sorted(set(a) & set(o))
        xa, xo = [a[s] for s in seeds], [o[s] for s in seeds]
        ma, mo = float(np.mean([a[s] for s in a])), float(np.mean([o[s] for s in o]))
        for col, mine, theirs, m1, m2 in ((ref, xa, xo, ma, mo), (other, xo, xa, mo, ma)):
            if m1 < m2:
                lower[col].append(b)
                pvals[col].append(stats.paired_ttest(mine, theirs, "less"))
    sig = {c: int(np.sum(stats.holm(p) < alpha)) if p else 0 for c, p in pvals.items()}
    return HeadToHead(metric, len(blocks), len(lower[ref]), sig[ref], len(lower[other]), sig[other])


def _cell(r: dict) -> tuple:
    return (r["dataset"], r["mechanism"], r.get("missing_rate"), int(r["seed"]),
            json.dumps(r.get("protocol") or {}, sort_keys=True))


def failures_scored(records: list[dict], columns: list[Column]) -> tuple[list[dict], Counter]:
    """The records of ``columns``, each failed cell without an ok record of its column replaced by a
    copy of :data:`FALLBACK`'s ok record of the same cell (dataset, mechanism, rate, seed and
    protocol: the same mask) under the failed column's name, marked ``scored_as``; a failed cell
    with no such record stays failed. Also the number of cells so scored per column."""
    fallback = {_cell(r): r for r in records if Column.of(r) == FALLBACK and r["status"] == "ok"}
    ok = {(Column.of(r), _cell(r)) for r in records if r["status"] == "ok"}
    out, scored, done = [], Counter(), set()
    for r in records:
        c, cell = Column.of(r), _cell(r)
        if c not in columns:
            continue
        sub = fallback.get(cell) if r["status"] == "failed" and (c, cell) not in ok else None
        if sub is None:
            out.append(r)
        elif (c, cell) not in done:  # one substitute however many failed records the cell has
            done.add((c, cell))
            out.append({**sub, "method": c.method, "preset": c.preset,
                        "scored_as": f"{FALLBACK.method}/{FALLBACK.preset}", "failed_error": r.get("error")})
            scored[c] += 1
    return out, scored


def standing(records: list[dict], view: View, reference: Column, alpha: float = ALPHA) -> Standing:
    """The standing of every column of ``view`` (the reference's column replacing its method's)."""
    columns = [reference if c.method == reference.method else c for c in view.column_list()]
    recs, scored = failures_scored(records, columns)
    ref_blocks = {(r["dataset"], r["mechanism"]) for r in records
                  if Column.of(r) == reference and r["status"] == "ok"}
    means, full = {}, defaultdict(set)
    for metric in RANKED_METRICS:
        blocks, cols, M = block_means(recs, metric)
        for i, b in enumerate(blocks):
            for j, c in enumerate(cols):
                if not math.isnan(M[i, j]):
                    means[(metric, b, c)] = M[i, j]
                    full[(metric, c)].add(b)
    complete = sorted(b for b in ref_blocks if all((m, b, c) in means for m in RANKED_METRICS for c in columns))
    described = {c: view.describe(c) if c in view.column_list() else f"`{c.preset}`" for c in columns}
    out = {c: ColumnStanding(c, described[c], len(ref_blocks & full[("mae", c)] & full[("wass", c)]),
                             scored_as_fallback=scored[c]) for c in columns}
    for metric in RANKED_METRICS:
        M = np.array([[means[(metric, b, c)] for c in columns] for b in complete]).reshape(len(complete), len(columns))
        ranks = stats.average_ranks(M) if complete else np.full(len(columns), np.nan)
        places = 1 + (M[:, None, :] < M[:, :, None]).sum(axis=2) if complete else np.zeros((0, len(columns)))
        for j, c in enumerate(columns):
            out[c].avg_rank[metric] = float(ranks[j])
            out[c].best[metric] = int((places[:, j] == 1).sum())
            out[c].top2[metric] = int((places[:, j] <= 2).sum())
    ranked = sorted(out.values(), key=lambda s: tuple(
        (math.inf if math.isnan(s.avg_rank[m]) else s.avg_rank[m]) for m in RANKED_METRICS))
    baselines = [s.column for s in ranked if s.column != reference]
    strongest = baselines[0] if complete and baselines else None
    h2h = {m: _head_to_head(recs, m, complete, reference, strongest, alpha) for m in RANKED_METRICS} if strongest else {}
    return Standing(view, reference, len(ref_blocks), complete, ranked, strongest, h2h)
