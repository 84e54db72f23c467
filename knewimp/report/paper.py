"""Every number the paper prints for the main comparison, next to the number this project reproduces.

Input: run records (dicts as ``knewimp.harness.records.load_records`` returns them) and the paper's printed
numbers (``paper_tables.json``: one row per printed number, see ``reference/README.md``). Output: one
row per printed cell (missing rate x mechanism x dataset x metric x paper method) that maps to a
method of ours, with the paper's mean and standard deviation, our mean +/- sample standard deviation
(ddof = 1) over the seeds whose record has status ``ok``, their difference and a verdict.

Verdict (lower MAE / WASS is better; ``v`` the printed mean, ``s_p`` its printed std, ``m``, ``s``,
``n`` our mean, std and seed count):

* the printed value stands for the interval ``[v - r, v + r]`` with ``r`` half a unit of its last
  printed decimal (the paper prints 2 decimals: ``r = 0.005``; a value carrying more decimals gets
  the finer ``r``; fewer decimals are read as 2, since ``0.50`` and ``0.5`` are the same float);
* both means are estimates: ``SE = sqrt(s^2 / n + s_p^2 / n_p)``. The paper does not state how many
  seeds its tables average, so ``n_p`` is an assumption (``paper_n``, default 5 = our seed count);
  a larger ``n_p`` tightens the test. Without a printed std the paper's term is 0;
* ``reproduced`` iff ``|m - v| <= r + 2 SE``; otherwise ``ours lower`` (``m < v``: our error is
  smaller than the paper's) or ``ours higher``;
* ``not run yet`` (no record), ``all failed`` (records, none ok), ``fewer than 2 seeds`` (no
  spread to test with), ``paper prints nan`` (no printed value).

``diff = m - v`` and ``rel_diff = (m - v) / v``: positive means our error is higher than printed.

Each row also carries our column-mean imputation on the same cell (``mean`` / ``published``), the
reference the paper's baselines are read against: ``paper_vs_colmean = (v - c) / c`` and
``closer_to`` (``colmean`` if the printed value is nearer our column mean than our implementation).

Method mapping (``METHOD_MAP``): each paper method against the column of every view of
:mod:`knewimp.report.views` that stands for it (``paper``, ``published``, ``grid``), and NewImp also
against ``knewimp/paper_text`` (the paper's text); ``not run yet`` where a cell has no record.

Beside each ``reproduced`` count, a plain ``within 10%`` count (``|m - v| <= 0.1 v``) and the
signed mean relative difference (positive: our error is higher on average).

Usage::

    python -m knewimp.report.paper [--results-dir results] [--paper PATH] [--out results/tables]
                                    [--fig results/figures] [--paper-n 5]

The paper file: ``--paper``, else ``$KNEWIMP_PAPER_TABLES``, else ``../shared/reference/
paper_tables.json`` beside the repository, else the copy committed at ``reference/paper_tables.json``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from knewimp.harness.atomic import atomic_path, save_figure_atomic, write_text_atomic

ENV_VAR = "KNEWIMP_PAPER_TABLES"
DATASETS = ("bt", "bcd", "cc", "cbv", "is", "pk", "qb", "wqw")
MECHANISMS = ("mar", "mcar", "mnar")
METRICS = ("mae", "wass")
MAIN_RATE = 0.3

REPRODUCED = "reproduced"
OURS_LOWER = "ours lower"
OURS_HIGHER = "ours higher"
NOT_RUN = "not run yet"
ALL_FAILED = "all failed"
FEW_SEEDS = "fewer than 2 seeds"
PAPER_NAN = "paper prints nan"
COMPARED = (REPRODUCED, OURS_LOWER, OURS_HIGHER)
# a mean that lands exactly on the rounding edge (0.505 against 0.50) must not fail by float error
_FP_SLACK = 1e-12


@dataclass(frozen=True)
class MethodMap:
    """One paper method read against one (method, preset) of ours."""
    paper: str
    ours: str
    preset: str
    note: str

    @property
    def label(self) -> str:
        return f"{self.paper} vs {self.ours}/{self.preset}"


#: The paper's name of each method of ours that its main table has.
PAPER_NAMES = {"knewimp": "NewImp", "sinkhorn": "Sink", "tdm": "TDM", "gain": "GAIN", "csdi_t": "CSDI_T",
               "missdiff": "MissDiff", "miracle": "MIRACLE", "miwae": "MIWAE", "remasker": "ReMasker"}


def _method_map() -> tuple[MethodMap, ...]:
    """Each paper method against the column of every view that stands for it (the views of
    :mod:`knewimp.report.views`, in their order, each (method, preset) once), and KnewImp also
    against the paper's text (``paper_text``)."""
    from knewimp.report.views import VIEWS

    out: dict[tuple[str, str], MethodMap] = {}
    for method, paper_name in PAPER_NAMES.items():
        for v in VIEWS:
            for c in v.column_list():
                if c.method == method and (method, c.preset) not in out:
                    out[(method, c.preset)] = MethodMap(paper_name, method, c.preset,
                                                       f"view `{v.name}`: {v.describe(c)}")
        if method == "knewimp":
            out[(method, "paper_text")] = MethodMap(paper_name, method, "paper_text",
                                                    "the paper's text (2 x 256 MLP, forward Euler, mean init)")
    return tuple(out.values())


