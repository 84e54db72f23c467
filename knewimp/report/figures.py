"""Summary figures from run records: critical-difference diagrams and runtime.

* ``cd_{mae,wass}.png``: Demsar-style critical-difference diagram. Methods sit on an axis of
  average rank over the dataset-mechanism blocks (1 = best); a thick bar joins methods whose
  average ranks differ by less than the Nemenyi critical difference
  ``CD = q_alpha sqrt(k (k + 1) / (6 N))`` (not significantly different). Only methods with
  complete blocks enter (``knewimp.report.stats.complete_blocks``); dropped ones are named in the figure.
* ``runtime.png``: fit seconds per cell for each (method, preset) column (box plot and the cells
  as points, log scale), and the reference method's fit seconds against the number of rows n.

``python -m knewimp.report.tables`` draws these too; ``python -m knewimp.report.figures`` draws only the figures.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from knewimp.harness.atomic import save_figure_atomic
from knewimp.report import stats  # noqa: E402
from knewimp.harness.records import load_records  # noqa: E402
from knewimp.report.selection import Column, column_labels, resolve_reference, select_records  # noqa: E402
from knewimp.report.ranks import compute_ranks  # noqa: E402
from knewimp.vocab import RANKED_METRICS  # noqa: E402



def cd_diagram(avg_ranks: dict[str, float], cd: float, path: str | Path, title: str = "",
               footnote: str = "") -> Path:
    """Draw a critical-difference diagram of ``avg_ranks`` (label -> average rank) to ``path``."""
    if len(avg_ranks) < 2:
        raise ValueError(f"a CD diagram needs at least 2 methods, got {len(avg_ranks)}")
    items = sorted(avg_ranks.items(), key=lambda kv: (kv[1], kv[0]))
    names = [n for n, _ in items]
    ranks = np.array([r for _, r in items])
    k = len(items)
    bars = stats.cliques(ranks, cd)
    half = math.ceil(k / 2)
    span = k - 1
    lo, hi = 1 - 0.08 * span, k + 0.08 * span        # where the label lines end
    row_h, bar_h = 0.32, 0.14
    y_first = -(0.35 + bar_h * len(bars))
    n_rows = max(half, k - half)
    height = 1.4 + row_h * n_rows + bar_h * len(bars) + (0.35 if footnote else 0)
    fig, ax = plt.subplots(figsize=(8.0, height))
    ax.set_xlim(1 - 0.75 * span, k + 0.75 * span)
    ax.set_ylim(y_first - row_h * n_rows - (0.45 if footnote else 0.1), 1.0)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="k", lw=1.2)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.08], color="k", lw=1)
        ax.text(t, 0.13, str(t), ha="center", va="bottom", fontsize=9)
    for t in np.arange(1.5, k, 1.0):
        ax.plot([t, t], [0, 0.04], color="k", lw=0.7)
    # the CD scale sits above the axis, starting at rank 1
    ax.plot([1, 1 + cd], [0.6, 0.6], color="k", lw=1.5)
    for x in (1, 1 + cd):
        ax.plot([x, x], [0.55, 0.65], color="k", lw=1.5)
    ax.text(1 + cd / 2, 0.68, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    for i, (name, r) in enumerate(zip(names, ranks)):
        left = i < half
        row = i if left else k - 1 - i
        y = y_first - row_h * row
        x_end = lo if left else hi
        ax.plot([r, r, x_end], [0, y, y], color="k", lw=0.9)
        ax.text(x_end - 0.02 * span if left else x_end + 0.02 * span, y, f"{name} ({r:.2f})",
                ha="right" if left else "left", va="center", fontsize=9)
    for j, (a, b) in enumerate(bars):
        y = -0.2 - bar_h * j
        ax.plot([ranks[a] - 0.03, ranks[b] + 0.03], [y, y], color="k", lw=4, solid_capstyle="round")
    if title:
        ax.set_title(title, fontsize=10)
    if footnote:
        ax.text(0.5, 0.0, footnote, transform=ax.transAxes, ha="center", va="bottom", fontsize=7, wrap=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def runtime_figure(records: list[dict], labels: dict, reference, path: str | Path) -> Path:
    """Fit seconds per cell per column (log scale), and the reference method's fit seconds against n."""
    ok = [r for r in records if r.get("status") == "ok" and isinstance(r.get("fit_seconds"), (int, float))
          and r["fit_seconds"] > 0]
    cols = sorted({Column(r["method"], r["preset"]) for r in ok}, key=Column.sort_key)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1.6, 1]})
    devices = sorted({str(r.get("device")) for r in ok})
    if cols:
        data = [[r["fit_seconds"] for r in ok if Column(r["method"], r["preset"]) == c] for c in cols]
        ax1.boxplot(data, showfliers=False, widths=0.6)
        jitter = np.random.default_rng(0)  # fixed: only spreads the points sideways for legibility
        markers = dict(zip(devices, "o^sDv<>"))
        seen: set[str] = set()
        for i, c in enumerate(cols, start=1):
            for dev in devices:
                ys = [r["fit_seconds"] for r in ok if Column(r["method"], r["preset"]) == c and str(r.get("device")) == dev]
                if ys:
                    ax1.scatter(i + jitter.uniform(-0.18, 0.18, len(ys)), ys, s=10, alpha=0.6,
                                marker=markers.get(dev, "o"), color="C0", label=None if dev in seen else dev)
                    seen.add(dev)
        ax1.set_xticks(range(1, len(cols) + 1), [labels.get(c, c.method) for c in cols], rotation=30, ha="right")
        ax1.set_yscale("log")
        if len(devices) > 1:
            ax1.legend(title="device", fontsize=8)
    else:
        ax1.text(0.5, 0.5, "no ok records with fit_seconds", ha="center", va="center", transform=ax1.transAxes)
        ax1.set_xticks([])
        ax1.set_yticks([])
    ax1.set_ylabel("fit seconds per cell (log)")
    ax1.set_title(f"Fit time per cell ({len(ok)} cells; device: {', '.join(devices) or 'n/a'})", fontsize=10)

    ref_method = reference.method if reference is not None else "knewimp"
    ref = [r for r in ok if r["method"] == ref_method and isinstance(r.get("n"), (int, float))]
    if ref:
        for j, preset in enumerate(sorted({r["preset"] for r in ref})):
            rs = [r for r in ref if r["preset"] == preset]
            ax2.scatter([r["n"] for r in rs], [r["fit_seconds"] for r in rs], s=14, alpha=0.7, color=f"C{j}",
                        label=f"preset {preset}")
        for ds in sorted({r["dataset"] for r in ref}):
            pts = [(r["n"], r["fit_seconds"]) for r in ref if r["dataset"] == ds]
            ax2.annotate(ds, (pts[0][0], max(p[1] for p in pts)), textcoords="offset points", xytext=(0, 4),
                         ha="center", fontsize=8)
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, f"no ok {ref_method} records", ha="center", va="center", transform=ax2.transAxes)
        ax2.set_xticks([])
        ax2.set_yticks([])
    ax2.set_xlabel("n (rows)")
    ax2.set_ylabel("fit seconds (log)")
    ax2.set_title(f"{ref_method}: fit seconds against n", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=150)
    plt.close(fig)
    return path


