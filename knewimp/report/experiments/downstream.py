"""Downstream tasks (paper Tables F.8 and F.9) beside the printed values, from records only.

Input: the records of ``experiment=downstream`` (``<results>/downstream/runs``; :func:`report`), each holding one
imputation's scores over 10 fold shuffles and the ground-truth scores of the complete matrix
(:mod:`knewimp.protocol.downstream`). Output (``<out>/tables/``):

- ``downstream_f8.md/.csv`` (classification accuracy) and ``downstream_f9.md/.csv`` (regression
  MAE and MSE on cc): per mechanism x dataset x method, ours (mean +/- std over the 10 shuffles),
  the unshuffled 5-fold score, the printed value and the verdict of
  :func:`knewimp.report.paper.verdict` (ours = the 10 shuffle scores, the paper's ten runs
  ``n_p = 10``; the printed value stands for half a unit of its last printed digit: 3 decimals for
  accuracy, 3 significant digits for F.9's E-notation), and the distance to the ground truth,
  ours and printed;
- ``downstream_ground_truth.md/.csv``: the complete-data scores beside the printed Ground Truth row;
- ``downstream_ranking.md/.csv``: per dataset x mechanism, Spearman's rank correlation between the
  methods' imputation MAE (the same imputation's) and their downstream score (positive: the better
  imputation trains the better model), ours and the paper's own (its printed MAE, Tables 1 / F.2 / F.3,
  against its printed F.8 / F.9);
- ``downstream_headline.md``: the sentences a reader wants.

Paper methods map to ours as in :data:`knewimp.report.paper.METHOD_MAP` (both views: a method with
``paper`` and ``published`` presets gets a row for each preset that has records).

    python -m knewimp.report.experiments.downstream [--results-dir results/downstream] [--out results]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from scipy.stats import spearmanr

from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.records import load_records
from knewimp.protocol.downstream import HIGHER_IS_BETTER, METRICS as TASK_METRICS, TASKS
from knewimp.report import paper as paper_cmp
from knewimp.report.experiments.common import _write_table, load_paper
from knewimp.report.render import fmt
from knewimp.vocab import PAPER_MECHANISMS as MECHANISMS

#: The experiment whose progress ``make tables`` reports (knewimp.report.build).
GRIDS = (("downstream", "grid_status_downstream.md", "downstream"),)
TABLES = {"classification": "Table F.8", "regression": "Table F.9"}
PAPER_N = 10
GROUND_TRUTH = "Ground Truth"
#: Ours (method, preset) -> paper method, from the paper comparison's map.
PAPER_NAME = {(m.ours, m.preset): m.paper for m in paper_cmp.METHOD_MAP}


def half_width(value: float, table: str) -> float:
    """Half a unit of the last printed digit: F.8 prints 3 decimals, F.9 three significant digits
    in E-notation (1.22E1 stands for [12.15, 12.25))."""
    if table == TABLES["regression"] and value:
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - 2)
    return paper_cmp.half_width(value)


def _printed(rows: list[dict], table: str, mech: str | None, dataset: str, method: str, metric: str,
             stat: str = "mean") -> float | None:
    for r in rows:
        if (r["table"] == table and r["dataset"] == dataset.upper() and r["method"] == method
                and r["metric"].lower() == metric and r["stat"] == stat
                and (mech is None or r["mechanism"] == mech.upper())):
            return r["value"]
    return None


def _ok(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok" and isinstance(r.get("downstream"), dict)]


def score_rows(records: list[dict], paper_rows: list[dict]) -> list[dict]:
    """One row per (record, metric): ours beside the printed value, verdict, distance to ground truth."""
    out = []
    for r in sorted(_ok(records), key=lambda r: (r["dataset"], r["mechanism"], r["method"], r["preset"])):
        ds = r["downstream"]
        table = TABLES[ds["task"]]
        pm = PAPER_NAME.get((r["method"], r["preset"]))
        for metric in TASK_METRICS[ds["task"]]:
            mine, truth = ds["imputed"][metric], ds["ground_truth"][metric]
            printed = None if pm is None else _printed(paper_rows, table, r["mechanism"], r["dataset"], pm, metric)
            printed_std = None if pm is None else _printed(paper_rows, table, r["mechanism"], r["dataset"], pm, metric, "std")
            gt_mech = r["mechanism"] if ds["task"] == "regression" else None  # F.9 prints a GT per mechanism
            printed_gt = _printed(paper_rows, table, gt_mech, r["dataset"], GROUND_TRUTH, metric)
            if printed is None:
                verdict, tol = ("not in the paper" if pm is None else paper_cmp.PAPER_NAN), None
            else:
                verdict, tol = paper_cmp.verdict(printed, printed_std, mine["repeats"], paper_n=PAPER_N,
                                                 half=half_width(printed, table))
            out.append({"table": table, "mechanism": r["mechanism"], "dataset": r["dataset"], "method": r["method"],
                        "preset": r["preset"], "paper_method": pm, "metric": metric, "imputation_mae": r["mae"],
                        "ours_mean": mine["mean"], "ours_std": mine["std"], "ours_unshuffled": mine["unshuffled"],
                        "paper_value": printed, "tolerance": tol, "verdict": verdict,
                        "ground_truth": truth["mean"], "gap_to_ground_truth": _gap(mine["mean"], truth["mean"], metric),
                        "paper_ground_truth": printed_gt,
                        "paper_gap_to_ground_truth": None if printed is None or printed_gt is None
                        else _gap(printed, printed_gt, metric),
                        "grid_mae_rel_diff": (r.get("grid_reference") or {}).get("mae_rel_diff")})
    return out


def _gap(score: float, truth: float, metric: str) -> float:
    """How much worse than the ground truth (positive: worse)."""
    return truth - score if HIGHER_IS_BETTER[metric] else score - truth


def ground_truth_rows(records: list[dict], paper_rows: list[dict]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for r in _ok(records):
        ds = r["downstream"]
        for metric in TASK_METRICS[ds["task"]]:
            gt = ds["ground_truth"][metric]
            seen.setdefault((r["dataset"], metric), {"table": TABLES[ds["task"]], "dataset": r["dataset"],
                                                      "metric": metric, "ours_mean": gt["mean"], "ours_std": gt["std"],
                                                      "ours_unshuffled": gt["unshuffled"], "_values": set()})
            seen[(r["dataset"], metric)]["_values"].add(gt["mean"])
    out = []
    for (dataset, metric), row in sorted(seen.items()):
        if len(row.pop("_values")) > 1:  # one evaluation of one matrix: every record must agree
            raise ValueError(f"{dataset} {metric}: the records disagree on the ground-truth score")
        mechs = MECHANISMS if row["table"] == TABLES["regression"] else (None,)
        printed = [_printed(paper_rows, row["table"], m, dataset, GROUND_TRUTH, metric) for m in mechs]
        row["paper_value"] = " / ".join(fmt(p) for p in printed if p is not None) or None
        out.append(row)
    return out


def ranking_rows(records: list[dict], paper_rows: list[dict], paper: dict | None = None) -> list[dict]:
    """Spearman's rho between imputation MAE and downstream score across methods, per block."""
    blocks: dict[tuple, list[dict]] = defaultdict(list)
    for r in _ok(records):
        blocks[(r["dataset"], r["mechanism"])].append(r)
    paper_mae = paper_cmp.paper_cells(paper) if paper else {}
    out = []
    for (dataset, mech), recs in sorted(blocks.items()):
        task = recs[0]["downstream"]["task"]
        for metric in TASK_METRICS[task]:
            sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0  # both as errors: lower is better
            mae = [r["mae"] for r in recs]
            score = [sign * r["downstream"]["imputed"][metric]["mean"] for r in recs]
            rho = _rho(mae, score)
            pairs = []
            for pm in sorted({m.paper for m in paper_cmp.METHOD_MAP}):
                p_mae = paper_mae.get((paper_cmp.MAIN_RATE, mech, pm, dataset, "mae"), {}).get("value")
                p_score = _printed(paper_rows, TABLES[task], mech, dataset, pm, metric)
                if p_mae is not None and p_score is not None:
                    pairs.append((p_mae, sign * p_score))
            out.append({"dataset": dataset, "mechanism": mech, "metric": metric, "methods": len(recs),
                        "methods_list": " ".join(sorted(f"{r['method']}/{r['preset']}" for r in recs)),
                        "spearman_rho": rho, "paper_methods": len(pairs),
                        "paper_spearman_rho": _rho(*zip(*pairs)) if len(pairs) >= 3 else None})
    return out