METHOD_MAP: tuple[MethodMap, ...] = _method_map()
COLMEAN = ("mean", "published")

CSV_FIELDS = ("missing_rate", "mechanism", "dataset", "metric", "paper_method", "ours_method", "ours_preset",
              "paper_value", "paper_std", "paper_significant", "paper_tables", "half_width", "n", "n_failed",
              "ours_mean", "ours_std", "diff", "rel_diff", "tolerance", "verdict", "colmean_mean", "colmean_n",
              "paper_vs_colmean", "closer_to")
SUMMARY_FIELDS = ("missing_rate", "paper_method", "ours_method", "ours_preset", "metric", "printed", "compared",
                  "reproduced", "within_10pct", "ours_lower", "ours_higher", "mean_rel_diff", "median_rel_diff",
                  "closer_to_colmean")
#: The plain closeness count shown beside ``reproduced``: |ours - printed| <= WITHIN x printed.
WITHIN = 0.10


# ----------------------------------------------------------------------------------- paper file
def repo_root(start: Path | None = None) -> Path | None:
    """The nearest folder above this module holding ``pyproject.toml`` (None if there is none)."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def resolve_paper_path(arg: str | os.PathLike | None = None, env: dict | None = None,
                       root: Path | None = None) -> Path | None:
    """The paper file to use: ``arg``, else ``$KNEWIMP_PAPER_TABLES``, else
    ``<root>/../shared/reference/paper_tables.json``, else ``<root>/reference/paper_tables.json``.

    An explicit ``arg`` or environment value that does not exist raises FileNotFoundError (a typo
    must not silently fall back to another file); None when no default exists.
    """
    env = os.environ if env is None else env
    for given, what in ((arg, "--paper"), (env.get(ENV_VAR), ENV_VAR)):
        if given:
            path = Path(given)
            if not path.is_file():
                raise FileNotFoundError(f"{what}={given}: no such file")
            return path
    root = repo_root() if root is None else root
    if root is None:
        return None
    for path in (root.parent / "shared" / "reference" / "paper_tables.json",
                 root / "reference" / "paper_tables.json"):
        if path.is_file():
            return path
    return None


def half_width(value: float) -> float:
    """Half a unit of the last printed decimal, at least 2 decimals: 0.87 -> 0.005, 0.026 -> 0.0005."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    decimals = max(2, -int(exponent))
    return 0.5 * 10.0 ** (-decimals)


def _is_main_row(row: dict, methods: set[str]) -> bool:
    return (not any(k in row for k in ("ner", "joint", "kernel")) and row.get("method") in methods
            and str(row.get("metric", "")).lower() in METRICS and str(row.get("dataset", "")).lower() in DATASETS
            and str(row.get("mechanism", "")).lower() in MECHANISMS and row.get("stat") in ("mean", "std"))


