"""Table F.1 (the 2-D toys) from the records of ``experiment=toys``, beside the paper's values.

Reads the records under ``<results_dir>/runs`` (default ``results/toys``) written by

    python -m knewimp.harness.run -m experiment=toys

and writes

- ``tables/toys.{md,csv}``: per toy x mechanism, MAE and WASS of every method column as
  mean +/- sample std over seeds (ddof = 1), the paper's printed NewImp value (Table F.1,
  ``knewimp/report/experiments/paper_table_f1.json``) in the first column; the lowest mean of a row in bold;
- ``figures/toys.png`` when ``<results_dir>/points.npz`` exists (``scripts/toys_points.py``): per
  toy, the true points and each method's imputations of one cell (rows with a missing entry in
  colour, complete rows in grey).

A column is a method, named with its preset where the records hold several presets of it.

    python -m knewimp.report.experiments.toys [--results-dir results/toys] [--out results]
"""
from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from knewimp.report.cli import experiment_main
from knewimp.harness.atomic import atomic_path, save_figure_atomic, write_text_atomic
from knewimp.harness.records import load_records
from knewimp.vocab import METHOD_ORDER, PAPER_MECHANISMS, RANKED_METRICS, TEST_PRESETS, TOY_DATASETS

PAPER_FILE = Path(__file__).with_name("paper_table_f1.json")
#: The paper's distribution names -> this project's toy keys.
PAPER_NAMES = {"Gaussian": "toy_gaussian", "Student’s-t": "toy_student_t", "Gaussian Mixture": "toy_mixture",
               "Skewed-Gaussian": "toy_skewed"}
TITLES = {v: k.replace("’", "'") for k, v in PAPER_NAMES.items()}
PAPER_COLUMN = "paper NewImp"


