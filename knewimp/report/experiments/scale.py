"""Past 10,000 rows: every method against n (``make scale``) and KnewImp's O(n) kernel (``make bench-scale``).

From the records of ``<results>/scale`` (experiment ``scale``: row subsamples of diamonds):

- ``figures/scale.png``: against n on log-log axes, the fit's CPU seconds per method and preset (the
  legend gives the exponent b of t = a n^b, least squares over the n with an ok cell), the peak
  resident memory of the fit, and MAE (linear axis);
- ``tables/scale.{md,csv}``: per method and n, the ok / capped / failed cells, median CPU and wall
  seconds, median peak memory and mean MAE, then a generated sentence on which methods finish
  every seed at the largest n within the cap.

From ``<results>/bench/scale_knewimp*.json`` (``scripts/bench_scale.py``; one file per run, merged):

- ``tables/scale_knewimp.{md,csv}``: the approximations' MAE, WASS and CPU seconds as ratios to the
  exact kernel on the same cell (settings reduced or not, said per row), their means over seeds
  against the 2% target beside the exact kernel's own run-to-run spread (the exact kernel again with
  another imputer seed on the same masks), the CPU minutes of complete runs at 50,000 rows against the 10-minute
  target, and the CPU seconds of one particle step and of a full run estimated from its components.

CPU seconds (process time, one thread) rather than wall seconds where both exist: on a shared
machine contention inflates wall time several times over and CPU time little.

    python -m knewimp.report.experiments.scale [--results-dir results] [--out results]
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from knewimp.harness.atomic import save_figure_atomic
from knewimp.harness.records import load_records
from knewimp.report.experiments.common import _plt, _write_table
from knewimp.report.render import fmt
from knewimp.vocab import METHOD_ORDER

GRIDS = (("scale", "grid_status_scale.md", "scale"),)
DOCUMENTS = ("docs/scale.md",)
BENCH_GLOB = "scale_knewimp*.json"
EXACT = "knewimp/paper"


def _label(rec: dict) -> str:
    return f"{rec['method']}/{rec['preset']}"


def _order(label: str) -> tuple:
    method = label.split("/")[0]
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), label)


def _capped(rec: dict) -> bool:
    return rec.get("status") == "failed" and str(rec.get("error") or "").startswith("time cap")


def _seconds(rec: dict) -> float | None:
    value = rec.get("fit_cpu_seconds", rec.get("fit_seconds"))
    return None if value is None else float(value)


def fit_exponent(ns: Sequence[float], ts: Sequence[float]) -> float | None:
    """b of t = a n^b by least squares on log t against log n (None under 2 distinct n)."""
    pairs = [(math.log(n), math.log(t)) for n, t in zip(ns, ts) if n > 0 and t and t > 0]
    if len({p[0] for p in pairs}) < 2:
        return None
    x, y = np.array(pairs).T
    return float(np.polyfit(x, y, 1)[0])


def summarise(records: list[dict]) -> dict[str, list[dict]]:
    """``{method/preset: [row per n]}``; each row counts ok, capped and otherwise failed cells and
    gives the median CPU and wall seconds and peak memory and the mean MAE of the ok cells."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        # a cell not run (its column met the cap at fewer rows) has no n of its own: its subsample's
        n = rec.get("n") if rec.get("n") is not None else (rec.get("protocol") or {}).get("n_rows")
        if n is None:
            continue
        groups[(_label(rec), int(n))].append(rec)
    out: dict[str, list[dict]] = defaultdict(list)
    for (label, n), recs in sorted(groups.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1])):
        ok = [r for r in recs if r.get("status") == "ok"]

        def median(field, rs=ok):
            vals = [float(r[field]) for r in rs if r.get(field) is not None]
            return float(np.median(vals)) if vals else None

        cpu = [_seconds(r) for r in ok if _seconds(r) is not None]
        out[label].append(dict(method=label, n=n, ok=len(ok), capped=sum(map(_capped, recs)),
                               failed=sum(r.get("status") == "failed" and not _capped(r) for r in recs),
                               cpu_seconds=float(np.median(cpu)) if cpu else None, wall_seconds=median("fit_seconds"),
                               peak_rss_mb=median("peak_rss_mb"),
                               mae=float(np.mean([r["mae"] for r in ok])) if ok else None))
    return out