def paper_cells(paper: dict, methods: Iterable[str] | None = None) -> dict[tuple, dict]:
    """The printed main-comparison cells, keyed ``(rate, mechanism, paper_method, dataset, metric)``.

    Value: ``{"value", "std", "significant", "tables", "std_tables"}``. Tables that print the same
    cell twice (Table 1 and F.2) must agree; a disagreement raises ValueError naming both.
    Ablation rows (``ner`` / ``joint``), kernel rows and tables that do not print both MAE and WASS
    (the downstream tables reuse the name MAE for a regression error) are not the main comparison.
    """
    methods = set(methods or {m.paper for m in METHOD_MAP})
    cells: dict[tuple, dict] = {}
    for table in paper.get("tables", []):
        rate = table.get("missing_rate")
        if rate is None or not {"MAE", "WASS"} <= {str(r.get("metric")).upper() for r in table.get("rows", [])}:
            continue
        for row in table.get("rows", []):
            if not _is_main_row(row, methods):
                continue
            key = (round(float(rate), 6), row["mechanism"].lower(), row["method"], row["dataset"].lower(),
                   row["metric"].lower())
            cell = cells.setdefault(key, {"value": None, "std": None, "significant": None, "tables": [],
                                          "std_tables": [], "_seen_mean": False, "_seen_std": False})
            field, seen, tables = (("value", "_seen_mean", "tables") if row["stat"] == "mean"
                                   else ("std", "_seen_std", "std_tables"))
            if cell[seen] and cell[field] != row["value"]:
                raise ValueError(f"{key}: {table['id']} prints {row['value']} but {cell[tables][0]} prints "
                                 f"{cell[field]}")
            if not cell[seen]:
                cell[field] = row["value"]
                if row["stat"] == "mean":
                    cell["significant"] = row.get("significant")
            cell[seen] = True
            cell[tables].append(table["id"])
    for cell in cells.values():
        cell.pop("_seen_mean")
        cell.pop("_seen_std")
    return {k: c for k, c in cells.items() if c["tables"]}


# ----------------------------------------------------------------------------------- our records
def _group_records(records: Iterable[dict]) -> tuple[dict, list[str]]:
    """``{(method, preset, rate, mechanism, dataset): {"ok": [records], "failed": int}}``.

    If one (method, preset) holds records of several parameter sets (an ablation mixed in), the set
    with the most ok records is kept and the others are named in the returned warnings.
    """
    by_digest: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("missing_rate") is None or r.get("dataset") is None:
            continue
        key = (r["method"], r["preset"], round(float(r["missing_rate"]), 6), r["mechanism"], r["dataset"])
        digest = json.dumps(r.get("params", {}), sort_keys=True, default=str)
        by_digest[(r["method"], r["preset"])][digest].append((key, r))
    groups: dict[tuple, dict] = defaultdict(lambda: {"ok": [], "failed": 0})
    warnings = []
    for (method, preset), digests in sorted(by_digest.items()):
        ranked = sorted(digests.items(), key=lambda kv: -sum(r.get("status") == "ok" for _, r in kv[1]))
        if len(ranked) > 1:
            warnings.append(f"{method}/{preset}: {len(ranked)} parameter sets in the records; kept the one "
                            f"with {len(ranked[0][1])} records, ignored {sum(len(v) for _, v in ranked[1:])}")
        for key, r in ranked[0][1]:
            if r.get("status") == "ok" and all(r.get(m) is not None for m in METRICS):
                groups[key]["ok"].append(r)
            else:
                groups[key]["failed"] += 1
    return groups, warnings


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def verdict(paper_value: float | None, paper_std: float | None, ours: Sequence[float], n_failed: int = 0,
            paper_n: int = 5, half: float | None = None) -> tuple[str, float | None]:
    """(verdict, tolerance) for one cell; see the module docstring for the definition. ``half``:
    the printed value's rounding half-width where :func:`half_width` cannot read it (E-notation)."""
    if paper_value is None:
        return PAPER_NAN, None
    if not ours:
        return (ALL_FAILED if n_failed else NOT_RUN), None
    if len(ours) < 2:
        return FEW_SEEDS, None
    if paper_n < 1:
        raise ValueError(f"paper_n must be >= 1, got {paper_n!r}")
    mean, std = _mean_std(ours)
    se2 = std ** 2 / len(ours) + ((paper_std or 0.0) ** 2) / paper_n
    tol = (half_width(paper_value) if half is None else half) + 2.0 * math.sqrt(se2)
    diff = mean - paper_value
    if abs(diff) <= tol + _FP_SLACK:
        return REPRODUCED, tol
    return (OURS_LOWER if diff < 0 else OURS_HIGHER), tol


