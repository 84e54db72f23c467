"""Other missing rates (paper Tables G.1-G.8) and past 50%: ``experiments_rates*.md/.csv``, ``rates_<mech>.png``.

Records: ``<results>/rates`` (experiments ``rates``, 10/20/40/50%, and ``rates_high``, 60/70/80%);
the 30% point of a column is the main grid's record of the same method and preset
(``<results>/runs``, ``<results>/new_baselines``), never recomputed; a column that ran another preset
at 30% has no 30% point here.

- Tables G.1-G.8: every printed cell beside our mean, with the main comparison's verdicts
  (:func:`knewimp.report.paper.compare` on this experiment's `paper` view, :data:`RATES_MAP`):
  ``=`` reproduced, ``~`` within 10% of the printed value, otherwise the signed relative difference,
  ``c`` where the printed value is nearer our column mean than our column.
- How each column degrades: mean rank per rate over the blocks (mechanism x dataset) the column
  mean covers at every rate, the rate at which each column's position changes, and KnewImp's
  median advantage over the column mean at each rate.
- One figure per mechanism: MAE and WASS against the rate, one panel per dataset, seed bands
  (mean ± sample std), the paper's printed means as hollow markers.
- The cells' masks at every rate (``<results>/rates/masks.json``, ``scripts/rates_masks.py``).
"""
from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from knewimp.harness.atomic import save_figure_atomic, write_text_atomic
from knewimp.harness.records import load_records
from knewimp.report import paper as paper_cmp
from knewimp.report.experiments.common import _plt, _write_csv, _write_table
from knewimp.report.render import fmt
from knewimp.vocab import DATASETS, PAPER_MECHANISMS as MECHANISMS, RANKED_METRICS as METRICS

RATES_DIR = "rates"
#: Folders (under the results folder) whose 30% records give each column its 30% point.
MAIN_DIRS = ("", "new_baselines")
PAPER_RATES = (0.1, 0.2, 0.4, 0.5)
MAIN_RATE = paper_cmp.MAIN_RATE
HIGH_RATES = (0.6, 0.7, 0.8)
#: The paper's table ids of each printed rate (means, standard deviations).
G_TABLES = {0.1: ("G.1", "G.2"), 0.2: ("G.3", "G.4"), 0.4: ("G.5", "G.6"), 0.5: ("G.7", "G.8")}
#: (method, preset, the paper's name or None) of the `paper` view, in configs/experiment/rates.yaml's order.
COLUMNS = (("mean", "published", None), ("tdm", "paper", "TDM"), ("mice", "single", None),
           ("gain", "paper", "GAIN"), ("miracle", "paper", "MIRACLE"), ("miwae", "paper", "MIWAE"),
           ("knewimp", "paper", "NewImp"), ("missdiff", "paper", "MissDiff"), ("csdi_t", "paper", "CSDI_T"),
           ("sinkhorn", "published", "Sink"), ("remasker", "paper", "ReMasker"))
RATES_MAP = tuple(paper_cmp.MethodMap(name, m, p, "the rates experiment's `paper` view")
                  for m, p, name in COLUMNS if name)
COLMEAN = paper_cmp.COLMEAN
KNEWIMP = ("knewimp", "paper")
WITHIN = 0.10
CELLS_PER_RATE = len(DATASETS) * len(MECHANISMS) * 5

GRIDS = (("rates", "grid_status_rates.md", RATES_DIR), ("rates_high", "grid_status_rates_high.md", RATES_DIR))
DOCUMENTS = ("docs/rates.md",)


def _label(col: tuple[str, str]) -> str:
    return f"{col[0]}/{col[1]}"


def _pct(x: float) -> str:
    return f"{100 * x:+.0f}%"


# ------------------------------------------------------------------------------ records
def gather(results_dir: Path) -> list[dict]:
    """The rates folder's records of the view's columns, plus the main grid's 30% records of them."""
    cols = {(m, p) for m, p, _ in COLUMNS}
    recs = [r for r in load_records(results_dir / RATES_DIR) if (r["method"], r["preset"]) in cols]
    for sub in MAIN_DIRS:
        folder = results_dir / sub if sub else results_dir
        if (folder / "runs").is_dir():
            recs += [r for r in load_records(folder) if (r["method"], r["preset"]) in cols
                     and round(float(r.get("missing_rate") or 0), 6) == MAIN_RATE]
    return recs