def paper_values(path: str | Path = PAPER_FILE) -> dict[tuple[str, str, str], tuple[float, float]]:
    """{(toy, mechanism, metric): (mean, std)} of the paper's Table F.1 (lower-case keys)."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))["rows"]
    acc: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in rows:
        acc[(PAPER_NAMES[r["dataset"]], r["mechanism"].lower(), r["metric"].lower())][r["stat"]] = r["value"]
    return {k: (v["mean"], v["std"]) for k, v in acc.items()}


def _column_labels(records: list[dict]) -> dict[tuple[str, str], str]:
    presets = defaultdict(set)
    for r in records:
        presets[r["method"]].add(r["preset"])
    return {(m, p): (m if len(ps) == 1 else f"{m} ({p})") for m, ps in presets.items() for p in ps}


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method), method) if method in METHOD_ORDER else (len(METHOD_ORDER), method)


def summarise(records: list[dict]) -> tuple[list[str], dict[tuple[str, str, str], dict]]:
    """(column labels in table order, {(toy, mechanism, column): {n_seeds, <metric>_mean/_std}})
    over the ok records of the toys; one record per seed and cell."""
    recs = [r for r in records if r.get("status") == "ok" and r.get("dataset") in TOY_DATASETS
            and r.get("preset") not in TEST_PRESETS and r.get("missing_rate") == 0.3]
    labels = _column_labels(recs)
    groups: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in recs:
        groups[(r["dataset"], r["mechanism"], labels[(r["method"], r["preset"])])].setdefault(r["seed"], r)
    out = {}
    for key, by_seed in groups.items():
        row = {"n_seeds": len(by_seed), "seeds": sorted(by_seed)}
        for metric in RANKED_METRICS:
            vals = np.array([by_seed[s][metric] for s in sorted(by_seed)], dtype=float)
            row[f"{metric}_mean"] = float(vals.mean())
            row[f"{metric}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
        out[key] = row
    order = sorted(set(labels.values()), key=lambda lab: (_method_rank(lab.split(" ")[0]), lab))
    return order, out


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}")


def _mechanisms(summary: dict) -> list[str]:
    present = {k[1] for k in summary}
    return [m for m in PAPER_MECHANISMS if m in present] + sorted(present - set(PAPER_MECHANISMS))


def write_tables(columns: list[str], summary: dict, paper: dict, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    toys = [t for t in TOY_DATASETS if any(k[0] == t for k in summary)]
    mechs = _mechanisms(summary)
    csv_path = stem.with_suffix(".csv")
    with atomic_path(csv_path) as tmp_path, open(tmp_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["toy", "mechanism", "metric", "column", "n_seeds", "mean", "std"])
        for toy in toys:
            for mech in mechs:
                for metric in RANKED_METRICS:
                    if (toy, mech, metric) in paper:
                        pm, ps = paper[(toy, mech, metric)]
                        w.writerow([toy, mech, metric, PAPER_COLUMN, "", f"{pm:.6g}", f"{ps:.6g}"])
                    for col in columns:
                        row = summary.get((toy, mech, col))
                        if row is not None:
                            w.writerow([toy, mech, metric, col, row["n_seeds"], f"{row[f'{metric}_mean']:.6g}",
                                        f"{row[f'{metric}_std']:.6g}"])
    seeds = sorted({r["n_seeds"] for r in summary.values()})
    lines = ["# Table F.1: the 2-D toys (N = 1000, 30% missing)", "",
             "Mean ± sample std over seeds (ddof = 1) of each method at its grid preset, on the same masks; "
             f"seeds per cell: {' or '.join(str(s) for s in seeds)}. `{PAPER_COLUMN}` is the paper's printed Table F.1 "
             "(its seeds and scaling are not stated). Bold: the lowest mean of a row among this project's columns. "
             "Toys: knewimp/protocol/toys.py; derived from the records by `python -m knewimp.report.experiments.toys`.", ""]
    for metric in RANKED_METRICS:
        lines += [f"## {metric.upper()}", "", "| toy | mechanism | " + " | ".join([PAPER_COLUMN, *columns]) + " |",
                  "|---|---|" + "---|" * (len(columns) + 1)]
        for toy in toys:
            for mech in mechs:
                cells = [summary.get((toy, mech, c)) for c in columns]
                means = [c[f"{metric}_mean"] for c in cells if c is not None]
                best = min(means) if means else None
                pm = paper.get((toy, mech, metric))
                row = [_cell(*pm) if pm else "-"]
                for c in cells:
                    if c is None:
                        row.append("-")
                        continue
                    text = _cell(c[f"{metric}_mean"], c[f"{metric}_std"])
                    row.append(f"**{text}**" if c[f"{metric}_mean"] == best else text)
                lines.append(f"| {TITLES[toy]} | {mech.upper()} | " + " | ".join(row) + " |")
        lines.append("")
    md_path = stem.with_suffix(".md")
    write_text_atomic(md_path, "\n".join(lines))
    return [md_path, csv_path]


def points_figure(points: str | Path, path: Path) -> Path:
    """Scatter plots of one cell per toy: truth and each method's imputations (see module doc)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from knewimp.protocol import metrics

    data = np.load(points)
    toys = [str(t) for t in data["toys"]]
    methods = [str(m) for m in data["methods"]]
    fig, axes = plt.subplots(len(toys), len(methods) + 1, figsize=(2.6 * (len(methods) + 1), 2.6 * len(toys)),
                             squeeze=False, sharex="row", sharey="row")
    for i, toy in enumerate(toys):
        X, mask = data[f"{toy}/X"], data[f"{toy}/mask"]
        hit = mask.any(axis=1)
        for j, name in enumerate(["truth", *methods]):
            ax = axes[i, j]
            Y = X if name == "truth" else data[f"{toy}/{name}"]
            ax.scatter(X[~hit, 0], X[~hit, 1], s=2, c="0.75", lw=0, rasterized=True)
            ax.scatter(Y[hit, 0], Y[hit, 1], s=3, c="C0" if name == "truth" else "C3", lw=0, rasterized=True)
            title = name if name == "truth" else f"{name}\nMAE {metrics.mae(X, Y, mask):.3f}"
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(TITLES.get(toy, toy), fontsize=9)
    fig.suptitle(f"Toys: {str(data['mechanism']).upper()} 30%, seed {int(data['seed'])}; grey: complete rows, "
                 "colour: rows with a missing entry (standardised)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)
    return path


def build(results_dir: str | Path, out: str | Path, log=print) -> list[Path]:
    """Write the toys table (and figure, when the points file exists); nothing without records."""
    results_dir, out = Path(results_dir), Path(out)
    columns, summary = summarise(load_records(results_dir))
    written: list[Path] = []
    if summary:
        written += write_tables(columns, summary, paper_values(), out / "tables" / "toys")
    points = results_dir / "points.npz"
    if points.is_file():
        written.append(points_figure(points, out / "figures" / "toys.png"))
    for p in written:
        log(p)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return experiment_main(argv, __doc__, [
        ("--results-dir", "results/toys", "where the toys records (runs/) and points.npz are"),
        ("--out", "results", "writes <out>/tables/ and <out>/figures/")],
        build, "no toy records under {results_dir}/runs; run: python -m knewimp.harness.run -m experiment=toys")


#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("toys", "grid_status_toys.md", "toys"),)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """Table F.1 from ``<results>/toys``."""
    return build(Path(results_dir) / "toys", out, log=log)


if __name__ == "__main__":
    raise SystemExit(main())
