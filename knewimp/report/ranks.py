"""Average ranks of the columns over dataset-mechanism blocks, with Friedman and Nemenyi, and their report.

A block's entry for a column is its mean over ok seeds. Only complete blocks are ranked
(``stats.complete_blocks``); the dropped blocks and columns are reported.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from knewimp.report import stats
from knewimp.report.cells import ALPHA
from knewimp.report.selection import Column, columns_in, dataset_key, is_number, mechanism_key, mechanisms_in
from knewimp.report.render import MISSING, csv_number
from knewimp.vocab import METRICS, RANKED_METRICS

RANK_CSV_FIELDS = ("metric", "scope", "column", "method", "preset", "avg_rank", "n_blocks", "k",
                   "friedman_chi2", "friedman_p", "iman_davenport_p", "nemenyi_cd", "alpha")


@dataclass
class RankResult:
    """Average ranks of the columns over the complete blocks of one scope (a mechanism, or all)."""
    metric: str
    scope: str                       # a mechanism name, or "all" (dataset-mechanism blocks)
    columns: list[Column]            # entered the ranking
    avg_ranks: np.ndarray
    blocks: list[tuple[str, str]]    # (dataset, mechanism) blocks used
    dropped_columns: list[Column]
    dropped_blocks: list[tuple[str, str]]
    friedman: stats.FriedmanResult | None


def block_means(records: list[dict], metric: str, mechanisms: Sequence[str] | None = None
                ) -> tuple[list[tuple[str, str]], list[Column], np.ndarray]:
    """(blocks, columns, matrix) with matrix[b, j] = mean ok ``metric`` of column j on block b.

    An entry is NaN unless it has as many ok seeds as the fullest (block, column) of ``records``
    (counted before ``mechanisms`` narrows the blocks), so a block of a grid still running is
    neither ranked nor claimed on fewer seeds than the rest.
    """
    acc = defaultdict(list)
    for r in records:
        if r["status"] == "ok" and is_number(r.get(metric)):
            acc[((r["dataset"], r["mechanism"]), Column.of(r))].append(float(r[metric]))
    full = max((len(v) for v in acc.values()), default=0)
    if mechanisms is not None:
        records = [r for r in records if r["mechanism"] in mechanisms]
    blocks = sorted({(r["dataset"], r["mechanism"]) for r in records},
                    key=lambda b: (mechanism_key(b[1]), dataset_key(b[0])))
    columns = columns_in(records)
    M = np.full((len(blocks), len(columns)), np.nan)
    for i, b in enumerate(blocks):
        for j, c in enumerate(columns):
            if len(acc.get((b, c), ())) == full:
                M[i, j] = float(np.mean(acc[(b, c)]))
    return blocks, columns, M


def rank_scope(records: list[dict], metric: str, scope: str, alpha: float = ALPHA) -> RankResult:
    blocks, columns, M = block_means(records, metric, None if scope == "all" else [scope])
    rows, cols = stats.complete_blocks(M)
    kept_cols = [c for c, k in zip(columns, cols) if k]
    kept_blocks = [b for b, k in zip(blocks, rows) if k]
    sub = M[np.ix_(rows, cols)]
    ranks = stats.average_ranks(sub) if sub.size else np.array([])
    fr = stats.friedman_nemenyi(sub, alpha) if len(kept_cols) >= 2 and len(kept_blocks) >= 2 else None
    return RankResult(metric, scope, kept_cols, ranks, kept_blocks,
                      [c for c, k in zip(columns, cols) if not k], [b for b, k in zip(blocks, rows) if not k], fr)


def compute_ranks(records: list[dict], metrics: Sequence[str] = RANKED_METRICS) -> list[RankResult]:
    scopes = [*mechanisms_in(records), "all"]
    return [rank_scope(records, metric, scope) for metric in metrics for scope in scopes]


def rank_rows(results: list[RankResult], labels: dict[Column, str]) -> list[dict]:
    rows = []
    for res in results:
        fr = res.friedman
        for c, r in zip(res.columns, res.avg_ranks):
            rows.append(dict(metric=res.metric, scope=res.scope, column=labels.get(c, c.method), method=c.method,
                             preset=c.preset, avg_rank=csv_number(r), n_blocks=len(res.blocks), k=len(res.columns),
                             friedman_chi2=csv_number(fr.chi2) if fr else "",
                             friedman_p=csv_number(fr.p_chi2) if fr else "",
                             iman_davenport_p=csv_number(fr.p_f) if fr else "",
                             nemenyi_cd=csv_number(fr.cd) if fr else "", alpha=ALPHA))
    return rows


def _iman_davenport_text(fr: stats.FriedmanResult) -> str:
    if math.isfinite(fr.iman_davenport_f):
        return f"Iman-Davenport F={fr.iman_davenport_f:.3f} (p={fr.p_f:.3g})"
    return "Iman-Davenport F undefined (identical rankings in every block)"


def render_ranks_markdown(results: list[RankResult], labels: dict[Column, str], rate: float) -> str:
    lines = [f"# Average ranks (missing rate {rate:g})", "",
             "Rank 1 = lowest mean metric in a block (ties share the mean rank). A block is one dataset under "
             "one mechanism; each block's entry for a method is its mean over ok seeds, and counts as missing "
             "while it has fewer ok seeds than the fullest entry (a grid still running). Per mechanism the "
             "blocks are that mechanism's datasets; `all` pools every dataset-mechanism block (the blocks of "
             "the critical-difference diagrams). Only complete blocks enter: while an entry is missing, the "
             "block or method with the larger share of missing entries is dropped (listed below).", ""]
    for metric in sorted({r.metric for r in results}, key=METRICS.index):
        res = [r for r in results if r.metric == metric]
        cols = sorted({c for r in res for c in (*r.columns, *r.dropped_columns)}, key=Column.sort_key)
        lines += [f"## {metric.upper()}", "",
                  "| method | " + " | ".join(f"{r.scope} (N={len(r.blocks)})" for r in res) + " |",
                  "|---|" + "---|" * len(res)]
        for c in cols:
            vals = []
            for r in res:
                rank = dict(zip(r.columns, r.avg_ranks)).get(c)
                vals.append(f"{rank:.2f}" if rank is not None else MISSING)
            lines.append(f"| {labels.get(c, c.method)} | " + " | ".join(vals) + " |")
        lines.append("")
        for r in res:
            fr = r.friedman
            desc = (f"k={fr.k}, N={fr.n_blocks}: Friedman chi2={fr.chi2:.3f} (p={fr.p_chi2:.3g}), "
                    f"{_iman_davenport_text(fr)}, Nemenyi CD={fr.cd:.3f} at alpha={fr.alpha}"
                    if fr else "too few methods or blocks for a Friedman test")
            lines.append(f"- {r.scope}: {desc}.")
            if r.dropped_columns:
                lines.append("  Dropped methods (incomplete blocks): "
                             + ", ".join(labels.get(c, c.method) for c in r.dropped_columns) + ".")
            if r.dropped_blocks:
                lines.append("  Dropped blocks: " + ", ".join(f"{d}/{m}" for d, m in r.dropped_blocks) + ".")
        lines.append("")
    return "\n".join(lines)
