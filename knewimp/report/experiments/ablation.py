"""KnewImp ablation and sensitivity tables and figures, derived from run records only.

Reads the records under ``<results_dir>/runs`` (default ``results/ablation``) written by

    python -m knewimp.harness.run -m experiment=ablation_entropy
    python -m knewimp.harness.run -m experiment=sensitivity

and writes, for the KnewImp cells of one dataset (default cc):

- ``tables/ablation_entropy.{md,csv}`` and ``figures/ablation_entropy.png``: MAE and WASS against
  the entropy weight lambda, every other parameter at its default;
- ``tables/sensitivity.{md,csv}`` and ``figures/sensitivity.png``: MAE and WASS against one of
  bandwidth h, hidden width, step size eta, the other parameters at their defaults.

Each point is the mean over seeds with a one-standard-deviation band (sample std, ddof = 1), one
line per missingness mechanism, as in the paper's Figure 8.

    python -m knewimp.report.experiments.ablation [--results-dir results/ablation] [--out results] [--dataset cc]
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from knewimp.harness.atomic import atomic_path, save_figure_atomic, write_text_atomic
from knewimp.harness.records import load_records
from knewimp.vocab import PAPER_MECHANISMS as MECHANISMS, RANKED_METRICS as METRICS

# parameter name -> (how to read its value from a record's params, axis label)
SENSITIVITY: dict[str, tuple[Callable[[dict], float], str]] = {
    "bandwidth": (lambda p: float(p["bandwidth"]), "bandwidth h"),
    "hidden": (lambda p: float(p["hidden"][0]), "hidden width (2 layers)"),
    "step_size": (lambda p: float(p["step_size"]), "step size eta"),
}


def _defaults() -> dict[str, Any]:
    from knewimp.base import RUNTIME_PARAMS
    from knewimp.imputer import KnewImputer

    params = KnewImputer().get_params()
    for name in RUNTIME_PARAMS:  # set by the harness, never part of a record's params
        params.pop(name)
    params["hidden"] = list(params["hidden"])
    return params


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def _varies_only(params: dict, defaults: dict, free: str) -> bool:
    """True when every parameter except ``free`` is at its default (a parameter a record does not
    name, because it was added to the method later, is at its default)."""
    return all(_same(params.get(k, v), v) for k, v in defaults.items() if k != free)


def ok_records(results_dir: str | Path, dataset: str) -> list[dict]:
    return [r for r in load_records(results_dir)
            if r.get("status") == "ok" and r.get("method") == "knewimp" and r.get("dataset") == dataset]


def summarise(records: list[dict], free: str, value_of: Callable[[dict], float]) -> list[dict]:
    """Rows (parameter, value, mechanism, n, mean/std of each metric) for one varied parameter."""
    defaults = _defaults()
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    seen: set[tuple] = set()
    for rec in records:
        params = rec["params"]
        if not _varies_only(params, defaults, free):
            continue
        key = (rec["mechanism"], value_of(params))
        if (key, rec["seed"]) in seen:  # one record per cell and seed
            continue
        seen.add((key, rec["seed"]))
        groups[key].append(rec)
    rows = []
    for (mech, value), recs in sorted(groups.items(), key=lambda kv: (_mech_order(kv[0][0]), kv[0][1])):
        row = {"parameter": free, "value": value, "mechanism": mech, "n_seeds": len(recs),
               "seeds": " ".join(str(r["seed"]) for r in sorted(recs, key=lambda r: r["seed"]))}
        for metric in METRICS:
            vals = np.array([r[metric] for r in recs], dtype=float)
            row[f"{metric}_mean"] = float(vals.mean())
            row[f"{metric}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        rows.append(row)
    return rows


def _mech_order(mech: str) -> int:
    return MECHANISMS.index(mech) if mech in MECHANISMS else len(MECHANISMS)


def _fmt_value(free: str, value: float) -> str:
    return str(int(value)) if free == "hidden" else f"{value:g}"


def write_table(rows: list[dict], path_stem: Path, title: str) -> list[Path]:
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    fields = ["parameter", "value", "mechanism", "n_seeds", "seeds", "mae_mean", "mae_std", "wass_mean", "wass_std"]
    csv_path = path_stem.with_suffix(".csv")
    with atomic_path(csv_path) as tmp_path, open(tmp_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in fields})
    lines = [f"# {title}", "",
             "Mean +/- sample std over seeds (ddof = 1; no std with one seed); derived from the run records by `python -m knewimp.report.experiments.ablation`.",
             "", "| parameter | value | mechanism | seeds | MAE | WASS |", "|---|---|---|---|---|---|"]
    def cell(row, metric):
        std = row[f"{metric}_std"]
        return f"{row[f'{metric}_mean']:.4f}" + ("" if math.isnan(std) else f" +/- {std:.4f}")

    for row in rows:
        lines.append(f"| {row['parameter']} | {_fmt_value(row['parameter'], row['value'])} | {row['mechanism']} | "
                     f"{row['n_seeds']} | {cell(row, 'mae')} | {cell(row, 'wass')} |")
    md_path = path_stem.with_suffix(".md")
    write_text_atomic(md_path, "\n".join(lines) + "\n")
    return [md_path, csv_path]


def _plot_panel(ax, rows: list[dict], metric: str, xlabel: str, xscale: str) -> None:
    for mech in MECHANISMS:
        pts = sorted((r["value"], r[f"{metric}_mean"], r[f"{metric}_std"]) for r in rows if r["mechanism"] == mech)
        if not pts:
            continue
        x, m, s = (np.array(v, dtype=float) for v in zip(*pts))
        s = np.nan_to_num(s)
        line, = ax.plot(x, m, marker="o", label=mech.upper())
        ax.fill_between(x, m - s, m + s, color=line.get_color(), alpha=0.2)
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
    elif xscale == "log":
        ax.set_xscale("log", base=2)
    values = sorted({r["value"] for r in rows})
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric.upper())
    ax.grid(alpha=0.3)


def entropy_figure(rows: list[dict], path: Path, dataset: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, METRICS):
        _plot_panel(ax, rows, metric, "entropy weight lambda (symlog)", "symlog")
        ax.axvline(10.0, color="grey", lw=0.8, ls=":")
    axes[0].legend()
    fig.suptitle(f"KnewImp entropy-weight ablation, {dataset}, 30% missing (mean +/- 1 std over seeds)")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=150)
    plt.close(fig)
    return path


def sensitivity_figure(rows_by_param: dict[str, list[dict]], path: Path, dataset: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(rows_by_param)
    fig, axes = plt.subplots(2, len(params), figsize=(4 * len(params), 6.5), squeeze=False)
    defaults = _defaults()
    for col, free in enumerate(params):
        value_of, label = SENSITIVITY[free]
        for row, metric in enumerate(METRICS):
            ax = axes[row, col]
            _plot_panel(ax, rows_by_param[free], metric, label, "log")
            ax.axvline(value_of(defaults), color="grey", lw=0.8, ls=":")
    axes[0, 0].legend()
    fig.suptitle(f"KnewImp sensitivity, {dataset}, 30% missing (one parameter at a time; mean +/- 1 std)")
    return _save(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results-dir", default="results/ablation", help="where the ablation records are (runs/)")
    ap.add_argument("--out", default="results", help="writes <out>/tables/ and <out>/figures/")
    ap.add_argument("--dataset", default="cc")
    args = ap.parse_args(argv)

    records = ok_records(args.results_dir, args.dataset)
    if not records:
        print(f"no ok KnewImp records for dataset {args.dataset!r} under {Path(args.results_dir) / 'runs'}; "
              "run: python -m knewimp.harness.run -m experiment=ablation_entropy")
        return 1
    out = Path(args.out)
    written = []
    entropy_rows = summarise(records, "entropy_weight", lambda p: float(p["entropy_weight"]))
    if entropy_rows:
        written += write_table(entropy_rows, out / "tables" / "ablation_entropy",
                               f"KnewImp entropy-weight ablation ({args.dataset}, 30% missing)")
        written.append(entropy_figure(entropy_rows, out / "figures" / "ablation_entropy.png", args.dataset))
    sens = {free: summarise(records, free, value_of) for free, (value_of, _) in SENSITIVITY.items()}
    sens = {k: v for k, v in sens.items() if len({r["value"] for r in v}) > 1}
    if sens:
        all_rows = [row for rows in sens.values() for row in rows]
        written += write_table(all_rows, out / "tables" / "sensitivity",
                               f"KnewImp sensitivity, one parameter at a time ({args.dataset}, 30% missing)")
        written.append(sensitivity_figure(sens, out / "figures" / "sensitivity.png", args.dataset))
    for path in written:
        print(path)
    return 0


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """The entropy ablation and the sensitivity sweep on cc (``<results>/ablation``), when its records exist."""
    folder = Path(results_dir) / "ablation"
    if (folder / "runs").is_dir():
        main(["--results-dir", str(folder), "--out", str(out)])
    return []


if __name__ == "__main__":
    raise SystemExit(main())
