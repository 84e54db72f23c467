"""Result tables from run records: Markdown, CSV and LaTeX, plus ranks, failures and an index.

Every number here is computed from the JSON records under ``<results-dir>/runs/``; nothing is typed
by hand. One table per (mechanism, metric): rows are datasets, columns are (method, preset) pairs,
a cell is the mean +/- sample standard deviation (ddof = 1) of the metric over the seeds whose
record has status ``ok``. The lowest mean of a row is bold, the second lowest underlined.

Markers, reference = KnewImp (``--reference``):
* ``*``  one-sided paired t-test over the seeds both columns have ok records for,
  H1: mean(reference - column) < 0, p < 0.05, no multiplicity correction (the paper's test).
* ``†``  one-sided Wilcoxon signed-rank test on the same pairs, Holm-adjusted over all the
  comparisons of that table, adjusted p < 0.05.

Usage::

    python -m knewimp.tables [--results-dir results] [--out results/tables] [--missing-rate 0.3]
                             [--reference knewimp] [--include-quick] [--no-figures]

``main`` also draws the figures (``knewimp.figures``) into ``<results-dir>/figures`` unless
``--no-figures``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from knewimp import stats
from knewimp.records import load_records

DATASET_ORDER = ("bt", "bcd", "cc", "cbv", "is", "pk", "qb", "wqw")
MECHANISM_ORDER = ("mcar", "mar", "mnar", "mnar_self", "mnar_quantile")
METHOD_ORDER = ("knewimp", "csdi_t", "missdiff", "tdm", "gain", "mice", "sinkhorn", "mean")
METRICS = ("mae", "wass", "rmse")
RANK_METRICS = ("mae", "wass")
RECORD_FIELDS = ("cell_id", "dataset", "mechanism", "missing_rate", "realised_missing_rate", "seed",
                 "method", "preset", "params", "n", "d", "status", "error", "mae", "rmse", "wass",
                 "wass_method", "fit_seconds", "device", "versions", "git_commit", "started_at",
                 "finished_at")
ALPHA = 0.05
TEST_PRESETS = ("quick",)
MISSING = "--"
DAGGER = "†"


def _order_key(value: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), str(value))


class Column(NamedTuple):
    """One table column: a method run under one preset.

    A NamedTuple, so equality and hashing do not depend on the class object: ``python -m
    knewimp.tables`` runs this module as ``__main__`` while ``knewimp.figures`` imports it again.
    """
    method: str
    preset: str

    def sort_key(self) -> tuple:
        return (*_order_key(self.method, METHOD_ORDER), self.preset)


def column_labels(columns: Iterable[Column]) -> dict[Column, str]:
    """``method`` when the records hold one preset of that method, else ``method (preset)``."""
    columns = list(columns)
    presets = defaultdict(set)
    for c in columns:
        presets[c.method].add(c.preset)
    return {c: c.method if len(presets[c.method]) == 1 else f"{c.method} ({c.preset})" for c in columns}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------
@dataclass
class Selection:
    """The records that enter the tables and why the others did not."""
    kept: list[dict]
    excluded: dict[str, str]          # cell_id -> reason
    n_loaded: int
    missing_rate: float
    include_quick: bool

    def count(self, reason_prefix: str) -> int:
        return sum(r.startswith(reason_prefix) for r in self.excluded.values())


def _record_key(rec: dict) -> str:
    return str(rec.get("cell_id") or id(rec))


def select_records(records: list[dict], missing_rate: float = 0.3, include_quick: bool = False) -> Selection:
    """Keep records at ``missing_rate`` (not ``quick`` presets unless asked), one per cell.

    Two records of the same (dataset, mechanism, seed, method, preset) can exist when they were run
    with different parameters (e.g. a CLI override); the table keeps one: an ok record over a failed
    one, then the most recently finished. The others are listed as superseded.
    """
    excluded: dict[str, str] = {}
    candidates = defaultdict(list)
    for rec in records:
        key = _record_key(rec)
        missing = [f for f in ("dataset", "mechanism", "seed", "method", "preset", "status") if rec.get(f) is None]
        if missing:
            excluded[key] = f"malformed record: no {', '.join(missing)}"
            continue
        if rec["status"] not in ("ok", "failed"):
            excluded[key] = f"malformed record: status {rec['status']!r} not in ('ok', 'failed')"
            continue
        try:
            rec = {**rec, "seed": int(rec["seed"])}
        except (TypeError, ValueError):
            excluded[key] = f"malformed record: seed {rec['seed']!r} is not an integer"
            continue
        rate = rec.get("missing_rate")
        if not _is_number(rate) or not math.isclose(float(rate), missing_rate, rel_tol=0, abs_tol=1e-9):
            excluded[key] = f"missing_rate {rate} != {missing_rate:g}"
            continue
        if rec["preset"] in TEST_PRESETS and not include_quick:
            excluded[key] = f"preset {rec['preset']} (tests only; --include-quick to include)"
            continue
        ident = (rec["dataset"], rec["mechanism"], int(rec["seed"]), rec["method"], rec["preset"])
        candidates[ident].append(rec)
    kept = []
    for ident, group in candidates.items():
        group.sort(key=lambda r: (r.get("status") == "ok", str(r.get("finished_at") or "")), reverse=True)
        kept.append(group[0])
        for other in group[1:]:
            excluded[_record_key(other)] = f"superseded by {group[0].get('cell_id')}"
    return Selection(kept, excluded, len(records), missing_rate, include_quick)


def resolve_reference(records: list[dict], reference: str) -> Column | None:
    """The reference column: ``method`` or ``method:preset``.

    With several presets of the method and none named: the one with most ok records; on a tie
    the preset ``paper`` (the paper's settings), else the alphabetically first.
    """
    method, _, preset = reference.partition(":")
    cands = defaultdict(int)
    for r in records:
        if r["method"] == method and (not preset or r["preset"] == preset):
            cands[Column(method, r["preset"])] += r["status"] == "ok"
    if not cands:
        return None
    return sorted(cands, key=lambda c: (-cands[c], c.preset != "paper", c.preset))[0]


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
@dataclass
class Cell:
    values: dict[int, float] = field(default_factory=dict)          # seed -> metric (ok records)
    failed: list[dict] = field(default_factory=list)                # failed records
    no_value: list[int] = field(default_factory=list)               # ok records without this metric
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


def build_table(records: list[dict], mechanism: str, metric: str, reference: Column | None,
                labels: dict[Column, str] | None = None) -> Table:
    """Aggregate the (selected) records of one mechanism into a table for ``metric``."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not one of {METRICS}")
    recs = [r for r in records if r["mechanism"] == mechanism]
    datasets = sorted({r["dataset"] for r in recs}, key=lambda d: _order_key(d, DATASET_ORDER))
    columns = sorted({Column(r["method"], r["preset"]) for r in recs}, key=Column.sort_key)
    labels = labels or column_labels(columns)
    cells = {(ds, c): Cell() for ds in datasets for c in columns}
    for r in recs:
        cell = cells[(r["dataset"], Column(r["method"], r["preset"]))]
        if r["status"] != "ok":
            cell.failed.append(r)
        elif _is_number(r.get(metric)):
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
    for ds in datasets:
        means = sorted({cells[(ds, c)].mean for c in columns if cells[(ds, c)].n})
        for c in columns:
            cell = cells[(ds, c)]
            if cell.n:
                cell.best = cell.mean == means[0]
                cell.second = len(means) > 1 and cell.mean == means[1]
    n_comp = 0
    if reference is not None and reference in columns:
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
        adjusted = stats.holm([c.wilcoxon_p for c in comparisons])
        for cell, p in zip(comparisons, adjusted):
            cell.wilcoxon_p_holm = float(p)
        n_comp = int(np.sum(~np.isnan([c.wilcoxon_p for c in comparisons]))) if comparisons else 0
    max_seeds = max((c.n for c in cells.values()), default=0)
    return Table(mechanism, metric, datasets, columns, labels, cells, reference, max_seeds, n_comp)