def summaries(records: list[dict]) -> dict[tuple, dict]:
    """``{(method, preset, rate, mechanism, dataset, metric): {"n", "failed", "mean", "std"}}`` over ok seeds
    (the paper comparison's grouping, so both read the same records)."""
    groups, _ = paper_cmp._group_records(records)
    out = {}
    for (method, preset, rate, mech, ds), g in groups.items():
        for metric in METRICS:
            vals = [float(r[metric]) for r in g["ok"]]
            out[(method, preset, rate, mech, ds, metric)] = {
                "n": len(vals), "failed": g["failed"], "mean": statistics.fmean(vals) if vals else None,
                "std": statistics.stdev(vals) if len(vals) > 1 else None}
    return out


def _mean(s: dict, col, rate, mech, ds, metric) -> float | None:
    cell = s.get((*col, round(rate, 6), mech, ds, metric))
    return None if cell is None else cell["mean"]


# ------------------------------------------------------------------------------ paper comparison
def mark(row: dict) -> str:
    """A compared cell's verdict in a few characters (see the module docstring)."""
    v = row["verdict"]
    if v not in paper_cmp.COMPARED:
        return {paper_cmp.NOT_RUN: "", paper_cmp.ALL_FAILED: "failed", paper_cmp.FEW_SEEDS: "1 seed",
                paper_cmp.PAPER_NAN: ""}.get(v, v)
    if v == paper_cmp.REPRODUCED:
        text = "="
    elif row["rel_diff"] is not None and abs(row["rel_diff"]) <= WITHIN:
        text = "~"
    else:
        text = _pct(row["rel_diff"])
    return text + (" c" if row["closer_to"] == "colmean" else "")


def _g_cell(row: dict) -> str:
    printed = "nan" if row["paper_value"] is None else f"{row['paper_value']:.2f}" + ("*" if row["paper_significant"] else "")
    if row["ours_mean"] is None:
        ours = f"failed ({row['n_failed']})" if row["n_failed"] else "--"
    else:
        ours = fmt(row["ours_mean"]) + (f" ± {fmt(row['ours_std'])}" if row["ours_std"] is not None else "")
        ours += f" ({row['n']})"
    m = mark(row)
    return f"{printed} · {ours}" + (f" {m}" if m else "")


def g_tables(rows: list[dict], summ: dict) -> str:
    """Tables G.1-G.8 as printed (means; the std tables enter the verdict), each cell beside ours."""
    lines = ["# Tables G.1-G.8: the paper's other missing rates, beside ours", "",
             "Each cell: the paper's printed mean (`*`: NewImp significantly better) · our mean ± seed std (ok "
             "seeds), then the verdict of the main comparison (`paper_vs_ours.md`): `=` reproduced (within the "
             "printing's rounding plus two standard errors, the printed std of the paired table included), `~` "
             f"not reproduced but within {WITHIN:.0%} of the printed value, otherwise (ours - paper) / paper; "
             "` c`: the printed value is nearer our column mean than our column. `--`: not run yet. "
             "Our columns are the `paper` view (configs/experiment/rates.yaml). Written by "
             "`python -m knewimp.report.build`.", ""]
    for rate in PAPER_RATES:
        means, stds = G_TABLES[rate]
        for mech in MECHANISMS:
            for metric in METRICS:
                rs = [r for r in rows if r["missing_rate"] == round(rate, 6) and r["mechanism"] == mech
                      and r["metric"] == metric]
                if not rs:
                    continue
                lines += [f"## Table {means} / {stds}: {rate:.0%} missing, {mech.upper()}, {metric.upper()}", "",
                          "| paper (ours) | " + " | ".join(d.upper() for d in DATASETS) + " |",
                          "|---|" + "---|" * len(DATASETS)]
                for mm in RATES_MAP:
                    by_ds = {r["dataset"]: r for r in rs if r["paper_method"] == mm.paper}
                    cells = [_g_cell(by_ds[d]) if d in by_ds else "" for d in DATASETS]
                    lines.append(f"| {mm.paper} ({mm.ours}/{mm.preset}) | " + " | ".join(cells) + " |")
                cm = []
                for d in DATASETS:
                    c = summ.get((*COLMEAN, round(rate, 6), mech, d, metric))
                    cm.append("--" if not c or c["mean"] is None else f"{fmt(c['mean'])} ({c['n']})")
                lines += ["| column mean (ours, not printed) | " + " | ".join(cm) + " |", ""]
    return "\n".join(lines) + "\n"