def write_figures(records: list[dict], rank_results: list, labels: dict, reference,
                  out: str | Path) -> tuple[list[Path], list[str]]:
    """Draw cd_mae.png, cd_wass.png and runtime.png into ``out``; return (paths, notes)."""
    out = Path(out)
    paths: list[Path] = []
    notes: list[str] = []
    if not records:
        notes.append("no records: no figures drawn")
        return paths, notes
    for metric in RANKED_METRICS:
        target = out / f"cd_{metric}.png"
        res = next((r for r in rank_results if r.metric == metric and r.scope == "all"), None)
        if res is None or res.friedman is None:
            target.unlink(missing_ok=True)  # a stale diagram from older records would mislead
            notes.append(f"{target.name} not drawn: fewer than 2 methods or 2 complete dataset-mechanism blocks")
            continue
        fr = res.friedman
        foot = []
        if res.dropped_columns:
            foot.append("dropped (incomplete blocks): " + ", ".join(labels.get(c, c.method) for c in res.dropped_columns))
        if res.dropped_blocks:
            foot.append(f"{len(res.dropped_blocks)} incomplete blocks dropped")
        title = (f"{metric.upper()}: average ranks over N={fr.n_blocks} dataset-mechanism blocks, k={fr.k}\n"
                 f"Friedman p={fr.p_chi2:.3g}"
                 + (f" (Iman-Davenport p={fr.p_f:.3g})" if math.isfinite(fr.p_f) else " (identical rankings in every block)")
                 + f"; Nemenyi CD at alpha={fr.alpha}")
        cd_diagram({labels.get(c, c.method): r for c, r in zip(res.columns, res.avg_ranks)}, fr.cd, target,
                   title, "; ".join(foot))
        paths.append(target)
        if foot:
            notes.append(f"{target.name}: " + "; ".join(foot))
    paths.append(runtime_figure(records, labels, reference, out / "runtime.png"))
    return paths, notes


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.report.figures", description="CD diagrams and runtime figure")
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--out", default=None, help="default: <results-dir>/figures")
    ap.add_argument("--missing-rate", type=float, default=0.3)
    ap.add_argument("--reference", default="knewimp")
    ap.add_argument("--include-quick", action="store_true")
    args = ap.parse_args(argv)
    records = load_records(args.results_dir)
    sel = select_records(records, args.missing_rate, args.include_quick)
    if not sel.kept:
        print(f"knewimp.report.figures: no usable records under {Path(args.results_dir) / 'runs'} at missing rate "
              f"{args.missing_rate:g}; nothing drawn.")
        return 0
    labels = column_labels({Column(r["method"], r["preset"]) for r in sel.kept})
    ref = resolve_reference(sel.kept, args.reference)
    paths, notes = write_figures(sel.kept, compute_ranks(sel.kept), labels, ref,
                                 args.out or Path(args.results_dir) / "figures")
    for n in notes:
        print(f"knewimp.report.figures: {n}")
    print("knewimp.report.figures: wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