def compare(records: Iterable[dict], paper: dict, paper_n: int = 5,
            rates: Iterable[float] | None = None,
            method_map: Sequence[MethodMap] = METHOD_MAP) -> tuple[list[dict], list[str]]:
    """The comparison rows (fields ``CSV_FIELDS``) and warnings about the records.

    ``rates``: missing rates to report; default the main rate (30%) plus every other printed rate
    that has at least one record of ours. ``method_map``: which (method, preset) of ours reads
    each paper method (another experiment's view, e.g. the rates experiment's `paper` presets).
    """
    groups, warnings = _group_records(records)
    cells = paper_cells(paper, {m.paper for m in method_map})
    have_rates = {k[2] for k in groups}
    rates = ({MAIN_RATE} | (have_rates & {k[0] for k in cells})) if rates is None else {round(r, 6) for r in rates}
    rows = []
    for rate in sorted(rates):
        for mm in method_map:
            for mech in MECHANISMS:
                for ds in DATASETS:
                    for metric in METRICS:
                        cell = cells.get((rate, mech, mm.paper, ds, metric))
                        if cell is not None:
                            rows.append(_row(rate, mech, ds, metric, mm, cell, groups, paper_n))
    return rows, warnings


def _row(rate, mech, ds, metric, mm: MethodMap, cell, groups, paper_n) -> dict:
    g = groups.get((mm.ours, mm.preset, rate, mech, ds), {"ok": [], "failed": 0})
    ours = [float(r[metric]) for r in g["ok"]]
    mean, std = _mean_std(ours)
    v = cell["value"]
    verd, tol = verdict(v, cell["std"], ours, g["failed"], paper_n)
    cm = [float(r[metric]) for r in groups.get((COLMEAN[0], COLMEAN[1], rate, mech, ds), {"ok": []})["ok"]]
    cm_mean, _ = _mean_std(cm)
    diff = None if (mean is None or v is None) else mean - v
    closer = None
    if v is not None and mean is not None and cm_mean is not None:
        closer = "colmean" if abs(v - cm_mean) < abs(v - mean) else "ours"
    return {
        "missing_rate": rate, "mechanism": mech, "dataset": ds, "metric": metric,
        "paper_method": mm.paper, "ours_method": mm.ours, "ours_preset": mm.preset,
        "paper_value": v, "paper_std": cell["std"], "paper_significant": cell["significant"],
        "paper_tables": " / ".join(cell["tables"] + cell["std_tables"]),
        "half_width": None if v is None else half_width(v),
        "n": len(ours), "n_failed": g["failed"], "ours_mean": mean, "ours_std": std,
        "diff": diff, "rel_diff": None if (diff is None or v == 0) else diff / v,
        "tolerance": tol, "verdict": verd, "colmean_mean": cm_mean, "colmean_n": len(cm),
        "paper_vs_colmean": None if (v is None or not cm_mean) else (v - cm_mean) / cm_mean,
        "closer_to": closer,
    }