def usable_sentence(rows: dict[str, list[dict]], records: list[dict]) -> str:
    """Which methods finish every recorded seed at the largest n within the cap, and which do not."""
    if not rows:
        return ""
    top = max(r["n"] for rs in rows.values() for r in rs)
    caps = sorted({float(r["time_cap_s"]) for r in records if r.get("time_cap_s") is not None})
    at_top = {label: next((r for r in rs if r["n"] == top), None) for label, rs in rows.items()}
    usable = [lb for lb, r in at_top.items() if r and r["ok"] and not r["capped"] and not r["failed"]]
    capped = [lb for lb, r in at_top.items() if r and r["capped"]]
    failed = [lb for lb, r in at_top.items() if r and r["failed"] and not r["capped"]]
    missing = [lb for lb, r in at_top.items() if r is None]
    cap = f" within the cap of {caps[-1]:g} CPU seconds" if caps else ""
    parts = [f"At n = {top:,} rows on this machine (one thread per cell), "
             f"{', '.join(f'`{m}`' for m in usable) or 'no method'} finished every recorded seed{cap}"]
    if capped:
        parts.append(f"{', '.join(f'`{m}`' for m in capped)} ran past the cap (at this n, or at fewer rows "
                     "and were then not run here)")
    if failed:
        parts.append(f"{', '.join(f'`{m}`' for m in failed)} failed otherwise (see the records' errors)")
    if missing:
        parts.append(f"{', '.join(f'`{m}`' for m in missing)} have no cell at this n yet")
    return "; ".join(parts) + "."


def _fmt_opt(value, digits: str = "{:.3g}") -> str:
    return "--" if value is None else digits.format(value)


def scale_table(rows: dict[str, list[dict]], records: list[dict]) -> tuple[str, list[dict]]:
    lines = ["## Every method against the number of rows (diamonds subsamples, `make scale`)", "",
             "Per method and n: cells ok / stopped by the time cap (or not run: the column and seed met it at "
             "fewer rows) / failed otherwise; medians over the ok "
             "seeds of the fit's CPU and wall seconds and peak resident memory (MB, the whole process), "
             "and mean MAE. The exponent b fits CPU seconds = a n^b over the n with an ok cell.", "",
             "| method | b | n | ok / capped / failed | CPU s | wall s | peak MB | MAE |", "|---|---|---|---|---|---|---|---|"]
    csv_rows = []
    for label in sorted(rows, key=_order):
        ok_rows = [r for r in rows[label] if r["cpu_seconds"] is not None]
        b = fit_exponent([r["n"] for r in ok_rows], [r["cpu_seconds"] for r in ok_rows])
        for r in rows[label]:
            lines.append(f"| `{label}` | {_fmt_opt(b, '{:.2f}')} | {r['n']:,} | {r['ok']} / {r['capped']} / {r['failed']} | "
                         f"{_fmt_opt(r['cpu_seconds'])} | {_fmt_opt(r['wall_seconds'])} | {_fmt_opt(r['peak_rss_mb'], '{:.0f}')} | "
                         f"{'--' if r['mae'] is None else fmt(r['mae'])} |")
            csv_rows.append(dict(r, exponent=b))
    lines += ["", usable_sentence(rows, records), ""]
    return "\n".join(lines), csv_rows


