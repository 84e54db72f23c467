"""What the experiment reports share: the paper's printed values (``paper_tables.json``), per-block
summaries, variant tables and their CSV twins."""
from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from knewimp.harness.atomic import atomic_path, write_text_atomic
from knewimp.report.paper import resolve_paper_path
from knewimp.report.render import fmt
from knewimp.vocab import DATASETS, PAPER_MECHANISMS as MECHANISMS, RANKED_METRICS as METRICS


# ------------------------------------------------------------------------------ paper values
def load_paper(path: str | Path | None = None) -> list[dict]:
    """Rows of every table of ``paper_tables.json`` (each with its table's ``table`` id); [] when absent.
    ``path`` None: :func:`knewimp.report.paper.resolve_paper_path`."""
    path = path if path is not None else resolve_paper_path()
    if path is None:
        return []
    try:
        data = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [dict(row, table=t["id"]) for t in data["tables"] for row in t.get("rows", [])]


def paper_value(rows: list[dict], table: str, mechanism: str, dataset: str, metric: str, stat: str = "mean",
                **match: Any) -> float | None:
    """The number the paper prints in ``table`` for this cell (None if it prints none)."""
    for row in rows:
        if (row["table"] == table and row.get("mechanism") == mechanism.upper() and row.get("dataset") == dataset.upper()
                and row.get("metric") == metric.upper() and row.get("stat") == stat
                and all(row.get(k) == v for k, v in match.items())):
            return row["value"]
    return None


# ------------------------------------------------------------------------------ helpers
def _ok_knewimp(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("method") == "knewimp"]


def _summary(recs: list[dict], metric: str) -> dict[str, Any]:
    ok = [r[metric] for r in recs if r.get("status") == "ok" and r.get(metric) is not None]
    failed = [r for r in recs if r.get("status") == "failed"]
    vals = np.array(ok, dtype=float)
    return {"n": len(ok), "failed": len(failed), "mean": float(vals.mean()) if len(vals) else math.nan,
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
            "error": failed[0].get("error") if failed else None}


def _ours(s: dict) -> str:
    if not s["n"]:
        return f"failed ({s['failed']})" if s["failed"] else "--"
    text = fmt(s["mean"]) + ("" if math.isnan(s["std"]) else f" ± {fmt(s['std'])}")
    if s["failed"]:
        text += f" [{s['failed']} failed]"
    return text


def _with_paper(s: dict, paper: float | None) -> str:
    return _ours(s) + ("" if paper is None else f" ({fmt(paper)})")


def _write_table(out: Path, name: str, markdown: str, rows: list[dict]) -> list[Path]:
    """``<out>/tables/<name>.md`` and ``.csv``."""
    md = out / "tables" / f"{name}.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(md, markdown)
    return [md, _write_csv(out / "tables" / f"{name}.csv", rows)]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0]) if rows else []
    with atomic_path(path) as tmp_path, open(tmp_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else ("" if v is None else v)) for k, v in row.items()})
    return path


def _grouped(records: list[dict], key) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        k = key(r)
        if k is not None:
            groups[k].append(r)
    return groups


def _variant_table(title: str, intro: list[str], variants: list[tuple[str, str]], groups: dict, paper_of,
                   extra_rows: list[tuple[str, dict]] = ()) -> tuple[str, list[dict]]:
    """Markdown (one table per mechanism, rows = variants, columns = dataset x metric) and CSV rows.

    ``groups[(variant, mechanism, dataset)]`` holds the records; ``paper_of(variant, mech, ds,
    metric, stat)`` the paper's number or None; ``extra_rows`` are (label, groups by (mech, ds))."""
    datasets = [d for d in DATASETS if any(k[2] == d for k in groups)]
    lines = [f"# {title}", "", *intro, ""]
    csv_rows = []
    for mech in MECHANISMS:
        if not any(k[1] == mech for k in groups):
            continue
        lines += [f"## {mech.upper()}", "", "| variant | " + " | ".join(f"{d} {m.upper()}" for d in datasets for m in METRICS) + " |",
                  "|---|" + "---|" * (len(datasets) * len(METRICS))]
        for variant, label in variants:
            cells = []
            for ds in datasets:
                for metric in METRICS:
                    s = _summary(groups.get((variant, mech, ds), []), metric)
                    p_mean, p_std = paper_of(variant, mech, ds, metric, "mean"), paper_of(variant, mech, ds, metric, "std")
                    cells.append(_with_paper(s, p_mean))
                    csv_rows.append({"variant": variant, "mechanism": mech, "dataset": ds, "metric": metric,
                                     "n": s["n"], "failed": s["failed"], "mean": s["mean"], "std": s["std"],
                                     "paper_mean": p_mean, "paper_std": p_std, "error": s["error"]})
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        for label, by_cell in extra_rows:
            cells = [_ours(_summary(by_cell.get((mech, ds), []), metric)) for ds in datasets for metric in METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n", csv_rows


def _count_worse(values: dict, better: str, worse: str, mech: str, datasets: list[str]) -> tuple[int, int]:
    """(datasets where ``worse`` has the higher MAE than ``better``, datasets with both)."""
    n = k = 0
    for ds in datasets:
        a, b = values.get((better, mech, ds)), values.get((worse, mech, ds))
        if a is None or b is None or math.isnan(a) or math.isnan(b):
            continue
        n += 1
        k += b > a
    return k, n


def _by_block(rows: list[dict], metric: str, field: str = "mean") -> dict[tuple, float]:
    """{(variant, mechanism, dataset): value} of one metric from ``_variant_table``'s rows: ours
    (``field="mean"``) or the paper's printed mean (``field="paper_mean"``, where it prints one)."""
    return {(r["variant"], r["mechanism"], r["dataset"]): r[field] for r in rows
            if r["metric"] == metric and r[field] is not None}


def _against_paper(ours: dict, theirs: dict, variants: list[tuple[str, str]]) -> list[str]:
    """Lines of a table: per variant, ours against the paper's printed MAE over the blocks both have."""
    lines = ["", "Ours against the paper's printed MAE per variant, over the blocks both have "
             "(relative difference (ours - paper) / paper):", "",
             "| variant | blocks | median rel. diff. | within 10% of the paper |", "|---|---|---|---|"]
    for variant, name in variants:
        rel = [(ours[k] - theirs[k]) / theirs[k] for k in ours if k[0] == variant and k in theirs
               and not math.isnan(ours[k]) and theirs[k]]
        if rel:
            lines.append(f"| {name} | {len(rel)} | {np.median(rel):+.0%} | {sum(abs(x) <= 0.1 for x in rel)} of {len(rel)} |")
    return lines



def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