def summarise(rows: Iterable[dict]) -> list[dict]:
    """Per (rate, paper method, our method, preset, metric): counts of verdicts and the mean and
    median relative difference over the compared cells (positive: our error is higher)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    order = []
    for r in rows:
        key = (r["missing_rate"], r["paper_method"], r["ours_method"], r["ours_preset"], r["metric"])
        if key not in groups:
            order.append(key)
        groups[key].append(r)
    out = []
    for key in order:
        rs = groups[key]
        rel = [r["rel_diff"] for r in rs if r["verdict"] in COMPARED and r["rel_diff"] is not None]
        out.append({
            "missing_rate": key[0], "paper_method": key[1], "ours_method": key[2], "ours_preset": key[3],
            "metric": key[4], "printed": sum(r["paper_value"] is not None for r in rs),
            "compared": sum(r["verdict"] in COMPARED for r in rs),
            "reproduced": sum(r["verdict"] == REPRODUCED for r in rs),
            "within_10pct": sum(_within(r) for r in rs),
            "ours_lower": sum(r["verdict"] == OURS_LOWER for r in rs),
            "ours_higher": sum(r["verdict"] == OURS_HIGHER for r in rs),
            "mean_rel_diff": statistics.fmean(rel) if rel else None,
            "median_rel_diff": statistics.median(rel) if rel else None,
            "closer_to_colmean": sum(r["closer_to"] == "colmean" for r in rs),
        })
    return out


def _within(row: dict) -> bool:
    return row["verdict"] in COMPARED and row["rel_diff"] is not None and abs(row["rel_diff"]) <= WITHIN + _FP_SLACK


def paper_n_sensitivity(records: Sequence[dict], paper: dict, ns: Sequence[int] = (2, 3, 5, 10, 100),
                        rate: float = MAIN_RATE) -> list[dict]:
    """How the ``reproduced`` count of each (paper method, preset) depends on the assumed paper seed
    count ``n_p``: ``[{"paper_method", "ours_preset", "compared", n_p: reproduced, ...}]``."""
    out: dict[tuple, dict] = {}
    for n in ns:
        rows, _ = compare(records, paper, paper_n=n, rates=[rate])
        for r in rows:
            if r["verdict"] not in COMPARED:
                continue
            key = (r["paper_method"], r["ours_method"], r["ours_preset"])
            entry = out.setdefault(key, {"paper_method": key[0], "ours_method": key[1], "ours_preset": key[2],
                                         "compared": 0, **{m: 0 for m in ns}})
            entry[n] += r["verdict"] == REPRODUCED
            if n == ns[0]:
                entry["compared"] += 1
    return list(out.values())


# ----------------------------------------------------------------------------------- sentences
def _pct(x: float) -> str:
    return f"{100 * x:+.0f}%"


def _find(rows, **kw) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]


def headlines(rows: list[dict], summary: list[dict] | None = None, rate: float = MAIN_RATE) -> list[str]:
    """A few sentences for the README, every number taken from ``rows``."""
    summary = summarise(rows) if summary is None else summary
    rate = round(rate, 6)
    rows = [r for r in rows if r["missing_rate"] == rate]
    summary = [s for s in summary if s["missing_rate"] == rate]
    out = []
    for preset in ("paper", "paper_text"):
        ss = _find(summary, paper_method="NewImp", ours_preset=preset)
        if not ss or not sum(s["compared"] for s in ss):
            continue
        compared = sum(s["compared"] for s in ss)
        rep = sum(s["reproduced"] for s in ss)
        per_metric = "; ".join(
            f"{s['metric'].upper()} {s['reproduced']} of {s['compared']}, mean relative difference "
            f"{_pct(s['mean_rel_diff'])} (ours lower in {s['ours_lower']}, higher in {s['ours_higher']})"
            for s in ss if s["compared"])
        cells = [r for r in _find(rows, paper_method="NewImp", ours_preset=preset) if r["verdict"] in COMPARED]
        mechs = ", ".join(m.upper() for m in MECHANISMS if any(r["mechanism"] == m for r in cells))
        n_ds = len({r["dataset"] for r in cells})
        mets = ", ".join(m.upper() for m in METRICS if any(r["metric"] == m for r in cells))
        within = sum(s["within_10pct"] for s in ss)
        signed = statistics.fmean(r["rel_diff"] for r in cells if r["rel_diff"] is not None)
        out.append(f"KnewImp (`{preset}` preset) reproduces {rep} of the {compared} printed NewImp cells at "
                   f"{rate:.0%} ({mechs} x {n_ds} datasets x {mets}) within the paper's rounding plus two "
                   f"standard errors; {within} of {compared} lie within {WITHIN:.0%} of the printed value, and "
                   f"ours is {_pct(signed)} on average (signed): {per_metric}.")
    for paper_method in ("Sink", "TDM", "GAIN", "CSDI_T", "MissDiff", "MIRACLE", "MIWAE", "ReMasker"):
        ss = [s for s in _find(summary, paper_method=paper_method) if s["compared"]]
        if not ss:
            continue
        by_preset: dict[str, list[dict]] = defaultdict(list)
        for s in ss:
            by_preset[s["ours_preset"]].append(s)
        parts = []
        for preset, pss in by_preset.items():
            comp = sum(s["compared"] for s in pss)
            printed = sum(s["printed"] for s in pss)
            so_far = f" (so far: {comp} of its {printed} printed cells have records)" if comp < printed else ""
            rel = [r["rel_diff"] for r in _find(rows, paper_method=paper_method, ours_preset=preset)
                   if r["verdict"] in COMPARED]
            near_cm = sum(s["closer_to_colmean"] for s in pss)
            parts.append(f"`{pss[0]['ours_method']}/{preset}`{so_far} reproduces {sum(s['reproduced'] for s in pss)} of "
                         f"{comp}, {sum(s['within_10pct'] for s in pss)} within {WITHIN:.0%} (ours lower in {sum(s['ours_lower'] for s in pss)}, higher in "
                         f"{sum(s['ours_higher'] for s in pss)}; mean relative difference "
                         f"{_pct(statistics.fmean(rel))}), and the printed value is nearer our column-mean "
                         f"imputation than this preset in {near_cm} of {comp}")
        unrun = [f"`{m.ours}/{m.preset}`" for m in METHOD_MAP if m.paper == paper_method and m.preset not in by_preset
                 and _find(rows, paper_method=paper_method, ours_preset=m.preset)]
        if unrun:
            parts.append(f"{', '.join(unrun)} not run yet")
        ex = _example(rows, paper_method)
        out.append(f"The paper's {paper_method}: " + "; ".join(parts) + (f". Example: {ex}." if ex else "."))
    return out


def _example(rows: list[dict], paper_method: str) -> str | None:
    """One fixed cell (the first printed: MAR, first dataset, MAE) spelled out for every preset."""
    rs = [r for r in rows if r["paper_method"] == paper_method and r["verdict"] in COMPARED]
    if not rs:
        return None
    first = rs[0]
    same = [r for r in rs if (r["mechanism"], r["dataset"], r["metric"]) ==
            (first["mechanism"], first["dataset"], first["metric"])]
    cell = f"{first['mechanism'].upper()} {first['dataset'].upper()} {first['metric'].upper()}"
    ours = ", ".join(f"our {r['ours_method']}/{r['ours_preset']} {r['ours_mean']:.2f}" for r in same)
    cm = f", our column mean {first['colmean_mean']:.2f}" if first["colmean_mean"] is not None else ""
    return f"{cell} printed {first['paper_value']:.2f}{cm}, {ours}"


# ----------------------------------------------------------------------------------- rendering
def _f(x: float | None, nd: int = 3) -> str:
    return "" if x is None else f"{x:.{nd}f}"


def _cell_ours(r: dict) -> str:
    if r["ours_mean"] is None:
        return "-"
    sd = f" ± {r['ours_std']:.3f}" if r["ours_std"] is not None else ""
    return f"{r['ours_mean']:.3f}{sd} ({r['n']})"


def _cell_paper(r: dict) -> str:
    if r["paper_value"] is None:
        return "nan"
    star = "*" if r["paper_significant"] else ""
    sd = f" ± {r['paper_std']:g}" if r["paper_std"] is not None else ""
    return f"{r['paper_value']:.2f}{star}{sd}"


def render_markdown(rows: list[dict], summary: list[dict], sentences: list[str], paper_path: str,
                    paper_n: int, warnings: Sequence[str] = (), sensitivity: Sequence[dict] = ()) -> str:
    lines = ["# Every number the paper prints, next to ours", "",
             "Generated by `python -m knewimp.report.paper` from the run records and the paper's printed "
             f"numbers (`{paper_path}`); do not edit by hand.", "",
             "**Verdict.** The printed mean `v` (2 decimals) stands for `[v - 0.005, v + 0.005]`. Both means "
             "are estimates, so the interval is widened by two standard errors of the difference, "
             f"`SE = sqrt(s^2/n + s_p^2/n_p)`, with `s`, `n` our seed std and count and `s_p` the paper's "
             f"printed std. The paper does not state its number of seeds; `n_p = {paper_n}` is assumed "
             "(`--paper-n`). `reproduced`: `|ours - v| <= 0.005 + 2 SE`; otherwise `ours lower` (our error "
             "is smaller than printed) or `ours higher`. Relative difference = (ours - paper) / paper. "
             "`col. mean`: our column-mean imputation on the same cell, the floor the paper's baselines "
             "are read against. `*`: the paper marks NewImp significantly better than this method.", ""]
    if sentences:
        lines += ["## Headlines", ""] + [f"- {s}" for s in sentences] + [""]
    lines += ["## Summary per method and metric", "",
              "| rate | paper method | ours | metric | printed | compared | reproduced | within 10% | ours lower "
              "| ours higher | mean rel. diff | median rel. diff | paper nearer col. mean |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['missing_rate']:.0%} | {s['paper_method']} | {s['ours_method']}/{s['ours_preset']} "
                     f"| {s['metric'].upper()} | {s['printed']} | {s['compared']} | {s['reproduced']} | {s['within_10pct']} "
                     f"| {s['ours_lower']} | {s['ours_higher']} "
                     f"| {'' if s['mean_rel_diff'] is None else _pct(s['mean_rel_diff'])} "
                     f"| {'' if s['median_rel_diff'] is None else _pct(s['median_rel_diff'])} "
                     f"| {s['closer_to_colmean']} |")
    lines.append("")
    if sensitivity:
        ns = [k for k in sensitivity[0] if isinstance(k, int)]
        lines += ["Cells reproduced against the assumed number of paper seeds `n_p` (the paper does not "
                  "state it; a larger `n_p` shrinks the paper's share of the standard error):", "",
                  "| paper method | ours | compared | " + " | ".join(f"n_p = {n}" for n in ns) + " |",
                  "|---|---|---|" + "---|" * len(ns)]
        for e in sensitivity:
            lines.append(f"| {e['paper_method']} | {e['ours_method']}/{e['ours_preset']} | {e['compared']} | "
                         + " | ".join(str(e[n]) for n in ns) + " |")
        lines.append("")
    if warnings:
        lines += ["Records: " + "; ".join(warnings), ""]
    sections: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        sections[(r["missing_rate"], r["paper_method"], r["ours_method"], r["ours_preset"])].append(r)
    for (rate, pm, om, preset), rs in sections.items():
        note = next((m.note for m in METHOD_MAP if (m.ours, m.preset) == (om, preset)), "")
        title = f"## {pm} (paper) vs {om}/{preset} (ours), {rate:.0%} missing" + (f"\n\nOurs: {note}." if note else "")
        if not any(r["n"] or r["n_failed"] for r in rs):
            lines += [title, "", f"Not run yet: no records of `{om}` with preset `{preset}`; {len(rs)} printed cells "
                      f"({', '.join(sorted(set(rs[0]['paper_tables'].split(' / '))))}).", ""]
            continue
        lines += [title, "", "| mechanism | dataset | metric | paper ± std | ours ± std (n) | diff | rel. diff "
                  "| verdict | col. mean |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rs:
            lines.append(f"| {r['mechanism'].upper()} | {r['dataset'].upper()} | {r['metric'].upper()} "
                         f"| {_cell_paper(r)} | {_cell_ours(r)} | {_f(r['diff'])} "
                         f"| {'' if r['rel_diff'] is None else _pct(r['rel_diff'])} | {r['verdict']} "
                         f"| {_f(r['colmean_mean'])} |")
        lines.append("")
    return "\n".join(lines)


def _write_csv(path: Path, fields: Sequence[str], rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in fields})


def plot(rows: list[dict], path: Path, rate: float = MAIN_RATE) -> Path | None:
    """Our mean (error bar: seed std) against the printed value, one panel per (paper method,
    our preset) with compared cells, log-log, the y = x line; grey crosses: our column mean."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["missing_rate"] == round(rate, 6) and r["verdict"] in COMPARED]
    panels: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        panels[(r["paper_method"], r["ours_method"], r["ours_preset"])].append(r)
    if not panels:
        return None
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.5 * nrow), squeeze=False)
    colors = {"mar": "tab:blue", "mcar": "tab:orange", "mnar": "tab:green"}
    markers = {"mae": "o", "wass": "s"}
    vals = [v for r in rows for v in (r["paper_value"], r["ours_mean"], r["colmean_mean"]) if v and v > 0]
    lo, hi = min(vals) / 1.5, max(vals) * 1.5
    for ax, ((pm, om, preset), rs) in zip(axes.flat, panels.items()):
        for r in rs:
            if r["colmean_mean"]:
                ax.plot(r["paper_value"], r["colmean_mean"], "x", color="0.6", ms=4, zorder=1)
            ax.errorbar(r["paper_value"], r["ours_mean"], yerr=r["ours_std"] or 0.0, fmt=markers[r["metric"]],
                        color=colors[r["mechanism"]], ms=4, elinewidth=0.8, zorder=2)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"paper {pm}",
               ylabel=f"ours {om}/{preset}")
        rep = sum(r["verdict"] == REPRODUCED for r in rs)
        ax.set_title(f"{pm} vs {om}/{preset}: {rep}/{len(rs)} reproduced", fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=m.upper()) for m, c in colors.items()]
    handles += [plt.Line2D([], [], ls="", marker=mk, color="k", label=m.upper()) for m, mk in markers.items()]
    handles += [plt.Line2D([], [], ls="", marker="x", color="0.6", label="our column mean")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.suptitle(f"Printed value (x) vs ours (y), {rate:.0%} missing; mean ± seed std, y = x dashed", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=130)
    plt.close(fig)
    return path


def write_report(records: Iterable[dict], paper_path: str | os.PathLike, out: str | os.PathLike,
                 fig: str | os.PathLike | None, paper_n: int = 5) -> dict[str, Any]:
    """Compare, then write ``paper_vs_ours.md``, ``.csv``, ``paper_vs_ours_summary.csv`` under ``out``
    and ``paper_vs_ours.png`` under ``fig`` (None: no figure). Returns rows, summary, sentences, paths."""
    with open(paper_path, encoding="utf-8") as fh:
        paper = json.load(fh)
    records = list(records)
    rows, warnings = compare(records, paper, paper_n=paper_n)
    sensitivity = paper_n_sensitivity(records, paper, ns=sorted({2, 3, paper_n, 10, 100}))
    summary = summarise(rows)
    sentences = headlines(rows, summary)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = f"{Path(paper_path).name}, sha256 {hashlib.sha256(Path(paper_path).read_bytes()).hexdigest()[:12]}"
    paths = [out / "paper_vs_ours.md", out / "paper_vs_ours.csv", out / "paper_vs_ours_summary.csv"]
    write_text_atomic(paths[0], render_markdown(rows, summary, sentences, shown, paper_n, warnings, sensitivity)
                      + "\n")
    _write_csv(paths[1], CSV_FIELDS, rows)
    _write_csv(paths[2], SUMMARY_FIELDS, summary)
    if fig is not None:
        png = plot(rows, Path(fig) / "paper_vs_ours.png")
        if png is not None:
            paths.append(png)
    return {"rows": rows, "summary": summary, "sentences": sentences, "warnings": warnings,
            "sensitivity": sensitivity, "paths": paths}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.report.paper",
                                 description="Every number the paper prints, next to ours.")
    ap.add_argument("--results-dir", default="results", help="folder holding runs/*.json")
    ap.add_argument("--paper", default=None, help=f"paper_tables.json (default: ${ENV_VAR}, then "
                    "../shared/reference/paper_tables.json, then reference/paper_tables.json)")
    ap.add_argument("--out", default=None, help="tables folder (default: <results-dir>/tables)")
    ap.add_argument("--fig", default=None, help="figures folder (default: <results-dir>/figures)")
    ap.add_argument("--no-figure", action="store_true")
    ap.add_argument("--paper-n", type=int, default=5, help="assumed number of seeds behind each printed mean")
    args = ap.parse_args(argv)
    try:
        paper_path = resolve_paper_path(args.paper)
    except FileNotFoundError as exc:
        print(f"knewimp.report.paper: {exc}", file=sys.stderr)
        return 2
    if paper_path is None:
        print(f"knewimp.report.paper: paper_tables.json not found (pass --paper or set {ENV_VAR})", file=sys.stderr)
        return 2
    if args.paper_n < 1:
        print(f"knewimp.report.paper: --paper-n must be >= 1, got {args.paper_n}", file=sys.stderr)
        return 2
    from knewimp.harness.records import load_records

    res_dir = Path(args.results_dir)
    res = write_report(load_records(res_dir), paper_path, args.out or res_dir / "tables",
                       None if args.no_figure else (args.fig or res_dir / "figures"), args.paper_n)
    for w in res["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    for s in res["sentences"]:
        print(s)
    print("wrote " + ", ".join(p.as_posix() for p in res["paths"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