def scale_figure(rows: dict[str, list[dict]], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for label in sorted(rows, key=_order):
        pts = [r for r in rows[label] if r["cpu_seconds"] is not None]
        if not pts:
            continue
        ns = [r["n"] for r in pts]
        b = fit_exponent(ns, [r["cpu_seconds"] for r in pts])
        line, = axes[0].loglog(ns, [r["cpu_seconds"] for r in pts], "o-",
                               label=f"{label} (b = {b:.2f})" if b is not None else label)
        capped = [r["n"] for r in rows[label] if r["capped"]]
        if capped:
            axes[0].plot(capped, [max(r["cpu_seconds"] for r in pts)] * len(capped), "x", color=line.get_color())
        mem = [(r["n"], r["peak_rss_mb"]) for r in pts if r["peak_rss_mb"] is not None]
        if mem:
            axes[1].loglog(*zip(*mem), "o-", color=line.get_color())
        axes[2].semilogx(ns, [r["mae"] for r in pts], "o-", color=line.get_color())
    axes[0].set(xlabel="n (rows)", ylabel="fit CPU seconds (one thread)", title="time (x: stopped by the cap)")
    axes[1].set(xlabel="n (rows)", ylabel="peak resident memory of the process (MB)", title="memory")
    axes[2].set(xlabel="n (rows)", ylabel="MAE (z-scores)", title="accuracy")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)
    return path


def _settings(e: dict) -> str:
    paper = (e.get("n_outer"), e.get("score_epochs"), e.get("n_steps")) == (2, 200, 500)
    return "full" if paper else f"{e.get('score_epochs')} epochs, {e.get('n_steps')} steps"


#: The scalable option's targets: mean MAE and WASS within 2% of the exact kernel's, a complete run
#: at 50,000 x 10 in at most 10 CPU-minutes.
TOLERANCE = 0.02
FULL_RUN_TARGET_MIN = 10.0


def _ok(entry: dict) -> bool:
    """A run that finished (entries written before runs could fail carry no status)."""
    return entry.get("status", "ok") == "ok"


