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

    python -m knewimp.report.tables [--results-dir results] [--out results/tables] [--missing-rate 0.3]
                             [--reference knewimp] [--include-quick] [--no-figures]

``main`` also draws the figures (``knewimp.report.figures``) into ``<results-dir>/figures`` unless
``--no-figures``. The work is split over ``selection`` (which records, which columns), ``cells``
(means, significance), ``render`` (Markdown, LaTeX, CSV rows), ``ranks``, ``claims`` (where the
reference is best or second best), ``headline`` (the README's summary) and ``pages``
(failed.md, index.md); this module writes the files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from knewimp.harness.provenance import from_uncommitted_code
from knewimp.harness.atomic import write_csv_atomic, write_text_atomic
from knewimp.harness.records import load_records, scan
from knewimp.report.cli import guarded
from knewimp.report.cells import build_table
from knewimp.report.headline import render_headline, render_views, standings
from knewimp.report.claims import CLAIM_CSV_FIELDS, claim_rows, compute_claims, render_claims_markdown
from knewimp.report.selection import (Column, all_records_rows, at_missing_rate, column_labels,
                                      columns_in, mechanisms_in, resolve_reference, select_records)
from knewimp.report.ranks import RANK_CSV_FIELDS, compute_ranks, rank_rows, render_ranks_markdown
from knewimp.report.render import DAGGER, TABLE_CSV_FIELDS, render_latex, render_markdown, table_rows
from knewimp.report.pages import render_failed, render_index
from knewimp.vocab import METRICS

__all__ = ["write_tables", "main", "load_records", "select_records", "resolve_reference", "column_labels",
           "Column", "build_table", "compute_ranks", "DAGGER"]


def _write_csv(out: Path, name: str, fields: Sequence[str], rows: Iterable[dict]) -> None:
    write_csv_atomic(out / name, fields, rows, inside=out)


def _write(out: Path, name: str, text: str) -> None:
    """Every file goes to ``out`` atomically; a name that would lead elsewhere is refused."""
    write_text_atomic(out / name, text, inside=out)


def complete_columns(records: list[dict], extra: list[dict], reference: str = "knewimp",
                     missing_rate: float = 0.3) -> tuple[list[dict], dict[tuple[str, str], tuple[int, int]]]:
    """The records of ``extra`` whose (method, preset) column is complete, and the others' progress.

    Complete: an ok record, at ``missing_rate``, for every (dataset, mechanism, seed) cell that
    the ``reference`` method has in ``records``. A partial column would leave some blocks of
    the ranks and claims without it, so it waits: {(method, preset): (cells ok, cells wanted)}.
    """
    want = {(r["dataset"], r["mechanism"], int(r["seed"])) for r in records
            if r.get("method") == reference and r.get("status") == "ok" and at_missing_rate(r, missing_rate)}
    have: dict[tuple[str, str], set] = {}
    for r in extra:
        if r.get("status") == "ok" and at_missing_rate(r, missing_rate):
            have.setdefault((r["method"], r["preset"]), set()).add((r["dataset"], r["mechanism"], int(r["seed"])))
    done = {col for col, cells in have.items() if want and want <= cells}
    joined = [r for r in extra if (r.get("method"), r.get("preset")) in done]
    waiting = {col: (len(cells & want), len(want)) for col, cells in have.items() if col not in done}
    return joined, waiting


def _write_mechanism_tables(out: Path, kept: list[dict], ref: Column | None, labels: dict[Column, str],
                            missing_rate: float) -> list[tuple[str, list[str]]]:
    written = []
    for mech in mechanisms_in(kept):
        for metric in METRICS:
            t = build_table(kept, mech, metric, ref, labels)
            stem = f"{mech}_{metric}"
            _write(out, f"{stem}.md", render_markdown(t, missing_rate))
            _write(out, f"{stem}.tex", render_latex(t, missing_rate))
            _write_csv(out, f"{stem}.csv", TABLE_CSV_FIELDS, table_rows(t))
            written.append((f"{mech.upper()} {metric.upper()}", [f"{stem}.md", f"{stem}.csv", f"{stem}.tex"]))
    # tables of a mechanism no longer in the records would otherwise linger and look current
    fresh = {f for _, files in written for f in files}
    for metric in METRICS:
        for ext in ("md", "csv", "tex"):
            for stale in out.glob(f"*_{metric}.{ext}"):
                if stale.name not in fresh:
                    stale.unlink()
    return written


def write_tables(results_dir: str | Path = "results", out: str | Path | None = None, missing_rate: float = 0.3,
                 reference: str = "knewimp", include_quick: bool = False, figures_out: str | Path | None = None,
                 figures: bool = True, log=print, join_dirs: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Write every table, ranks, failures, all records and the index; return a summary dict.

    ``join_dirs``: results folders of further grids on the same cells (e.g. ``results/new_baselines``);
    a (method, preset) column of theirs joins the tables once it is complete (:func:`complete_columns`).
    """
    results_dir = Path(results_dir)
    out = Path(out) if out is not None else results_dir / "tables"
    out.mkdir(parents=True, exist_ok=True)
    records, damaged = scan(results_dir)
    partial: list[dict] = []  # columns still running: the views count their complete blocks
    for folder in join_dirs:
        extra, extra_damaged = scan(folder)
        joined, waiting = complete_columns(records, extra, reference, missing_rate)
        records, damaged = records + joined, damaged + extra_damaged
        partial += [r for r in extra if (r.get("method"), r.get("preset")) in waiting]
        for (method, preset), (have, want) in sorted(waiting.items()):
            log(f"knewimp.report.tables: {method}/{preset} in {folder}: {have} of {want} cells ok, "
                f"joins the tables when complete")
    sel = select_records(records, missing_rate, include_quick)
    for d in damaged:
        log(f"knewimp.report.tables: damaged record {d.path.name}: {d.reason} (not used; listed in failed.md)")
    kept = sel.kept
    if not records:
        log(f"knewimp.report.tables: no records under {results_dir / 'runs'}; writing an empty index only.")
    elif not kept:
        log(f"knewimp.report.tables: {len(records)} records loaded but none at missing rate {missing_rate:g}"
            f"{'' if include_quick else ' outside quick presets'}; writing an empty index only.")
    labels = column_labels(columns_in(kept))
    ref = resolve_reference(kept, reference)
    if kept and ref is None:
        log(f"knewimp.report.tables: reference {reference!r} has no records; tables carry no significance markers.")
    written = _write_mechanism_tables(out, kept, ref, labels, missing_rate)
    _write_csv(out, "all_records.csv", *all_records_rows(records, sel))
    rank_results = compute_ranks(kept) if kept else []
    _write(out, "ranks.md", render_ranks_markdown(rank_results, labels, missing_rate))
    _write_csv(out, "ranks.csv", RANK_CSV_FIELDS, rank_rows(rank_results, labels))
    view_records = select_records(records + partial, missing_rate, include_quick).kept if partial else kept
    claims = compute_claims(view_records, ref)
    _write(out, "claims.md", render_claims_markdown(claims, labels, ref, missing_rate))
    sts = standings(view_records, ref)
    _write(out, "headline.md", render_headline(sts, kept))
    _write(out, "views.md", render_views(sts, missing_rate))
    _write_csv(out, "claims.csv", CLAIM_CSV_FIELDS, claim_rows(claims, labels))
    _write(out, "failed.md", render_failed(sel, labels, damaged))

    fig_paths: list[Path] = []
    fig_notes: list[str] = []
    fig_dir = Path(figures_out) if figures_out is not None else results_dir / "figures"
    if figures:
        from knewimp.report import figures as figs  # matplotlib is only needed when figures are drawn
        fig_paths, fig_notes = figs.write_figures(kept, rank_results, labels, ref, fig_dir)
        for n in fig_notes:
            log(f"knewimp.report.figures: {n}")
    _write(out, "index.md", render_index(sel, records, written, ref, labels, fig_paths, fig_notes, out))
    n_failed = sum(r["status"] != "ok" for r in kept)
    dirty = sum(from_uncommitted_code(r.get("git_commit")) for r in records)
    log(f"knewimp.report.tables: {dirty} of {len(records)} records came from uncommitted code (a -dirty commit)")
    log(f"knewimp.report.tables: {len(records)} records loaded, {len(kept)} used ({n_failed} failed), "
        f"{len(written)} tables -> {out}" + (f", {len(fig_paths)} figures -> {fig_dir}" if figures else ""))
    return dict(out=out, n_loaded=len(records), n_used=len(kept), n_failed=n_failed, tables=written,
                reference=ref, ranks=rank_results, claims=claims, figures=fig_paths)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.report.tables", description=__doc__.split("\n")[0])
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
    return guarded(lambda: write_tables(args.results_dir, args.out, args.missing_rate, args.reference,
                                        args.include_quick, args.figures_out, not args.no_figures))

if __name__ == "__main__":
    sys.exit(main())