def fmt(x: float) -> str:
    """Three decimals (what the paper prints); scientific notation where that would show 0.000 or be huge."""
    if not _is_number(x):
        return MISSING
    if x == 0 or 5e-4 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.1e}"


def _cell_text(table: Table, cell: Cell, pm: str) -> str:
    if not cell.n:
        return MISSING
    text = fmt(cell.mean) if cell.n < 2 else f"{fmt(cell.mean)}{pm}{fmt(cell.std)}"
    if cell.n < table.max_seeds:
        text += f" (n={cell.n})"
    return text


def _presets_line(table: Table) -> str:
    return "; ".join(f"{table.labels[c]}: preset `{c.preset}`" for c in table.columns)


def _notes(table: Table, latex: bool = False) -> list[str]:
    """Footer lines shared by the Markdown and LaTeX renderings."""
    ref = table.labels.get(table.reference) if table.reference else None
    notes = [f"Mean ± sample std (ddof=1) of {table.metric.upper()} over seeds with status ok "
             f"(lower is better); `(n=k)` marks cells with fewer than the {table.max_seeds} seeds of the "
             f"fullest cell. Bold: best mean of the row, underlined: second best. `{MISSING}`: no ok record."]
    if ref is None:
        notes.append("No significance markers: the reference method has no record in this table.")
    else:
        notes.append(f"`*`: {ref} significantly better than this column: paired t-test over the seeds both "
                     f"have ok records for, one-sided (H1: {ref}'s mean is lower), p < {ALPHA}, uncorrected "
                     f"(as in the paper).")
        notes.append(f"`{DAGGER}`: one-sided Wilcoxon signed-rank test on the same pairs, Holm-adjusted over the "
                     f"{table.n_comparisons} comparisons of this table, adjusted p < {ALPHA}. With n paired seeds "
                     f"the smallest possible one-sided p is 2^-n (1/32 for 5 seeds), so {DAGGER} needs many seeds "
                     f"or few comparisons.")
    failed = [(ds, c, cell) for (ds, c), cell in table.cells.items() if cell.failed]
    if failed:
        n_failed = sum(len(cell.failed) for *_, cell in failed)
        parts = []
        for ds, c, cell in sorted(failed, key=lambda t: (_order_key(t[0], DATASET_ORDER), t[1].sort_key())):
            reasons = sorted({_first_line(r.get("error")) for r in cell.failed})
            seeds = ",".join(str(r["seed"]) for r in sorted(cell.failed, key=lambda r: r["seed"]))
            parts.append(f"{ds}/{table.labels[c]} seeds {seeds}: {'; '.join(reasons)}")
        notes.append(f"Failed records: {n_failed} ({len(failed)} cells): " + " | ".join(parts)
                     + ". See failed.md.")
    no_val = [(ds, c, cell) for (ds, c), cell in table.cells.items() if cell.no_value]
    if no_val:
        notes.append("Ok records without a " + table.metric + " value: " + ", ".join(
            f"{ds}/{table.labels[c]} seeds {','.join(map(str, sorted(cell.no_value)))}" for ds, c, cell in no_val) + ".")
    approx = sorted({a for cell in table.cells.values() for a in cell.approximations})
    if approx:
        notes.append("WASS is an approximation (" + ", ".join(approx) + ") in: " + ", ".join(
            f"{ds}/{table.labels[c]}" for (ds, c), cell in table.cells.items() if cell.approximations)
            + "; exact OT elsewhere.")
    return notes


