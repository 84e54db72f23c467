"""Fig. 2: the sensitivity on cc at the paper's grid, ``experiments_sensitivity.md/.csv`` and
``figures/experiments_sensitivity.png``.

One parameter at a time (h, hidden width, lambda, eta), rows = mechanisms, each panel MAE and WASS,
mean +/- one sample std over seeds (``<results>/ablation`` plus the grid's default cells).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from knewimp.harness.records import load_records
from knewimp.report.experiments import ablation
from knewimp.report.experiments.common import _write_table, _plt
from knewimp.report.render import fmt
from knewimp.vocab import PAPER_MECHANISMS as MECHANISMS, RANKED_METRICS as METRICS

#: Fig. 2's parameters: (record key, value of a record's params, label, the paper's grid).
SENSITIVITY = (("bandwidth", lambda p: float(p["bandwidth"]), "bandwidth h", (0.1, 0.25, 0.5, 1, 2, 5, 10)),
               ("hidden", lambda p: float(p["hidden"][0]), "hidden units", (32, 64, 128, 256, 512)),
               ("entropy_weight", lambda p: float(p["entropy_weight"]), "entropy weight lambda", (1, 2, 5, 10, 15, 20)),
               ("step_size", lambda p: float(p["step_size"]), "step size eta", (0.005, 0.05, 0.1, 0.2, 0.5)))
#: The paper's only quantitative sentence on Fig. 2 (Sec. 5.3): (h, MAE, WASS) at two bandwidths, MAR, cc.
PAPER_SENSITIVITY_TEXT = {"mechanism": "mar", "from": (0.5, 0.35, 0.25), "to": (2.0, 0.82, 0.74)}

#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("sensitivity_paper", "grid_status_sensitivity_paper.md", "ablation"),)


# ------------------------------------------------------------------------------ sensitivity
def sensitivity_report(records: list[dict], out: Path, dataset: str = "cc") -> list[Path]:
    """Fig. 2 from every ok, paper-preset KnewImp record of ``dataset`` (one record per cell id)."""
    unique = {r["cell_id"]: r for r in records if r.get("status") == "ok" and r.get("method") == "knewimp"
              and r.get("preset") == "paper" and r.get("dataset") == dataset}
    recs = list(unique.values())
    by_param = {free: ablation.summarise(recs, free, value_of) for free, value_of, _, _ in SENSITIVITY}
    by_param = {k: v for k, v in by_param.items() if len({r["value"] for r in v}) > 1}
    if not by_param:
        return []
    grids = {free: grid for free, _, _, grid in SENSITIVITY}
    lines = [f"# KnewImp sensitivity at the paper's grid ({dataset}, 30% missing)", "",
             "One parameter at a time, the others at the paper preset; mean ± sample std over seeds "
             "(records of `experiment=sensitivity_paper`, `sensitivity` and `ablation_entropy` in results/ablation, "
             "and the grid's default cells). `grid` marks the paper's values (Fig. 2); the others are extra points. "
             "Written by `python -m knewimp.report.build`.", "",
             "| parameter | value | grid | mechanism | seeds | MAE | WASS |", "|---|---|---|---|---|---|---|"]
    rows = []
    for free, rws in by_param.items():
        for r in rws:
            on_grid = any(math.isclose(r["value"], g) for g in grids[free])
            cells = [fmt(r[f"{m}_mean"]) + ("" if math.isnan(r[f"{m}_std"]) else f" ± {fmt(r[f'{m}_std'])}") for m in METRICS]
            lines.append(f"| {free} | {r['value']:g} | {'grid' if on_grid else ''} | {r['mechanism']} | {r['n_seeds']} | "
                         + " | ".join(cells) + " |")
            rows.append({**{k: r[k] for k in ("parameter", "value", "mechanism", "n_seeds", "seeds")},
                         "paper_grid": on_grid, **{f"{m}_{s}": r[f"{m}_{s}"] for m in METRICS for s in ("mean", "std")}})
    lines += _sensitivity_trends(rows)
    written = _write_table(out, "experiments_sensitivity", "\n".join(lines) + "\n", rows)
    written.append(_sensitivity_figure(by_param, out / "figures" / "experiments_sensitivity.png", dataset))
    return written


def _sensitivity_trends(rows: list[dict]) -> list[str]:
    """Per parameter and mechanism, on the paper's grid values: the best value, the spread of the
    mean MAE, and the seeds behind it; then the paper's one quantitative sentence beside ours."""
    lines = ["", "## Trends on the paper's grid values (MAE)", "",
             "`spread`: largest minus smallest mean MAE over the grid values (the parameter's influence); "
             "`seeds`: fewest and most seeds behind a grid value.", "",
             "| parameter | mechanism | grid values with records | best value | best MAE | worst value | worst MAE | spread | seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for free, _, _, grid in SENSITIVITY:
        for mech in MECHANISMS:
            pts = [r for r in rows if r["parameter"] == free and r["mechanism"] == mech and r["paper_grid"]]
            if len(pts) < 2:
                continue
            best = min(pts, key=lambda r: r["mae_mean"])
            worst = max(pts, key=lambda r: r["mae_mean"])
            seeds = [r["n_seeds"] for r in pts]
            lines.append(f"| {free} | {mech} | {len(pts)} of {len(grid)} | {best['value']:g} | {fmt(best['mae_mean'])} | "
                         f"{worst['value']:g} | {fmt(worst['mae_mean'])} | {fmt(worst['mae_mean'] - best['mae_mean'])} | "
                         f"{min(seeds)}-{max(seeds)} |")
    at = {r["value"]: r for r in rows if r["parameter"] == "bandwidth" and r["mechanism"] == PAPER_SENSITIVITY_TEXT["mechanism"]}
    lo, hi = PAPER_SENSITIVITY_TEXT["from"], PAPER_SENSITIVITY_TEXT["to"]
    if lo[0] in at and hi[0] in at:
        ours = lambda r: " / ".join(fmt(r[f"{m}_mean"]) for m in METRICS)  # noqa: E731
        lines += ["", f"The paper's text (Sec. 5.3): on {PAPER_SENSITIVITY_TEXT['mechanism'].upper()}, h {lo[0]:g} -> {hi[0]:g} "
                  f"takes MAE / WASS from {lo[1]:g} / {lo[2]:g} to {hi[1]:g} / {hi[2]:g}; here from {ours(at[lo[0]])} "
                  f"to {ours(at[hi[0]])} ({at[lo[0]]['n_seeds']} and {at[hi[0]]['n_seeds']} seeds)."]
    return lines




def _sensitivity_figure(by_param: dict[str, list[dict]], path: Path, dataset: str) -> Path:
    plt = _plt()
    params = [p for p in SENSITIVITY if p[0] in by_param]
    mechs = [m for m in MECHANISMS if any(r["mechanism"] == m for rows in by_param.values() for r in rows)]
    fig, axes = plt.subplots(len(mechs), len(params), figsize=(3.6 * len(params), 2.8 * len(mechs)), squeeze=False)
    defaults = ablation._defaults()
    for i, mech in enumerate(mechs):
        for j, (free, value_of, label, _) in enumerate(params):
            ax = axes[i, j]
            for metric, style in zip(METRICS, ("-o", "--s")):
                pts = sorted((r["value"], r[f"{metric}_mean"], r[f"{metric}_std"]) for r in by_param[free] if r["mechanism"] == mech)
                if not pts:
                    continue
                x, m, s = (np.array(v, dtype=float) for v in zip(*pts))
                s = np.nan_to_num(s)
                line, = ax.plot(x, m, style, ms=3, label=metric.upper())
                ax.fill_between(x, m - s, m + s, color=line.get_color(), alpha=0.2)
            if free in ("bandwidth", "step_size", "hidden"):
                ax.set_xscale("log")
            elif min(r["value"] for r in by_param[free]) < 0:
                ax.set_xscale("symlog", linthresh=1.0)
            values = sorted({r["value"] for r in by_param[free]})
            ax.set_xticks(values)
            ax.set_xticklabels([f"{v:g}" for v in values], fontsize=7, rotation=45)
            ax.minorticks_off()
            ax.axvline(value_of(defaults), color="grey", lw=0.8, ls=":")
            ax.set_xlabel(label)
            ax.set_title(f"{mech.upper()}: {label}", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"KnewImp sensitivity, {dataset}, 30% missing (mean ± 1 std over seeds)")
    return ablation._save(fig, path)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    return sensitivity_report(load_records(results_dir / "ablation") + load_records(results_dir), out)