def verdict_summary(rows: list[dict]) -> list[dict]:
    """:func:`knewimp.report.paper.summarise` per rate and column, plus the cells within 10%."""
    out = []
    for s in paper_cmp.summarise(rows):
        rs = [r for r in rows if (r["missing_rate"], r["paper_method"], r["ours_preset"], r["metric"])
              == (s["missing_rate"], s["paper_method"], s["ours_preset"], s["metric"])
              and r["verdict"] in paper_cmp.COMPARED]
        out.append(dict(s, within_10=sum(r["rel_diff"] is not None and abs(r["rel_diff"]) <= WITHIN for r in rs)))
    return out


# ------------------------------------------------------------------------------ degradation
def common_blocks(summ: dict, rates: list[float], metric: str) -> list[tuple[str, str]]:
    """Blocks (mechanism, dataset) where the column mean has a mean at every rate of ``rates``."""
    return [(mech, ds) for mech in MECHANISMS for ds in DATASETS
            if all(_mean(summ, COLMEAN, r, mech, ds, metric) is not None for r in rates)]


def rank_table(summ: dict, rates: list[float], metric: str) -> tuple[list[tuple], list[tuple], dict]:
    """(ranked columns, blocks, {column: {rate: mean rank}}). Ranked: the columns with a mean in every
    block of :func:`common_blocks` at every rate, so each rate ranks the same columns on the same blocks."""
    blocks = common_blocks(summ, rates, metric)
    cols = [(m, p) for m, p, _ in COLUMNS
            if blocks and all(_mean(summ, (m, p), r, mech, ds, metric) is not None
                              for r in rates for mech, ds in blocks)]
    ranks: dict[tuple, dict[float, float]] = {c: {} for c in cols}
    if len(cols) < 2:
        return cols, blocks, ranks
    for rate in rates:
        per_col = defaultdict(list)
        for mech, ds in blocks:
            vals = {c: _mean(summ, c, rate, mech, ds, metric) for c in cols}
            ordered = sorted(vals.values())
            for c, v in vals.items():  # ties share their mean position
                first = ordered.index(v)
                per_col[c].append(first + (ordered.count(v) + 1) / 2)
        for c in cols:
            ranks[c][rate] = statistics.fmean(per_col[c])
    return cols, blocks, ranks


def positions(ranks: dict, rates: list[float]) -> dict[tuple, dict[float, int]]:
    """Each ranked column's position (1 = lowest mean rank) at each rate."""
    out: dict[tuple, dict[float, int]] = {c: {} for c in ranks}
    for rate in rates:
        ordered = sorted(ranks, key=lambda c: (ranks[c][rate], _label(c)))
        for i, c in enumerate(ordered, 1):
            out[c][rate] = i
    return out


def rank_sentences(summ: dict, rates: list[float], metric: str) -> list[str]:
    """At which rate each ranked column's position changes."""
    cols, blocks, ranks = rank_table(summ, rates, metric)
    if len(cols) < 2:
        return []
    pos = positions(ranks, rates)
    left = [_label((m, p)) for m, p, _ in COLUMNS if (m, p) not in cols]
    scope = (f"By {metric.upper()}, {rates[0]:.0%} to {rates[-1]:.0%}, over the {len(blocks)} blocks where the column "
             f"mean has every rate, {len(cols)} columns ranked (1 = best)"
             + (f"; not ranked, a cell missing: {', '.join(left)}" if left else "") + ":")
    parts = []
    for c in cols:
        seq = [(r, pos[c][r]) for r in rates]
        changes = [(r, p) for (r0, p0), (r, p) in zip(seq, seq[1:]) if p != p0]
        if not changes:
            parts.append(f"{_label(c)} keeps position {seq[0][1]} at every rate")
        else:
            parts.append(f"{_label(c)} is {seq[0][1]} at {rates[0]:.0%}, "
                         + ", ".join(f"{p} from {r:.0%}" for r, p in changes))
    return [scope + " " + "; ".join(parts) + "."]