def _t_interval(values: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """The two-sided t-interval of the mean of ``values`` (None below two values)."""
    from scipy import stats

    if len(values) < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return float(np.mean(values)) - half, float(np.mean(values)) + half


def accuracy_summary(acc: list[dict]) -> list[dict]:
    """Per (file, dataset, n, mechanism, settings, variant): the means over the seeds where both the
    variant and the exact cell of the same file finished, and their ratios to the exact kernel's
    means; per cell, the mean |ratio - 1| (how far the variant moves one cell's score) and the 95%
    t-interval of the mean per-cell MAE ratio. A failed run (``status: failed``) is left out with
    its seed's pair."""
    acc = [e for e in acc if _ok(e)]
    exact = {(e.get("file"), e["dataset"], e["n"], e["mechanism"], e["seed"], _settings(e)): e
             for e in acc if e["variant"] == EXACT}
    groups: dict[tuple, list[tuple[dict, dict]]] = defaultdict(list)
    for e in acc:
        ref = exact.get((e.get("file"), e["dataset"], e["n"], e["mechanism"], e["seed"], _settings(e)))
        if e["variant"] != EXACT and ref is not None:
            groups[(e.get("file") or "", e["dataset"], e["n"], e["d"], e["mechanism"], _settings(e), e["variant"])].append((e, ref))
    rows = []
    for (_, dataset, n, d, mechanism, settings, variant), pairs in sorted(groups.items(), key=lambda kv: kv[0][1:]):
        ratio = {m: float(np.mean([e[m] for e, _ in pairs]) / np.mean([r[m] for _, r in pairs])) for m in ("mae", "wass")}
        per_cell = {m: [e[m] / r[m] for e, r in pairs] for m in ("mae", "wass")}
        rows.append(dict(dataset=dataset, n=n, d=d, mechanism=mechanism, settings=settings, variant=variant,
                         seeds=len(pairs), mae_ratio=ratio["mae"], wass_ratio=ratio["wass"],
                         mae_dev=float(np.mean(np.abs(np.subtract(per_cell["mae"], 1.0)))),
                         wass_dev=float(np.mean(np.abs(np.subtract(per_cell["wass"], 1.0)))),
                         mae_ci=_t_interval(per_cell["mae"]),
                         within=all(abs(v - 1.0) <= TOLERANCE for v in ratio.values()),
                         no_worse=all(v <= 1.0 + TOLERANCE for v in ratio.values())))
    return rows


def _reseeded(variant: str) -> bool:
    return variant.startswith(EXACT + "+") and "+reseed=" in variant


def spread_sentences(summary: list[dict]) -> list[str]:
    """Per dataset, n and settings with a re-seeded exact run: how far the exact kernel moves from
    itself between two imputer seeds on the same masks, and each variant's per-cell deviation
    against that spread."""
    out = []
    for spread in (r for r in summary if _reseeded(r["variant"])):
        same = [r for r in summary if not _reseeded(r["variant"]) and all(
            r[k] == spread[k] for k in ("dataset", "n", "mechanism", "settings"))]
        if not same:
            continue
        def against(r, m):
            return "no larger than" if r[f"{m}_dev"] <= spread[f"{m}_dev"] else "larger than"

        parts = [f"`{r['variant']}` {r['mae_dev']:.1%} and {r['wass_dev']:.1%} over {r['seeds']} seeds "
                 f"(MAE {against(r, 'mae')}, WASS {against(r, 'wass')} that spread)" for r in same]
        out.append(f"On {spread['dataset']} ({spread['n']:,} rows, {spread['mechanism']}, {spread['settings']} settings), "
                   f"the exact kernel run again with another imputer seed on the same masks moves a cell's MAE by "
                   f"{spread['mae_dev']:.1%} and its WASS by {spread['wass_dev']:.1%} on average over {spread['seeds']} seeds "
                   f"(`{spread['variant']}`); the approximations move them by " + "; ".join(parts) + ".")
    return out


def bench_table(data: dict) -> tuple[str, list[dict]]:
    entries = data.get("entries", [])
    host = data.get("host", {})
    lines = ["## KnewImp's scalable option against the exact kernel (`scripts/bench_scale.py`)", "",
             f"Machine: {host.get('processor') or host.get('machine', '?')}, {host.get('cpus', '?')} CPUs, one "
             "torch thread; load average (1 min) during the measurements in the last column. Ratios are to "
             f"`{EXACT}` (exact kernel, float64) on the same cell, or the exact direction, in the same run "
             "(the same JSON file).", ""]
    csv_rows = []
    acc = [e for e in entries if e.get("kind") == "accuracy"]
    if acc:
        lines += ["### Accuracy", "",
                  "| dataset | n x d | mech | seed | settings | variant | MAE | WASS | MAE ratio | WASS ratio | CPU s | CPU ratio | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        exact = {(e.get("file"), e["dataset"], e["n"], e["mechanism"], e["seed"], _settings(e)): e
                 for e in acc if e["variant"] == EXACT and _ok(e)}
        failed = [e for e in acc if not _ok(e)]
        for e in sorted(acc, key=lambda e: (e["dataset"], e["n"], e["mechanism"], e["seed"], _settings(e), e["variant"] != EXACT, e["variant"])):
            if not _ok(e):
                lines.append(f"| {e['dataset']} | {e['n']:,} x {e['d']} | {e['mechanism']} | {e['seed']} | {_settings(e)} | "
                             f"`{e['variant']}` | failed | -- | -- | -- | {e['cpu_seconds']:.1f} | -- | "
                             f"{e.get('loadavg_before', math.nan):.1f} |")
                csv_rows.append(dict(kind="accuracy", dataset=e["dataset"], n=e["n"], d=e["d"], mechanism=e["mechanism"],
                                     seed=e["seed"], settings=_settings(e), variant=e["variant"], status="failed",
                                     error=e.get("error"), cpu_seconds=e["cpu_seconds"]))
                continue
            ref = exact.get((e.get("file"), e["dataset"], e["n"], e["mechanism"], e["seed"], _settings(e)))
            ratio = {m: (e[m] / ref[m] if ref and ref[m] else None) for m in ("mae", "wass", "cpu_seconds")}
            lines.append(f"| {e['dataset']} | {e['n']:,} x {e['d']} | {e['mechanism']} | {e['seed']} | {_settings(e)} | "
                         f"`{e['variant']}` | {fmt(e['mae'])} | {fmt(e['wass'])} | {_fmt_opt(ratio['mae'], '{:.3f}')} | "
                         f"{_fmt_opt(ratio['wass'], '{:.3f}')} | {e['cpu_seconds']:.1f} | {_fmt_opt(ratio['cpu_seconds'], '{:.2f}')} | "
                         f"{e.get('loadavg_before', math.nan):.1f} |")
            csv_rows.append(dict(kind="accuracy", dataset=e["dataset"], n=e["n"], d=e["d"], mechanism=e["mechanism"],
                                 seed=e["seed"], settings=_settings(e), variant=e["variant"], mae=e["mae"], wass=e["wass"],
                                 mae_ratio=ratio["mae"], wass_ratio=ratio["wass"], cpu_seconds=e["cpu_seconds"],
                                 cpu_ratio=ratio["cpu_seconds"]))
        lines.append("")
        if failed:
            lines += [f"Failed runs ({len(failed)}), each left out of the means below with its seed's pair:", ""]
            lines += [f"- {e['dataset']} n = {e['n']:,} {e['mechanism']} seed {e['seed']}, `{e['variant']}`: "
                      f"{e.get('error', 'no reason recorded')}" for e in failed]
            lines.append("")
    summary = accuracy_summary(acc)
    if summary:
        lines += ["### Accuracy over seeds", "",
                  f"Per dataset, n and variant: mean MAE and WASS over the seeds whose `{EXACT}` cell is in the "
                  f"same file, as ratios to the exact kernel's means (target: within {TOLERANCE:.0%}; a ratio below "
                  f"1 - {TOLERANCE:g} misses it by being better, so the last column says whether it is at most "
                  f"{TOLERANCE:.0%} worse). Per cell: the mean |ratio - 1| over the seeds, and the 95% t-interval "
                  f"of the mean per-cell MAE ratio. `{EXACT}+reseed=K` is the exact kernel again with imputer seed "
                  "seed + K on the same masks: its row is the run-to-run spread of the method itself.", "",
                  f"| dataset | n x d | mech | settings | variant | seeds | MAE ratio | WASS ratio | per cell: MAE | "
                  f"per cell: WASS | MAE ratio, 95% CI | within target | at most {TOLERANCE:.0%} worse |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in summary:
            ci = "--" if r["mae_ci"] is None else f"{r['mae_ci'][0]:.3f} to {r['mae_ci'][1]:.3f}"
            lines.append(f"| {r['dataset']} | {r['n']:,} x {r['d']} | {r['mechanism']} | {r['settings']} | `{r['variant']}` | "
                         f"{r['seeds']} | {r['mae_ratio']:.3f} | {r['wass_ratio']:.3f} | {r['mae_dev']:.1%} | "
                         f"{r['wass_dev']:.1%} | {ci} | {'yes' if r['within'] else 'no'} | {'yes' if r['no_worse'] else 'no'} |")
        lines.append("")
        spreads = spread_sentences(summary)
        lines += [*spreads, ""] if spreads else []
    runs = [e for e in entries if e.get("kind") == "full_run"]
    if runs:
        lines += ["### Complete runs", "",
                  "One complete run of each preset (its own settings) on a synthetic correlated n x d matrix "
                  f"(MCAR 30%): CPU minutes of the whole fit (target: at most {FULL_RUN_TARGET_MIN:g}), and its "
                  "wall seconds in the score fit and the particle steps.", "",
                  "| n x d | variant | CPU-min | within target | wall-min | score fit wall s | particle steps wall s | MAE | load |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in sorted(runs, key=lambda e: (e["n"], e["d"], e["variant"])):
            cpu_min = e["cpu_seconds"] / 60
            lines.append(f"| {e['n']:,} x {e['d']} | `{e['variant']}` | {cpu_min:.2f} | "
                         f"{'yes' if cpu_min <= FULL_RUN_TARGET_MIN else 'no'} | {e['wall_seconds'] / 60:.2f} | "
                         f"{e['timings']['score_fit']:.0f} | {e['timings']['particle_steps']:.0f} | {fmt(e['mae'])} | "
                         f"{e.get('loadavg_before', math.nan):.1f} |")
            csv_rows.append(dict(kind="full_run", n=e["n"], d=e["d"], variant=e["variant"], mae=e["mae"],
                                 cpu_seconds=e["cpu_seconds"]))
        lines.append("")
    tim = [e for e in entries if e.get("kind") == "timing"]
    if tim:
        lines += ["### Time per particle step and per full run", "",
                  "CPU seconds of one particle step (score of the moving rows + direction; knn: averaged over "
                  "a refresh period, its neighbour search included) and of a DSM epoch; the full run at the "
                  "paper's settings (2 x (200 epochs + 500 steps)) is estimated from them.", "",
                  "| n x d | dtype | direction | step s | direction s | DSM epoch s | full run CPU-min | step ratio to exact | load |",
                  "|---|---|---|---|---|---|---|---|---|"]
        exact = {(e.get("file"), e["n"], e["d"], e["dtype"]): e for e in tim if e["variant"] == "exact"}
        for e in sorted(tim, key=lambda e: (e.get("file", ""), e["n"], e["d"], e["dtype"], e["variant"] != "exact", e["variant"])):
            ref = exact.get((e.get("file"), e["n"], e["d"], e["dtype"]))
            ratio = ref["cpu_step"] / e["cpu_step"] if ref and e is not ref else None
            lines.append(f"| {e['n']:,} x {e['d']} | {e['dtype']} | {e['variant']} | {e['cpu_step']:.3f} | "
                         f"{e['cpu_direction']:.3f} | {e['cpu_dsm_epoch']:.3f} | {e['cpu_full_run_estimate'] / 60:.1f} | "
                         f"{_fmt_opt(ratio, '{:.1f}x faster')} | {e.get('loadavg_before', math.nan):.1f} |")
            csv_rows.append(dict(kind="timing", n=e["n"], d=e["d"], dtype=e["dtype"], variant=e["variant"],
                                 cpu_step=e["cpu_step"], cpu_full_run_estimate=e["cpu_full_run_estimate"]))
        lines.append("")
    fields = list(dict.fromkeys(k for row in csv_rows for k in row))  # one CSV header for both kinds
    return "\n".join(lines), [{k: row.get(k) for k in fields} for row in csv_rows]


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    results_dir, out = Path(results_dir), Path(out)
    written: list[Path] = []
    records = load_records(results_dir / "scale") if (results_dir / "scale").is_dir() else []
    if records:
        rows = summarise(records)
        markdown, csv_rows = scale_table(rows, records)
        written += _write_table(out, "scale", markdown, csv_rows)
        written.append(scale_figure(rows, out / "figures" / "scale.png"))
    files = sorted((results_dir / "bench").glob(BENCH_GLOB))
    if files:
        datas = [json.loads(path.read_text()) for path in files]
        merged = {"host": datas[0].get("host", {}),
                  "entries": [dict(e, file=p.name) for p, d in zip(files, datas) for e in d.get("entries", [])]}
        markdown, csv_rows = bench_table(merged)
        written += _write_table(out, "scale_knewimp", markdown, csv_rows)
    for path in written:
        log(f"wrote {path}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    report(Path(args.results_dir), Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