def _first_line(text: Any, limit: int = 200) -> str:
    s = str(text or "no error message").strip().splitlines()
    s = s[-1] if s else "no error message"  # tracebacks end with the exception line
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _title(table: Table, rate: float) -> str:
    return f"{table.mechanism.upper()}, {table.metric.upper()} (missing rate {rate:g})"


def render_markdown(table: Table, rate: float) -> str:
    lines = [f"# {_title(table, rate)}", "", f"Columns and presets: {_presets_line(table)}.", ""]
    if not table.datasets:
        return "\n".join(lines + ["No records.", ""])
    lines.append("| dataset | " + " | ".join(table.labels[c] for c in table.columns) + " |")
    lines.append("|---|" + "---|" * len(table.columns))
    for ds in table.datasets:
        row = []
        for c in table.columns:
            cell = table.cell(ds, c)
            text = _cell_text(table, cell, " ± ")
            if cell.n and cell.best:
                text = f"**{text}**"
            elif cell.n and cell.second:
                text = f"<u>{text}</u>"
            if cell.ttest_sig:
                text += r"\*"   # escaped so Markdown shows a literal asterisk next to bold text
            if cell.wilcoxon_sig:
                text += DAGGER
            row.append(text)
        lines.append(f"| {ds} | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"- {n}" for n in _notes(table)]
    return "\n".join(lines) + "\n"


_TEX_CHARS = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
              "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "±": r"$\pm$", "†": r"$^\dagger$", "`": ""}


def _tex_escape(s: str) -> str:
    s = "".join(_TEX_CHARS.get(ch, ch) for ch in s)
    return s.replace("2^-n", r"$2^{-n}$")


def render_latex(table: Table, rate: float) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    esc = _tex_escape
    caption = (f"{esc(_title(table, rate))}. Presets: {esc(_presets_line(table))}. "
               + " ".join(esc(n) for n in _notes(table)))
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{caption}}}",
           rf"\label{{tab:{table.mechanism}_{table.metric}}}"]
    if not table.datasets:
        return "\n".join(out + [r"No records.", r"\end{table}", ""])
    out += [r"\begin{tabular}{l" + "c" * len(table.columns) + "}", r"\toprule",
            "dataset & " + " & ".join(esc(table.labels[c]) for c in table.columns) + r" \\", r"\midrule"]
    for ds in table.datasets:
        row = []
        for c in table.columns:
            cell = table.cell(ds, c)
            text = _cell_text(table, cell, r" $\pm$ ")
            if cell.n and cell.best:
                text = rf"\textbf{{{text}}}"
            elif cell.n and cell.second:
                text = rf"\underline{{{text}}}"
            marks = ("*" if cell.ttest_sig else "") + (r"\dagger" if cell.wilcoxon_sig else "")
            if marks:
                text += f"$^{{{marks}}}$"
            row.append(text)
        out.append(f"{esc(ds)} & " + " & ".join(row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


TABLE_CSV_FIELDS = ("mechanism", "metric", "dataset", "column", "method", "preset", "n_ok", "n_failed",
                    "mean", "std", "best", "second", "n_pairs", "ttest_p", "ttest_sig", "wilcoxon_p",
                    "wilcoxon_p_holm", "wilcoxon_sig", "seeds", "reference")


def _num(x: float) -> str:
    return repr(float(x)) if _is_number(x) else ""


def table_rows(table: Table) -> list[dict]:
    """Long format, one row per (dataset, column), unrounded numbers; empty string = not available."""
    rows = []
    ref = table.labels.get(table.reference, "") if table.reference else ""
    for ds in table.datasets:
        for c in table.columns:
            cell = table.cell(ds, c)
            rows.append(dict(
                mechanism=table.mechanism, metric=table.metric, dataset=ds, column=table.labels[c],
                method=c.method, preset=c.preset, n_ok=cell.n, n_failed=len(cell.failed),
                mean=_num(cell.mean), std=_num(cell.std), best=int(cell.best), second=int(cell.second),
                n_pairs=cell.n_pairs, ttest_p=_num(cell.ttest_p), ttest_sig=int(cell.ttest_sig),
                wilcoxon_p=_num(cell.wilcoxon_p), wilcoxon_p_holm=_num(cell.wilcoxon_p_holm),
                wilcoxon_sig=int(cell.wilcoxon_sig), seeds=" ".join(map(str, sorted(cell.values))),
                reference=ref))
    return rows


def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


# --------------------------------------------------------------------------------------------
# Ranks, Friedman, Nemenyi
# --------------------------------------------------------------------------------------------
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
    """(blocks, columns, matrix) with matrix[b, j] = mean ok ``metric`` of column j on block b, NaN if none."""
    acc = defaultdict(list)
    blocks, columns = set(), set()
    for r in records:
        if mechanisms is not None and r["mechanism"] not in mechanisms:
            continue
        b, c = (r["dataset"], r["mechanism"]), Column(r["method"], r["preset"])
        blocks.add(b)
        columns.add(c)
        if r["status"] == "ok" and _is_number(r.get(metric)):
            acc[(b, c)].append(float(r[metric]))
    blocks = sorted(blocks, key=lambda b: (_order_key(b[1], MECHANISM_ORDER), _order_key(b[0], DATASET_ORDER)))
    columns = sorted(columns, key=Column.sort_key)
    M = np.full((len(blocks), len(columns)), np.nan)
    for i, b in enumerate(blocks):
        for j, c in enumerate(columns):
            if acc.get((b, c)):
                M[i, j] = float(np.mean(acc[(b, c)]))
    return blocks, columns, M


def rank_scope(records: list[dict], metric: str, scope: str, alpha: float = ALPHA) -> RankResult:
    mechs = None if scope == "all" else [scope]
    blocks, columns, M = block_means(records, metric, mechs)
    rows, cols = stats.complete_blocks(M)
    kept_cols = [c for c, k in zip(columns, cols) if k]
    kept_blocks = [b for b, k in zip(blocks, rows) if k]
    sub = M[np.ix_(rows, cols)]
    ranks = stats.average_ranks(sub) if sub.size else np.array([])
    fr = stats.friedman_nemenyi(sub, alpha) if len(kept_cols) >= 2 and len(kept_blocks) >= 2 else None
    return RankResult(metric, scope, kept_cols, ranks, kept_blocks,
                      [c for c, k in zip(columns, cols) if not k], [b for b, k in zip(blocks, rows) if not k], fr)


def compute_ranks(records: list[dict], metrics: Sequence[str] = RANK_METRICS) -> list[RankResult]:
    mechs = sorted({r["mechanism"] for r in records}, key=lambda m: _order_key(m, MECHANISM_ORDER))
    return [rank_scope(records, metric, scope) for metric in metrics for scope in [*mechs, "all"]]


RANK_CSV_FIELDS = ("metric", "scope", "column", "method", "preset", "avg_rank", "n_blocks", "k",
                   "friedman_chi2", "friedman_p", "iman_davenport_p", "nemenyi_cd", "alpha")


def rank_rows(results: list[RankResult], labels: dict[Column, str]) -> list[dict]:
    rows = []
    for res in results:
        fr = res.friedman
        for c, r in zip(res.columns, res.avg_ranks):
            rows.append(dict(metric=res.metric, scope=res.scope, column=labels.get(c, c.method), method=c.method,
                             preset=c.preset, avg_rank=_num(r), n_blocks=len(res.blocks), k=len(res.columns),
                             friedman_chi2=_num(fr.chi2) if fr else "", friedman_p=_num(fr.p_chi2) if fr else "",
                             iman_davenport_p=_num(fr.p_f) if fr else "", nemenyi_cd=_num(fr.cd) if fr else "",
                             alpha=ALPHA))
    return rows


def _iman_davenport_text(fr: stats.FriedmanResult) -> str:
    if math.isfinite(fr.iman_davenport_f):
        return f"Iman-Davenport F={fr.iman_davenport_f:.3f} (p={fr.p_f:.3g})"
    return "Iman-Davenport F undefined (identical rankings in every block)"


def render_ranks_markdown(results: list[RankResult], labels: dict[Column, str], rate: float) -> str:
    lines = [f"# Average ranks (missing rate {rate:g})", "",
             "Rank 1 = lowest mean metric in a block (ties share the mean rank). A block is one dataset under "
             "one mechanism; each block's entry for a method is its mean over ok seeds. Per mechanism the "
             "blocks are that mechanism's datasets; `all` pools every dataset-mechanism block (the blocks of "
             "the critical-difference diagrams). Only complete blocks enter: while an entry is missing, the "
             "block or method with the larger share of missing entries is dropped (listed below).", ""]
    for metric in sorted({r.metric for r in results}, key=lambda m: METRICS.index(m)):
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
                lines.append(f"  Dropped methods (incomplete blocks): "
                             + ", ".join(labels.get(c, c.method) for c in r.dropped_columns) + ".")
            if r.dropped_blocks:
                lines.append("  Dropped blocks: " + ", ".join(f"{d}/{m}" for d, m in r.dropped_blocks) + ".")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Failures, missing cells, all records
# --------------------------------------------------------------------------------------------
def missing_cells(records: list[dict]) -> list[tuple[str, str, Column, list[int]]]:
    """(mechanism, dataset, column, missing seeds) over the grid the selected records span.

    The grid is every mechanism x dataset x (method, preset) x seed that occurs in any selected
    record; a grid point with no record (ok or failed) is missing.
    """
    have = {(r["mechanism"], r["dataset"], Column(r["method"], r["preset"]), int(r["seed"])) for r in records}
    mechs = sorted({r["mechanism"] for r in records}, key=lambda m: _order_key(m, MECHANISM_ORDER))
    dsets = sorted({r["dataset"] for r in records}, key=lambda d: _order_key(d, DATASET_ORDER))
    cols = sorted({Column(r["method"], r["preset"]) for r in records}, key=Column.sort_key)
    seeds = sorted({int(r["seed"]) for r in records})
    out = []
    for m in mechs:
        for ds in dsets:
            for c in cols:
                miss = [s for s in seeds if (m, ds, c, s) not in have]
                if miss:
                    out.append((m, ds, c, miss))
    return out


def render_failed(sel: Selection, labels: dict[Column, str]) -> str:
    recs = sel.kept
    failed = sorted((r for r in recs if r["status"] != "ok"),
                    key=lambda r: (_order_key(r["mechanism"], MECHANISM_ORDER), _order_key(r["dataset"], DATASET_ORDER),
                                   Column(r["method"], r["preset"]).sort_key(), r["seed"]))
    miss = missing_cells(recs)
    lines = [f"# Failed and missing cells (missing rate {sel.missing_rate:g})", "",
             f"{len(failed)} failed records; {sum(len(m[3]) for m in miss)} missing (cell, seed) pairs in "
             f"{len(miss)} cells.", "", "## Failed records", ""]
    if failed:
        lines += ["| mechanism | dataset | method | seed | reason | cell_id |", "|---|---|---|---|---|---|"]
        for r in failed:
            reason = _first_line(r.get("error")).replace("|", "\\|")
            lines.append(f"| {r['mechanism']} | {r['dataset']} | {labels.get(Column(r['method'], r['preset']), r['method'])}"
                         f" | {r['seed']} | {reason} | {r.get('cell_id', '')} |")
    else:
        lines.append("None.")
    lines += ["", "## Missing cells", "",
              "The grid is every mechanism x dataset x method (preset) x seed that occurs in the selected "
              "records; a grid point with no record at all is listed (not run yet, or not planned).", ""]
    if miss:
        lines += ["| mechanism | dataset | method | missing seeds |", "|---|---|---|---|"]
        for m, ds, c, seeds in miss:
            lines.append(f"| {m} | {ds} | {labels.get(c, c.method)} | {' '.join(map(str, seeds))} |")
    else:
        lines.append("None.")
    superseded = {k: v for k, v in sel.excluded.items() if v.startswith("superseded")}
    malformed = {k: v for k, v in sel.excluded.items() if v.startswith("malformed")}
    for title, items in (("Superseded records (same cell, other parameters)", superseded),
                         ("Malformed records", malformed)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- `{k}`: {v}" for k, v in sorted(items.items())]
    return "\n".join(lines) + "\n"


def all_records_rows(records: list[dict], sel: Selection) -> tuple[list[str], list[dict]]:
    extra = sorted({k for r in records for k in r} - set(RECORD_FIELDS))
    fields = [*RECORD_FIELDS, *extra, "included", "excluded_reason"]
    rows = []
    for r in records:
        row = {}
        for k in fields[:-2]:
            v = r.get(k)
            row[k] = json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else ("" if v is None else v)
        reason = sel.excluded.get(_record_key(r), "")
        row["included"] = int(not reason)
        row["excluded_reason"] = reason
        rows.append(row)
    return fields, rows


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def write_tables(results_dir: str | Path = "results", out: str | Path | None = None, missing_rate: float = 0.3,
                 reference: str = "knewimp", include_quick: bool = False, figures_out: str | Path | None = None,
                 figures: bool = True, log=print) -> dict[str, Any]:
    """Write every table, ranks, failures, all records and the index; return a summary dict."""
    results_dir = Path(results_dir)
    out = Path(out) if out is not None else results_dir / "tables"
    out.mkdir(parents=True, exist_ok=True)
    records = load_records(results_dir)
    sel = select_records(records, missing_rate, include_quick)
    kept = sel.kept
    if not records:
        log(f"knewimp.tables: no records under {results_dir / 'runs'}; writing an empty index only.")
    elif not kept:
        log(f"knewimp.tables: {len(records)} records loaded but none at missing rate {missing_rate:g}"
            f"{'' if include_quick else ' outside quick presets'}; writing an empty index only.")
    all_cols = sorted({Column(r["method"], r["preset"]) for r in kept}, key=Column.sort_key)
    labels = column_labels(all_cols)
    ref = resolve_reference(kept, reference)
    if kept and ref is None:
        log(f"knewimp.tables: reference {reference!r} has no records; tables carry no significance markers.")
    mechs = sorted({r["mechanism"] for r in kept}, key=lambda m: _order_key(m, MECHANISM_ORDER))
    written: list[tuple[str, list[str]]] = []
    for mech in mechs:
        for metric in METRICS:
            t = build_table(kept, mech, metric, ref, {c: labels[c] for c in all_cols})
            stem = f"{mech}_{metric}"
            (out / f"{stem}.md").write_text(render_markdown(t, missing_rate), encoding="utf-8")
            (out / f"{stem}.tex").write_text(render_latex(t, missing_rate), encoding="utf-8")
            _write_csv(out / f"{stem}.csv", TABLE_CSV_FIELDS, table_rows(t))
            written.append((f"{mech.upper()} {metric.upper()}", [f"{stem}.md", f"{stem}.csv", f"{stem}.tex"]))
    # tables of a mechanism no longer in the records would otherwise linger and look current
    fresh = {f for _, files in written for f in files}
    for metric in METRICS:
        for ext in ("md", "csv", "tex"):
            for stale in out.glob(f"*_{metric}.{ext}"):
                if stale.name not in fresh:
                    stale.unlink()
    fields, rows = all_records_rows(records, sel)
    _write_csv(out / "all_records.csv", fields, rows)
    rank_results = compute_ranks(kept) if kept else []
    (out / "ranks.md").write_text(render_ranks_markdown(rank_results, labels, missing_rate), encoding="utf-8")
    _write_csv(out / "ranks.csv", RANK_CSV_FIELDS, rank_rows(rank_results, labels))
    (out / "failed.md").write_text(render_failed(sel, labels), encoding="utf-8")

    fig_paths: list[Path] = []
    fig_notes: list[str] = []
    fig_dir = Path(figures_out) if figures_out is not None else results_dir / "figures"
    if figures:
        from knewimp import figures as figs  # matplotlib is only needed when figures are drawn
        fig_paths, fig_notes = figs.write_figures(kept, rank_results, labels, ref, fig_dir)
        for n in fig_notes:
            log(f"knewimp.figures: {n}")
    (out / "index.md").write_text(
        _render_index(sel, records, written, ref, labels, fig_paths, fig_notes, out), encoding="utf-8")
    n_failed = sum(r["status"] != "ok" for r in kept)
    log(f"knewimp.tables: {len(records)} records loaded, {len(kept)} used ({n_failed} failed), "
        f"{len(written)} tables -> {out}" + (f", {len(fig_paths)} figures -> {fig_dir}" if figures else ""))
    return dict(out=out, n_loaded=len(records), n_used=len(kept), n_failed=n_failed, tables=written,
                reference=ref, ranks=rank_results, figures=fig_paths)


def _rel(path: Path, start: Path) -> str:
    import os
    return Path(os.path.relpath(path, start)).as_posix()


def _render_index(sel: Selection, records: list[dict], written, ref: Column | None, labels, fig_paths,
                  fig_notes, out: Path) -> str:
    kept = sel.kept
    lines = [f"# Results index (missing rate {sel.missing_rate:g})", "",
             "Generated by `python -m knewimp.tables` from the run records; do not edit by hand.", ""]
    if not records:
        lines += ["**No records found.** Run cells first (`python -m knewimp.run ...`).", ""]
    lines += [f"- Records loaded: {len(records)}; used: {len(kept)} (ok {sum(r['status'] == 'ok' for r in kept)}, "
              f"failed {sum(r['status'] != 'ok' for r in kept)}).",
              f"- Excluded: {sel.count('missing_rate')} at another missing rate, "
              f"{sel.count('preset')} from test-only presets {list(TEST_PRESETS)}"
              f"{' (included: --include-quick)' if sel.include_quick else ''}, {sel.count('superseded')} superseded, "
              f"{sel.count('malformed')} malformed.",
              f"- Reference for significance markers: "
              f"{labels.get(ref, ref.method) + ' (preset ' + ref.preset + ')' if ref else 'none (no records)'}.",
              "- Columns: " + (", ".join(f"{labels[c]} = {c.method} preset `{c.preset}`" for c in labels) or "none") + ".",
              "", "## Tables (Markdown / CSV / LaTeX)", ""]
    lines += [f"- {name}: " + " / ".join(f"[{f}]({f})" for f in files) for name, files in written] or ["- none"]
    lines += ["", "Table CSVs are long format (one row per dataset and column, unrounded means, p-values).", "",
              "## Summaries", "", "- [ranks.md](ranks.md) / [ranks.csv](ranks.csv): average ranks, Friedman, Nemenyi CD",
              "- [failed.md](failed.md): failed records with reasons, missing cells",
              "- [all_records.csv](all_records.csv): every record loaded, one row each (params as JSON), "
              "with `included` and `excluded_reason`", "", "## Figures", ""]
    lines += [f"- [{p.name}]({_rel(p, out)})" for p in fig_paths] or ["- none drawn"]
    lines += [f"- note: {n}" for n in fig_notes]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.tables", description=__doc__.split("\n")[0])
    ap.add_argument("--results-dir", default="results", help="folder holding runs/ (default: results)")
    ap.add_argument("--out", default=None, help="output folder (default: <results-dir>/tables)")
    ap.add_argument("--figures-out", default=None, help="figure folder (default: <results-dir>/figures)")
    ap.add_argument("--missing-rate", type=float, default=0.3, help="asked missing rate to tabulate (default 0.3)")
    ap.add_argument("--reference", default="knewimp", help="reference method, or method:preset (default knewimp)")
    ap.add_argument("--include-quick", action="store_true", help="include the test-only 'quick' preset")
    ap.add_argument("--no-figures", action="store_true", help="skip the figures")
    args = ap.parse_args(argv)
    if not 0 < args.missing_rate < 1:
        ap.error(f"--missing-rate {args.missing_rate} must lie in (0, 1)")
    write_tables(args.results_dir, args.out, args.missing_rate, args.reference, args.include_quick,
                 args.figures_out, not args.no_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