def advantage(summ: dict, rates: list[float], metric: str) -> tuple[list[tuple], dict[float, float]]:
    """(blocks, {rate: median over blocks of (column mean - KnewImp) / column mean}), on the blocks
    where both have a mean at every rate (positive: KnewImp's error is lower)."""
    blocks = [(mech, ds) for mech, ds in common_blocks(summ, rates, metric)
              if all(_mean(summ, KNEWIMP, r, mech, ds, metric) is not None for r in rates)]
    out = {}
    for rate in rates:
        gaps = [(_mean(summ, COLMEAN, rate, mech, ds, metric) - _mean(summ, KNEWIMP, rate, mech, ds, metric))
                / _mean(summ, COLMEAN, rate, mech, ds, metric) for mech, ds in blocks
                if _mean(summ, COLMEAN, rate, mech, ds, metric)]
        if gaps:
            out[rate] = statistics.median(gaps)
    return blocks, out


def advantage_sentence(summ: dict, rates: list[float], metric: str) -> str | None:
    blocks, adv = advantage(summ, rates, metric)
    if len(adv) < 2:
        return None
    vals = [adv[r] for r in rates]
    trend = "grows" if vals[-1] > vals[0] else "shrinks" if vals[-1] < vals[0] else "stays the same"
    steps = [b - a for a, b in zip(vals, vals[1:])]
    monotone = all(s >= 0 for s in steps) or all(s <= 0 for s in steps)
    return (f"KnewImp's {metric.upper()} against the column mean's, median over the {len(blocks)} blocks both fill at "
            f"every rate ((column mean - KnewImp) / column mean, positive = KnewImp lower): "
            + ", ".join(f"{_pct(adv[r])} at {r:.0%}" for r in rates)
            + f"; the advantage {trend} from {rates[0]:.0%} to {rates[-1]:.0%}"
            + ("" if monotone else " (not monotonically)") + ".")


# ------------------------------------------------------------------------------ report
def _rates_present(summ: dict) -> list[float]:
    return sorted({k[2] for k in summ})


def completeness(summ: dict, rates: list[float]) -> list[str]:
    lines = ["| column | " + " | ".join(f"{r:.0%}" for r in rates) + " |", "|---|" + "---|" * len(rates)]
    for m, p, _ in COLUMNS:
        cells = []
        for r in rates:
            ok = failed = 0
            for mech in MECHANISMS:
                for ds in DATASETS:
                    c = summ.get((m, p, round(r, 6), mech, ds, "mae"))
                    if c:
                        ok, failed = ok + c["n"], failed + c["failed"]
            cells.append(f"{ok}/{CELLS_PER_RATE}" + (f" ({failed} failed)" if failed else ""))
        lines.append(f"| {m}/{p} | " + " | ".join(cells) + " |")
    return lines


