"""Where the reference method (KnewImp) is best or second best: the paper's claim, counted.

A *view* is one column per method of the paper's main table (:mod:`knewimp.report.views`:
``paper``, ``published``, ``grid``); a view column without records leaves every block incomplete.

In a view, a block (dataset, mechanism) is counted when every column has ok records for as many
seeds as the fullest (block, column) of the view (a failed cell scoring as the column mean's
imputation of the same cell: :func:`knewimp.report.standings.failures_scored`), so that a grid still running compares complete
means only; the reference's place in it is 1 + the number of columns with a strictly lower mean
over those seeds (ties share the better place). The claim "best or second best" holds in a block
when the place is <= 2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from knewimp.report.selection import Column, columns_in, mechanisms_in
from knewimp.report.ranks import block_means
from knewimp.report.render import csv_number
from knewimp.report.standings import FALLBACK, failures_scored
from knewimp.report import views
from knewimp.report.views import VIEWS
from knewimp.vocab import RANKED_METRICS

CLAIM_CSV_FIELDS = ("view", "metric", "scope", "blocks", "best", "second", "best_or_second", "share",
                    "incomplete_blocks", "columns")


@dataclass
class Claim:
    """The reference's place in each complete block of one view, metric and scope."""
    view: str
    metric: str
    scope: str                                   # a mechanism, or "all"
    columns: list[Column]
    places: dict[tuple[str, str], int] = field(default_factory=dict)      # block -> place (1 = best)
    winners: dict[tuple[str, str], Column] = field(default_factory=dict)  # blocks the reference did not win
    incomplete: list[tuple[str, str]] = field(default_factory=list)

    def count(self, place: int) -> int:
        return sum(p == place for p in self.places.values())

    @property
    def top2(self) -> int:
        return sum(p <= 2 for p in self.places.values())


def view_columns(records: list[dict], reference: Column) -> dict[str, list[Column]]:
    """{view name: columns} (:data:`knewimp.report.views.VIEWS`), the reference's column standing
    for its method in every view."""
    del records  # a view's columns are fixed; records decide only which blocks are complete
    return {v.name: [reference if c.method == reference.method else c for c in v.column_list()] for v in VIEWS}


def compute_claims(records: list[dict], reference: Column | None) -> list[Claim]:
    if reference is None or not records:
        return []
    claims = []
    for view, columns in view_columns(records, reference).items():
        recs, _ = failures_scored(records, columns)
        for metric in RANKED_METRICS:
            for scope in [*mechanisms_in(recs), "all"]:
                blocks, cols, M = block_means(recs, metric, None if scope == "all" else [scope])
                claim = Claim(view, metric, scope, columns)
                j = cols.index(reference) if reference in cols else None
                # A view column with no records under this scope (a faithful grid that has not reached
                # a mechanism yet) leaves every block incomplete, not a smaller view counted as complete.
                absent = any(c not in cols for c in columns)
                for b, row in zip(blocks, M):
                    if j is None or absent or np.isnan(row).any():  # or a column short of the fullest seed count
                        claim.incomplete.append(b)
                        continue
                    claim.places[b] = 1 + int((row < row[j]).sum())
                    if claim.places[b] > 1:
                        claim.winners[b] = cols[int(row.argmin())]
                claims.append(claim)
    return claims


def _winners_text(claim: Claim, labels: dict[Column, str]) -> str:
    by = {}
    for (ds, mech), c in claim.winners.items():
        by.setdefault(labels.get(c, c.method), []).append(ds if claim.scope != "all" else f"{ds}/{mech}")
    return "; ".join(f"{name}: {', '.join(blocks)}" for name, blocks in sorted(by.items())) or "none"


def render_claims_markdown(claims: list[Claim], labels: dict[Column, str], reference: Column | None,
                           rate: float) -> str:
    name = labels.get(reference, reference.method) if reference else "the reference"
    lines = [f"# Where {name} is best or second best (missing rate {rate:g})", "",
             "Counted from the records (`knewimp/report/claims.py`). A block is one dataset under one mechanism; "
             f"{name}'s place in it is 1 + the number of columns with a lower mean over ok seeds, counted only in "
             "blocks where every column of the view has ok records for all seeds (blocks of a grid still running "
             f"are listed as incomplete; a failed cell scores as `{FALLBACK.method}/{FALLBACK.preset}` on the same "
             "cell). " + " ".join(f"`{v.name}`: {v.meaning}." for v in VIEWS), ""]
    if not claims:
        return "\n".join(lines + ["No records of the reference: nothing counted.", ""])
    for view in dict.fromkeys(c.view for c in claims):
        cs = [c for c in claims if c.view == view]
        cols = cs[0].columns
        v = views.view(view)
        lines += [f"## View `{view}`", "", f"{v.meaning[0].upper()}{v.meaning[1:]}. Columns: " + "; ".join(
            f"{c.method} {v.describe(c) if c in v.column_list() else f'(`{c.preset}`)'}" for c in cols) + ".", "",
            "| metric | mechanism | blocks | best | second | best or second | best column where "
            f"{name} is not best | incomplete blocks |", "|---|---|---|---|---|---|---|---|"]
        for c in cs:
            n = len(c.places)
            share = f"{c.top2}/{n}" + (f" ({100 * c.top2 / n:.0f}%)" if n else "")
            lines.append(f"| {c.metric.upper()} | {c.scope} | {n} | {c.count(1)} | {c.count(2)} | {share} | "
                         f"{_winners_text(c, labels)} | {len(c.incomplete)} |")
        lines.append("")
    return "\n".join(lines)


def claim_rows(claims: list[Claim], labels: dict[Column, str]) -> list[dict]:
    return [dict(view=c.view, metric=c.metric, scope=c.scope, blocks=len(c.places), best=c.count(1),
                 second=c.count(2), best_or_second=c.top2,
                 share=csv_number(c.top2 / len(c.places)) if c.places else "",
                 incomplete_blocks=len(c.incomplete),
                 columns=";".join(f"{labels.get(k, k.method)}={k.preset}" for k in c.columns)) for c in claims]