def paper_rhos(paper: dict, paper_rows: list[dict]) -> list[float]:
    """The paper's own rank correlation in every block it prints (its nine methods' printed MAE
    against their printed downstream score), whether or not we have records there."""
    mae = paper_cmp.paper_cells(paper)
    out = []
    for dataset, task in TASKS.items():
        for mech in MECHANISMS:
            for metric in TASK_METRICS[task.kind]:
                sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
                pairs = [(mae[key]["value"], sign * score) for pm in sorted({m.paper for m in paper_cmp.METHOD_MAP})
                         if (key := (paper_cmp.MAIN_RATE, mech, pm, dataset, "mae")) in mae
                         and mae[key]["value"] is not None
                         and (score := _printed(paper_rows, TABLES[task.kind], mech, dataset, pm, metric)) is not None]
                rho = _rho(*zip(*pairs)) if len(pairs) >= 3 else None
                if rho is not None:
                    out.append(rho)
    return out


def _rho(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def json_paper() -> dict:
    path = paper_cmp.resolve_paper_path()
    return json.loads(Path(path).read_text()) if path else {}


def headlines(scores: list[dict], ranks: list[dict], paper_all: Sequence[float] = ()) -> list[str]:
    out = []
    compared = [s for s in scores if s["verdict"] in paper_cmp.COMPARED]
    if compared:
        rep = sum(s["verdict"] == paper_cmp.REPRODUCED for s in compared)
        close = sum(abs(s["ours_mean"] - s["paper_value"]) <= 0.1 * abs(s["paper_value"]) for s in compared)
        out.append(f"Downstream (Tables F.8/F.9, seed-0 imputations): {rep} of {len(compared)} printed scores "
                   f"reproduced within the printed rounding plus two standard errors of the 10 fold shuffles, "
                   f"{close} within 10%.")
    rhos = [r["spearman_rho"] for r in ranks if r["spearman_rho"] is not None]
    if rhos:
        text = (f"Does the better imputation (lower MAE) train the better model? Spearman's rho between the MAE "
                f"ranking and the downstream ranking, over our {len(rhos)} dataset x mechanism x metric blocks: "
                f"median {statistics.median(rhos):+.2f}, positive in {sum(r > 0 for r in rhos)}")
        if paper_all:
            text += (f"; the paper's own printed numbers (nine methods) give a median {statistics.median(paper_all):+.2f}"
                     f", positive in {sum(r > 0 for r in paper_all)} of its {len(paper_all)} blocks")
        out.append(text + ".")
    # over the blocks every method has, so that the methods are compared on the same datasets
    firsts = [s for s in scores if s["metric"] in ("accuracy", "mae")]
    methods = {f"{s['method']}/{s['preset']}" for s in firsts}
    by_block = defaultdict(dict)
    for s in firsts:
        by_block[(s["dataset"], s["mechanism"])][f"{s['method']}/{s['preset']}"] = s["gap_to_ground_truth"] / abs(s["ground_truth"])
    common = [b for b, per in by_block.items() if set(per) == methods]
    if common:
        mean_gap = {m: statistics.fmean(by_block[b][m] for b in common) for m in methods}
        parts = ", ".join(f"{m} {g:+.1%}" for m, g in sorted(mean_gap.items(), key=lambda kv: kv[1]))
        out.append(f"Distance to the ground-truth score (accuracy lost, or SVR MAE added, relative to the complete "
                   f"data's; mean over the {len(common)} dataset x mechanism blocks every method has): {parts}.")
    return out


def provenance(records: list[dict]) -> list[str]:
    """Which imputations the scores are of: the grid's own (its record's mask and MAE up to
    floating-point order), reruns of it on its mask (another path through training, within the
    block's seed spread: :func:`knewimp.harness.downstream.reference_check`), or unchecked (no grid
    record). Empty when every scored imputation is the grid's."""
    ok = _ok(records)
    refs = [(r, r.get("grid_reference")) for r in ok]
    same = [r for r, g in refs if g is not None and g.get("same")]
    reruns = [(r, g) for r, g in refs if g is not None and g.get("rerun")]  # never also "same"
    unchecked = [r for r, g in refs if g is None]
    if len(same) == len(ok):
        return []
    parts = [f"{len(same)} are the grid's (its record's mask, MAE equal up to floating-point order)"]
    if reruns:
        worst = max(abs(g["mae"] - r["mae"]) / g["seed_spread"] for r, g in reruns)
        methods = ", ".join(sorted({f"{r['method']}/{r['preset']}" for r, _ in reruns}))
        parts.append(f"{len(reruns)} are reruns on the grid's mask whose MAE differs from the grid's record by at most "
                     f"{worst:.2f} of the block's seed spread ({methods}: code whose arithmetic changed after the "
                     f"grid ran takes another path through training)")
    if unchecked:
        parts.append(f"{len(unchecked)} have no grid record to check against")
    # an ok record is the grid's, a rerun or unchecked (reference_check), so parts has two or more here
    return [f"Of the {len(ok)} scored imputations, {', '.join(parts[:-1])} and {parts[-1]}; each score is "
            "paired with its own imputation's MAE."]


def _md_scores(rows: list[dict], table: str) -> str:
    lines = [f"# {table} beside our records (30%, seed-0 imputation, 10 fold shuffles)", "",
             "Ours: mean ± std over the 10 shuffled 5-fold splits of one imputation; `cv=5`: the unshuffled "
             "split. Verdict as the main comparison (`knewimp/report/paper.py`) with the paper's ten runs. "
             "Gap: how much worse than the same evaluation on the complete data (ours / printed).", "",
             *(["The paper prints MSE standard deviations of 300 to 560 (its MAE ones are about 1e-16), which the "
                 "verdict's standard error takes as they are: an MSE verdict tolerates almost any value; the MAE "
                 "rows are the informative ones.", ""] if table == TABLES["regression"] else []),
             "| mechanism | dataset | method | metric | ours | cv=5 | printed | verdict | gap to GT (ours / printed) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["table"] != table:
            continue
        pg = "--" if r["paper_gap_to_ground_truth"] is None else fmt(r["paper_gap_to_ground_truth"])
        lines.append(f"| {r['mechanism'].upper()} | {r['dataset']} | {r['method']}/{r['preset']} | {r['metric']} "
                     f"| {fmt(r['ours_mean'])} ± {fmt(r['ours_std'])} | {fmt(r['ours_unshuffled'])} "
                     f"| {fmt(r['paper_value'])} | {r['verdict']} | {fmt(r['gap_to_ground_truth'])} / {pg} |")
    return "\n".join(lines) + "\n"


def _md_truth(rows: list[dict]) -> str:
    lines = ["# Ground truth: the evaluation on the complete data", "",
             "| table | dataset | metric | ours (10 shuffles) | cv=5 | printed |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['table']} | {r['dataset']} | {r['metric']} | {fmt(r['ours_mean'])} ± {fmt(r['ours_std'])} "
                     f"| {fmt(r['ours_unshuffled'])} | {r['paper_value'] or '--'} |")
    return "\n".join(lines) + "\n"


def _signed(x: float | None) -> str:
    return "--" if x is None else f"{x:+.2f}"


def _md_ranks(rows: list[dict], sentences: list[str]) -> str:
    lines = ["# Does the imputation ranking predict the downstream ranking?", "",
             *(f"- {s}" for s in sentences), "",
             "Spearman's rho between the methods' imputation MAE and their downstream error (accuracy negated), "
             "per block; ours over the methods with records, the paper's over its nine methods' printed numbers.", "",
             "| dataset | mechanism | metric | methods | rho (ours) | rho (paper) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['mechanism'].upper()} | {r['metric']} | {r['methods']} "
                     f"| {_signed(r['spearman_rho'])} | {_signed(r['paper_spearman_rho'])} |")
    return "\n".join(lines) + "\n"


def report(results_dir: str | Path, out: str | Path, log=print) -> list[Path]:
    """Write the downstream tables from ``<results_dir>/downstream/runs``; nothing without records."""
    return build(Path(results_dir) / "downstream", out, log)


def build(records_dir: str | Path, out: str | Path, log=print) -> list[Path]:
    """Write the downstream tables from ``<records_dir>/runs``; nothing without records."""
    records = load_records(records_dir)
    if not _ok(records):
        return []
    paper = json_paper()
    paper_rows = load_paper()
    scores = score_rows(records, paper_rows)
    truth = ground_truth_rows(records, paper_rows)
    ranks = ranking_rows(records, paper_rows, paper)
    sentences = headlines(scores, ranks, paper_rhos(paper, paper_rows) if paper else ()) + provenance(records)
    out = Path(out)
    written = []
    for kind, table in TABLES.items():
        rows = [s for s in scores if s["table"] == table]
        if rows:
            written += _write_table(out, f"downstream_{table[-3:].replace('.', '').lower()}", _md_scores(rows, table), rows)
    written += _write_table(out, "downstream_ground_truth", _md_truth(truth), truth)
    written += _write_table(out, "downstream_ranking", _md_ranks(ranks, sentences), ranks)
    head = out / "tables" / "downstream_headline.md"
    write_text_atomic(head, "".join(f"- {s}\n" for s in sentences))
    written.append(head)
    for p in written:
        log(p)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", default="results/downstream")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    if not build(args.results_dir, args.out):
        print(f"no downstream records under {Path(args.results_dir) / 'runs'}; run: make downstream")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