def overview(summ: dict, rows: list[dict], vsum: list[dict], sentences: list[str]) -> str:
    rates = _rates_present(summ)
    lines = ["# Other missing rates and past 50%: how each method degrades", "",
             "Records: `results/rates` (`make rates`: 10/20/40/50%; `make rates_high`: 60/70/80%); the 30% column is "
             "the main grid's records of the same method and preset (CSDI-T, MissDiff, MIRACLE, MIWAE and ReMasker "
             "ran `cpu` there, so they have no 30% point here). MAR's realised rate is about half the asked one "
             "(docs/rates.md). Written by `python -m knewimp.report.build`.", "",
             "## Ok cells per column and rate (of 8 datasets x 3 mechanisms x 5 seeds)", "",
             *completeness(summ, rates), ""]
    if sentences:
        lines += ["## What changes with the rate", "", *[f"- {s}" for s in sentences], ""]
    for metric in METRICS:
        for label, rs in (("the paper's rates", [r for r in rates if r <= 0.5]), ("every rate", rates)):
            cols, blocks, ranks = rank_table(summ, rs, metric)
            if len(cols) < 2 or (label == "every rate" and rs == [r for r in rates if r <= 0.5]):
                continue
            lines += [f"## Mean rank by {metric.upper()}, {label} ({len(blocks)} blocks; 1 = best)", "",
                      "| column | " + " | ".join(f"{r:.0%}" for r in rs) + " |", "|---|" + "---|" * len(rs)]
            for c in cols:
                lines.append(f"| {_label(c)} | " + " | ".join(f"{ranks[c][r]:.2f}" for r in rs) + " |")
            lines.append("")
    if any(s["compared"] for s in vsum):
        lines += ["## Against the printed Tables G.1-G.8 (cells per rate and column; details: "
                  "`experiments_rates_tables_g.md`)", "",
                  "| rate | paper | ours | metric | printed | compared | reproduced | within 10% | ours lower | ours "
                  "higher | mean rel. diff | printed nearer col. mean |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in vsum:
            if not s["compared"]:
                continue
            rel = "" if s["mean_rel_diff"] is None else _pct(s["mean_rel_diff"])
            lines.append(f"| {s['missing_rate']:.0%} | {s['paper_method']} | {s['ours_method']}/{s['ours_preset']} | "
                         f"{s['metric'].upper()} | {s['printed']} | {s['compared']} | {s['reproduced']} | "
                         f"{s['within_10']} | {s['ours_lower']} | {s['ours_higher']} | {rel} | {s['closer_to_colmean']} |")
        lines.append("")
    not_run = sorted({f"{s['paper_method']} ({s['ours_method']}/{s['ours_preset']})" for s in vsum
                      if not any(t["compared"] for t in vsum if t["paper_method"] == s["paper_method"])})
    if not_run:
        lines += [f"No printed cell of Tables G.1-G.8 compared yet: {', '.join(not_run)}.", ""]
    return "\n".join(lines) + "\n"


def curve_rows(summ: dict, cells: dict) -> list[dict]:
    rows = []
    for (m, p, rate, mech, ds, metric), s in sorted(summ.items()):
        name = next((n for mm, pp, n in COLUMNS if (mm, pp) == (m, p)), None)
        printed = cells.get((rate, mech, name, ds, metric)) if name else None
        rows.append({"method": m, "preset": p, "missing_rate": rate, "mechanism": mech, "dataset": ds,
                     "metric": metric, "n": s["n"], "failed": s["failed"], "mean": s["mean"], "std": s["std"],
                     "paper_method": name, "paper_mean": printed["value"] if printed else None,
                     "paper_std": printed["std"] if printed else None})
    return rows


def plot(summ: dict, cells: dict, mech: str, path: Path) -> Path | None:
    """MAE and WASS against the rate, one panel per dataset; ours: line and seed band; paper: hollow markers."""
    plt = _plt()
    rates = _rates_present(summ)
    if not any(k[3] == mech for k in summ):  # no record under this mechanism: nothing of ours to draw
        return None
    fig, axes = plt.subplots(len(METRICS), len(DATASETS), figsize=(2.6 * len(DATASETS), 2.5 * len(METRICS)),
                             squeeze=False)
    colors = plt.get_cmap("tab20").colors
    handles = []
    for i, (m, p, name) in enumerate(COLUMNS):
        color = colors[(2 * i) % 20 if i < 10 else 2 * (i - 10) + 1]
        for row, metric in enumerate(METRICS):
            for col, ds in enumerate(DATASETS):
                ax = axes[row][col]
                pts = [(r, summ[(m, p, r, mech, ds, metric)]) for r in rates
                       if summ.get((m, p, r, mech, ds, metric), {}).get("mean") is not None]
                if pts:
                    xs = [r for r, _ in pts]
                    ys = [s["mean"] for _, s in pts]
                    sd = [s["std"] or 0.0 for _, s in pts]
                    ax.plot(xs, ys, "-o", color=color, ms=2.5, lw=1.0)
                    ax.fill_between(xs, [y - e for y, e in zip(ys, sd)], [y + e for y, e in zip(ys, sd)],
                                    color=color, alpha=0.15, lw=0)
                if name:
                    pp = [(r, cells[(r, mech, name, ds, metric)]["value"]) for r in (*PAPER_RATES, MAIN_RATE)
                          if cells.get((r, mech, name, ds, metric), {}).get("value") is not None]
                    if pp:
                        ax.plot([r for r, _ in sorted(pp)], [v for _, v in sorted(pp)], "o", mfc="none", color=color,
                                ms=4, mew=0.8, ls="")
                if i == 0:
                    ax.set_yscale("log")  # a column far above the others (MIRACLE's printed IS, PK) must not flatten them
                    ax.set_title(f"{ds.upper()}", fontsize=9)
                    ax.tick_params(labelsize=7)
                    ax.set_xticks([0.1, 0.3, 0.5, 0.7])
                    ax.set_xticklabels(["10%", "30%", "50%", "70%"])
                    if col == 0:
                        ax.set_ylabel(metric.upper(), fontsize=9)
        handles.append(plt.Line2D([], [], color=color, marker="o", ms=3, label=f"{m}/{p}"))
    handles.append(plt.Line2D([], [], color="k", marker="o", mfc="none", ls="", label="paper's printed mean"))
    fig.legend(handles=handles, loc="lower center", ncol=6, frameon=False, fontsize=7)
    fig.suptitle(f"{mech.upper()}: error against the missing rate, log scale (ours: mean ± seed std; hollow: the "
                 "paper's Tables 1 / F.2 / G)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return path


def masks_table(entries: list[dict]) -> str:
    """``scripts/rates_masks.py``'s draws: per mechanism and asked rate, each dataset's realised rate and
    share of rows with no observed entry (means over seeds), and the masks refused."""
    groups = defaultdict(list)
    for e in entries:
        groups[(e["mechanism"], e["rate"], e["dataset"])].append(e)
    mechs = list(dict.fromkeys(e["mechanism"] for e in entries))
    asked = sorted({e["rate"] for e in entries})
    lines = ["# The cells' masks at every rate", "",
             "Each cell: realised missing rate · share of rows with no observed entry (means over the seeds), from "
             "the masks the harness draws (`python scripts/rates_masks.py`); `refused k`: masks that cannot be "
             "drawn as asked (`MaskError`, never thinned). Written by `python -m knewimp.report.build`.", "",
             "| mechanism | asked | " + " | ".join(d.upper() for d in DATASETS) + " | fewest observed in a column |",
             "|---|---|" + "---|" * len(DATASETS) + "---|"]
    for mech in mechs:
        for rate in asked:
            cells, fewest = [], []
            for ds in DATASETS:
                es = groups.get((mech, rate, ds), [])
                ok = [e for e in es if not e["refused"]]
                refused = len(es) - len(ok)
                text = "--" if not ok else (f"{statistics.fmean(e['realised'] for e in ok):.0%} · "
                                            f"{statistics.fmean(e['empty_rows'] for e in ok):.1%}")
                cells.append(text + (f" (refused {refused})" if refused else ""))
                fewest += [e["min_observed_in_a_column"] for e in ok]
            lines.append(f"| {mech} | {rate:.0%} | " + " | ".join(cells) + f" | {min(fewest) if fewest else '--'} |")
    return "\n".join(lines) + "\n"


def build(records: list[dict], paper: dict | None, out: Path) -> list[Path]:
    """Every file of this report from the gathered records and the paper file's content."""
    summ = summaries(records)
    cells = paper_cmp.paper_cells(paper) if paper else {}
    rows = paper_cmp.compare(records, paper, rates=PAPER_RATES, method_map=RATES_MAP)[0] if paper else []
    vsum = verdict_summary(rows)
    rates = _rates_present(summ)
    sentences = []
    for metric in METRICS:
        paper_rates = [r for r in rates if r <= 0.5]
        sentences += rank_sentences(summ, paper_rates, metric)
        if rates != paper_rates:
            sentences += rank_sentences(summ, rates, metric)
        for rs in ([paper_rates, rates] if rates != paper_rates else [rates]):
            s = advantage_sentence(summ, rs, metric)
            if s:
                sentences.append(s)
    paths = _write_table(out, "experiments_rates", overview(summ, rows, vsum, sentences), curve_rows(summ, cells))
    if rows:
        g = out / "tables" / "experiments_rates_tables_g.md"
        write_text_atomic(g, g_tables(rows, summ))
        paths += [g, _write_csv(out / "tables" / "experiments_rates_tables_g.csv",
                                [dict(r, mark=mark(r)) for r in rows])]
    for mech in MECHANISMS:
        png = plot(summ, cells, mech, out / "figures" / f"rates_{mech}.png")
        if png:
            paths.append(png)
    return paths


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    results_dir = Path(results_dir)
    written = []
    masks = results_dir / RATES_DIR / "masks.json"
    if masks.is_file():
        entries = json.loads(masks.read_text())["entries"]
        written = _write_table(Path(out), "experiments_rates_masks", masks_table(entries),
                               [{k: v for k, v in e.items()} for e in entries])
    if not (results_dir / RATES_DIR / "runs").is_dir() or not load_records(results_dir / RATES_DIR):
        return written
    path = paper_cmp.resolve_paper_path()
    paper = json.loads(Path(path).read_text()) if path else None
    return written + build(gather(results_dir), paper, Path(out))
