"""Mixed-type tables (``make mixed``, records in ``<results>/mixed``): ``tables/mixed.md`` / ``.csv``.

Per dataset, mechanism and method: accuracy and macro-F1 on the missing categorical entries, MAE
and WASS on the missing numerical ones (standardised units), reported apart, as mean ± sample
std over the seeds with an ok record (failed cells counted, never averaged). Then the verdict,
generated from the records that exist: the methods with ok records both here and on the
numerical grid (``<results>/runs`` and ``<results>/new_baselines``: the committed grid's columns,
same method and preset, the paper's three mechanisms) and no failed mixed cell, their mean rank by
MAE over the grid's blocks (dataset x mechanism) that all of them fill, and over the mixed blocks
by numerical MAE and by categorical accuracy; KnewImp's ranking carries over when its position
among them is the same on the mixed tables (by numerical MAE) as on the grid.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from knewimp.harness.records import load_records
from knewimp.report.experiments.common import _ours, _summary, _write_table
from knewimp.vocab import DATASETS, METHOD_ORDER, MIXED_DATASETS, PAPER_MECHANISMS, TEST_PRESETS

#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("mixed", "grid_status_mixed.md", "mixed"),)
DOCUMENTS = ("docs/mixed.md",)
METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("mae", "MAE (num.)"), ("wass", "WASS (num.)"))


def _mixed_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("dataset") in MIXED_DATASETS and r.get("preset") not in TEST_PRESETS]


def _order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def block_means(records: list[dict], metric: str, datasets, presets: dict[str, str] | None = None) -> dict:
    """{(dataset, mechanism): {method: mean of ``metric`` over its ok records}} (``presets``: only
    the method's preset named there)."""
    vals: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if (r.get("status") != "ok" or r.get(metric) is None or r.get("dataset") not in datasets
                or r.get("mechanism") not in PAPER_MECHANISMS or r.get("preset") in TEST_PRESETS):
            continue
        if presets is not None and presets.get(r["method"]) != r["preset"]:
            continue
        vals[(r["dataset"], r["mechanism"])][r["method"]].append(float(r[metric]))
    return {b: {m: float(np.mean(v)) for m, v in by.items()} for b, by in vals.items()}


def mean_ranks(blocks: dict, methods: list[str], higher_is_better: bool = False) -> tuple[dict[str, float], int]:
    """({method: mean rank (1 = best, ties averaged)}, blocks used): over the blocks where every one
    of ``methods`` has a value."""
    full = [by for by in blocks.values() if all(m in by for m in methods)]
    ranks: dict[str, list[float]] = defaultdict(list)
    for by in full:
        vals = [(-by[m] if higher_is_better else by[m]) for m in methods]
        for m, v in zip(methods, vals):
            ranks[m].append(1 + sum(w < v for w in vals) + 0.5 * (sum(w == v for w in vals) - 1))
    return {m: float(np.mean(ranks[m])) for m in methods if ranks[m]}, len(full)


def _position(ranks: dict[str, float], method: str) -> int:
    return 1 + sum(r < ranks[method] for m, r in ranks.items() if m != method)


def verdict(mixed: list[dict], grid: list[dict]) -> list[str]:
    """The generated verdict lines (see the module docstring)."""
    ok = [r for r in _mixed_records(mixed) if r.get("status") == "ok"]
    presets = {}
    for r in ok:
        presets.setdefault(r["method"], r["preset"])
    if "knewimp" not in presets:
        return ["No verdict: no ok KnewImp record on the mixed tables yet."]
    mixed_mae = block_means(ok, "mae", MIXED_DATASETS, presets)
    mixed_acc = block_means(ok, "accuracy", MIXED_DATASETS, presets)
    grid_mae = block_means(grid, "mae", DATASETS, presets)
    on_grid = {m for by in grid_mae.values() for m in by}
    # a method whose mixed cells failed would be ranked on its surviving seeds only: left out, and said
    failed = defaultdict(int)
    for r in _mixed_records(mixed):
        if r.get("status") == "failed" and presets.get(r["method"]) == r.get("preset"):
            failed[r["method"]] += 1
    common = _order(m for m in presets if m in on_grid and m not in failed)
    if "knewimp" not in common or len(common) < 2:
        return [f"No verdict: the numerical grid has no ok records of KnewImp and another of the mixed methods "
                f"at the same presets ({', '.join(f'{m}/{p}' for m, p in sorted(presets.items()))})."]
    g_rank, g_n = mean_ranks(grid_mae, common)
    m_rank, m_n = mean_ranks(mixed_mae, common)
    a_rank, a_n = mean_ranks(mixed_acc, common, higher_is_better=True)
    if not g_n or not m_n:
        return [f"No verdict: no block where all of {', '.join(common)} have ok records "
                f"(grid: {g_n}, mixed: {m_n})."]
    k = len(common)
    gp, mp = _position(g_rank, "knewimp"), _position(m_rank, "knewimp")
    lines = [f"Methods with ok records both on the numerical grid and on the mixed tables, at the same presets: "
             f"{', '.join(f'{m}/{presets[m]}' for m in common)}. Mean rank by MAE (1 = best) over the blocks "
             f"all of them fill:", "",
             "| method | grid MAE | mixed MAE (num.) | mixed accuracy (cat.) |", "|---|---|---|---|"]
    for m in common:
        lines.append(f"| {m} | {g_rank[m]:.2f} | {m_rank[m]:.2f} | "
                     f"{a_rank[m]:.2f} |" if m in a_rank else f"| {m} | {g_rank[m]:.2f} | {m_rank[m]:.2f} | -- |")
    lines += ["", f"Blocks (dataset x mechanism): grid {g_n}, mixed {m_n} (numerical MAE), {a_n} (accuracy)."]
    if failed:
        lines.append("Left out, their failed mixed cells ranking them on their surviving seeds only: "
                     + ", ".join(f"{m}/{presets[m]} ({n} failed)" for m, n in sorted(failed.items())) + ".")
    lines.append("")
    carries = "carries over" if gp == mp else "does not carry over"
    text = (f"**Verdict:** KnewImp's ranking on numerical data {carries} to the numerical columns of the mixed "
            f"tables: position {gp} of {k} on the grid by MAE, {mp} of {k} on the mixed tables by numerical MAE")
    if a_n and "knewimp" in a_rank:
        text += f"; on the categorical entries it is {_position(a_rank, 'knewimp')} of {k} by accuracy"
    lines.append(text + f" ({m_n} mixed block{'s' if m_n != 1 else ''}; a verdict on so few blocks is provisional)."
                 if m_n < 6 else text + ".")
    return lines


def mixed_table(mixed: list[dict]) -> tuple[str, list[dict]]:
    """Markdown (one table per mechanism; rows dataset x method) and CSV rows."""
    recs = _mixed_records(mixed)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in recs:
        groups[(r["mechanism"], r["dataset"], f"{r['method']}/{r['preset']}")].append(r)
    lines, rows = [], []
    for mech in [m for m in PAPER_MECHANISMS if any(k[0] == m for k in groups)] + sorted(
            {k[0] for k in groups} - set(PAPER_MECHANISMS)):
        lines += [f"## {mech.upper()} (30% missing)", "",
                  "| dataset | method | " + " | ".join(label for _, label in METRICS) + " |",
                  "|---|---|" + "---|" * len(METRICS)]
        for ds in [d for d in MIXED_DATASETS if any(k[:2] == (mech, d) for k in groups)]:
            labels = sorted({k[2] for k in groups if k[:2] == (mech, ds)},
                            key=lambda lab: (_order([lab.split("/")[0], *METHOD_ORDER]).index(lab.split("/")[0]), lab))
            for lab in labels:
                cells = groups[(mech, ds, lab)]
                stats = {m: _summary(cells, m) for m, _ in METRICS}
                lines.append(f"| {ds} | {lab} | " + " | ".join(_ours(stats[m]) for m, _ in METRICS) + " |")
                path = {r.get("encoding_path") for r in cells if r.get("encoding_path")}
                rows.append(dict(mechanism=mech, dataset=ds, method=lab, encoding_path="/".join(sorted(path)),
                                 **{f"{m}_{s}": stats[m][s] for m, _ in METRICS for s in ("mean", "std", "n")},
                                 failed=stats["mae"]["failed"]))
        lines.append("")
    return "\n".join(lines), rows


def report(results_dir: str | Path, out: str | Path, log=print) -> list[Path]:
    results_dir, out = Path(results_dir), Path(out)
    mixed = _mixed_records(load_records(results_dir / "mixed"))
    if not mixed:
        return []
    body, rows = mixed_table(mixed)
    intro = ["# Mixed-type tables: categorical and numerical entries scored apart", "",
             "Real tables with categorical columns (`knewimp/protocol/mixed.py`; records in `results/mixed`, "
             "`make mixed`). Accuracy and macro-F1 on the missing categorical entries, MAE and WASS on the missing "
             "numerical ones (standardised units): mean ± sample std over seeds; `[k failed]`: cells whose record "
             "says failed. Numeric methods see the categorical columns one-hot and are decoded by the argmax over "
             "each group; `mode` and `mice_mixed` impute categories natively. Written by "
             "`python -m knewimp.report.build`.", ""]
    text = "\n".join(intro) + "\n" + body + "\n## Does KnewImp's ranking carry over?\n\n" + \
        "\n".join(verdict(mixed, load_records(results_dir) + load_records(results_dir / "new_baselines"))) + "\n"
    paths = _write_table(out, "mixed", text, rows)
    log(f"mixed-type tables: {len(mixed)} records -> {paths[0]}")
    return paths
