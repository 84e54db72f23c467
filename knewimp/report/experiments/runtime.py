"""Runtime against N and D (the paper's Fig. F.3) from the measurements of scripts/bench_runtime.py.

Reads every ``results/runtime/*.json`` (one per machine: ``runtime.json`` on the CPU,
``runtime_cuda.json`` from a GPU machine) and writes

- ``figures/runtime_scaling.png``: CPU seconds against N (at the fixed D) and against D (at the
  fixed N) on log-log axes; top row KnewImp split into score fitting, flow and total (float64
  solid, float32 dashed), bottom row the total of every method;
- ``tables/runtime.{md,csv}``: per series (method, preset, dtype, device, phase) and axis, the
  fitted scaling exponent b of t = a x^b (least squares on log t against log x over the axis's
  points, at least 3), the number of points and the seconds at the shared point (fixed N, fixed D).

CPU seconds (process time of the ``fit_transform`` call, one thread) rather than wall seconds: on a
shared machine contention inflates wall time many times over but CPU time little. A GPU's series
use wall seconds (its work is not CPU time). Phases of KnewImp: ``cpu_score_fit`` (a run with no
flow steps) and ``cpu_flow`` (the full run minus that). A measurement marked ``cold_start`` (it paid
the process's one-off start-up costs) is left out, and counted in the table's header.

    python -m knewimp.report.experiments.runtime [--folder results/runtime] [--out results]
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
from knewimp.vocab import METHOD_ORDER

PHASES = (("total", "total"), ("score fit", "score_fit"), ("flow", "flow"))
AXES = (("n", "N (rows)"), ("d", "D (columns)"))


def load(folder: str | Path) -> dict | None:
    """The measurements of every JSON in ``folder`` as one dataset (None when there is none).

    Each measurement gains ``file``; ``machines`` lists each file's host and the median load average
    during its measurements; ``cold_starts`` counts the measurements left out."""
    files = sorted(Path(folder).glob("*.json"), key=lambda p: (p.name != "runtime.json", p.name))
    if not files:
        return None
    merged: dict = {"measurements": [], "machines": [], "cold_starts": 0}
    for path in files:
        data = json.loads(path.read_text())
        for key in ("fixed_n", "fixed_d"):
            if merged.setdefault(key, data[key]) != data[key]:
                raise ValueError(f"{path}: {key} = {data[key]}, but {files[0].name} has {merged[key]}; "
                                 "the axes must cross at the same point")
        kept = [dict(m, file=path.name) for m in data["measurements"] if not m.get("cold_start")]
        merged["cold_starts"] += len(data["measurements"]) - len(kept)
        loads = [m["loadavg_before"] for m in kept if "loadavg_before" in m]
        merged["machines"].append(dict(data.get("host", {}), file=path.name,
                                       devices=sorted({m["device"] for m in kept}),
                                       load=float(np.median(loads)) if loads else math.nan))
        merged["measurements"] += kept
    return merged


def machine_line(host: dict) -> str:
    what = (f"{host.get('gpu')} (torch {host.get('torch', '?')}, {host.get('cpus', '?')} CPUs)"
            if any(d.startswith("cuda") for d in host["devices"])
            else f"{host.get('processor', '?')}, {host.get('cpus', '?')} CPUs, torch {host.get('torch', '?')}")
    load = "" if math.isnan(host["load"]) else f", median load average {host['load']:.1f} while measuring"
    return f"`{host['file']}`: {', '.join(host['devices'])} on {what}{load}"


def seconds(m: dict, phase: str) -> float | None:
    """Seconds of one phase of a measurement: CPU seconds on the CPU, wall seconds on a GPU."""
    if str(m["device"]).startswith("cuda"):
        key = {"total": "wall_total", "score_fit": "score_fit", "flow": "particle_steps"}[phase]
    else:
        key = {"total": "cpu_total", "score_fit": "cpu_score_fit", "flow": "cpu_flow"}[phase]
    v = m.get(key)
    return float(v) if isinstance(v, (int, float)) and v > 0 else None


_DTYPE_ORDER = ("float64", "float32", "preset")


def _order(series: tuple) -> tuple:
    method, preset, dtype, device = series
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method, preset, device,
            _DTYPE_ORDER.index(dtype) if dtype in _DTYPE_ORDER else len(_DTYPE_ORDER), dtype)


def axis_points(data: dict, axis: str) -> dict[tuple, list[tuple[int, dict]]]:
    """{(method, preset, dtype, device): [(x, measurement)]} on one axis, sorted by x."""
    fixed = {"n": ("d", data["fixed_d"]), "d": ("n", data["fixed_n"])}[axis]
    out: dict[tuple, list] = defaultdict(list)
    for m in data["measurements"]:
        if m[fixed[0]] == fixed[1]:
            out[(m["method"], m["preset"], m["dtype"], m["device"])].append((m[axis], m))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in sorted(out.items(), key=lambda kv: _order(kv[0]))}


def exponent(xs: Sequence[float], ts: Sequence[float]) -> float:
    """Least-squares slope b of log t = log a + b log x (nan with fewer than 3 points)."""
    if len(xs) < 3:
        return math.nan
    return float(np.polyfit(np.log(xs), np.log(ts), 1)[0])


def summarise(data: dict) -> list[dict]:
    rows = []
    for axis, _ in AXES:
        for series, pts in axis_points(data, axis).items():
            for _, phase in PHASES:
                xt = [(x, seconds(m, phase)) for x, m in pts]
                xt = [(x, t) for x, t in xt if t is not None]
                if not xt:
                    continue
                at_fixed = [t for x, t in xt if x == (data["fixed_n"] if axis == "n" else data["fixed_d"])]
                rows.append(dict(method=series[0], preset=series[1], dtype=series[2], device=series[3], phase=phase,
                                 axis=axis, points=len(xt), x_min=xt[0][0], x_max=xt[-1][0],
                                 exponent=exponent(*zip(*xt)), seconds_at_fixed=at_fixed[0] if at_fixed else math.nan))
    return rows


def gpu_ratios(rows: list[dict]) -> dict[tuple, float]:
    """{(method, preset, dtype): CPU seconds / GPU seconds} of the total at the shared point."""
    at = {(r["method"], r["preset"], r["dtype"], r["device"].startswith("cuda")): r["seconds_at_fixed"]
          for r in rows if r["phase"] == "total" and r["axis"] == "n" and not math.isnan(r["seconds_at_fixed"])}
    return {k[:3]: t / at[(*k[:3], True)] for k, t in at.items() if not k[3] and (*k[:3], True) in at}


def write_table(rows: list[dict], data: dict, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    fields = ["method", "preset", "dtype", "device", "phase", "axis", "points", "x_min", "x_max", "exponent",
              "seconds_at_fixed"]
    with atomic_path(stem.with_suffix(".csv")) as tmp_path, open(tmp_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.4g}" if isinstance(r[k], float) else r[k]) for k in fields})
    cold = data.get("cold_starts", 0)
    lines = ["# Runtime against N and D (Fig. F.3)", "",
             f"Exponent b of t = a x^b fitted on each axis (x = N at D = {data['fixed_d']}, x = D at N = "
             f"{data['fixed_n']}; at least 3 points, else `-`), and the seconds at (N, D) = "
             f"({data['fixed_n']}, {data['fixed_d']}). CPU seconds of one thread on the CPU, wall seconds on a GPU. "
             "Measured by `scripts/bench_runtime.py`, derived by `python -m knewimp.report.experiments.runtime`."
             + (f" Left out: {cold} measurement{'s' * (cold != 1)} that paid a process's one-off start-up costs "
                "(`cold_start`)." if cold else ""), "",
             "Machines:", "", *[f"- {machine_line(h)}" for h in data.get("machines", [])], "",
             "| method | dtype | device | phase | axis | points | range | exponent | seconds at the shared point |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = "-" if math.isnan(r["exponent"]) else f"{r['exponent']:.2f}"
        t = "-" if math.isnan(r["seconds_at_fixed"]) else f"{r['seconds_at_fixed']:.3g}"
        lines.append(f"| {r['method']} ({r['preset']}) | {r['dtype']} | {r['device']} | {r['phase']} | "
                     f"{r['axis'].upper()} | {r['points']} | {r['x_min']}-{r['x_max']} | {b} | {t} |")
    ratios = gpu_ratios(rows)
    if ratios:
        lines += ["", "GPU against one CPU thread at the shared point, total seconds (CPU / GPU): " + "; ".join(
            f"{m} ({p}) {dt} {r:.1f}x" for (m, p, dt), r in ratios.items()) + "."]
    write_text_atomic(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    return [stem.with_suffix(".md"), stem.with_suffix(".csv")]


def figure(data: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for col, (axis, label) in enumerate(AXES):
        pts_by_series = axis_points(data, axis)
        ax = axes[0, col]
        for (method, preset, dtype, device), pts in pts_by_series.items():
            if method != "knewimp":
                continue
            for i, (name, phase) in enumerate(PHASES):
                xt = [(x, seconds(m, phase)) for x, m in pts if seconds(m, phase) is not None]
                if xt:
                    x, t = zip(*xt)
                    b = exponent(x, t)
                    ax.plot(x, t, marker="os"[device.startswith("cuda")], color=f"C{i}",
                            ls="--" if dtype == "float32" else "-",
                            label=f"{name}, {dtype}, {device}" + ("" if math.isnan(b) else f" (b {b:.2f})"))
        ax.set_title(f"KnewImp ({data['fixed_d'] if axis == 'n' else data['fixed_n']} "
                     f"{'columns' if axis == 'n' else 'rows'})", fontsize=10)
        ax = axes[1, col]
        for j, ((method, preset, dtype, device), pts) in enumerate(pts_by_series.items()):
            xt = [(x, seconds(m, "total")) for x, m in pts if seconds(m, "total") is not None]
            if xt and not (method == "knewimp" and dtype == "float32"):
                x, t = zip(*xt)
                ax.plot(x, t, marker="os"[device.startswith("cuda")], color=f"C{j % 10}",
                        label=f"{method}/{preset}" + ("" if device == "cpu" else f" {device}"))
        ax.set_title("every method, total", fontsize=10)
        ticks = sorted({m[axis] for m in data["measurements"]})
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(v) for v in ticks])
            ax.minorticks_off()
            ax.set_xlabel(label)
            ax.set_ylabel("seconds (CPU: 1 thread; GPU: wall)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=6)
    fig.suptitle("Runtime against N and D (synthetic, MCAR 30%); b: fitted exponent of t ~ x^b", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=130)
    plt.close(fig)
    return path


def build(folder: str | Path, out: str | Path, log=print) -> list[Path]:
    """Table and figure from the measurements; nothing when the folder holds none."""
    out = Path(out)
    data = load(folder)
    if data is None:
        return []
    written = write_table(summarise(data), data, out / "tables" / "runtime")
    written.append(figure(data, out / "figures" / "runtime_scaling.png"))
    for p in written:
        log(p)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return experiment_main(argv, __doc__, [
        ("--folder", "results/runtime", "the measurements' JSON files"),
        ("--out", "results", "writes <out>/tables/runtime.* and <out>/figures/runtime_scaling.png")],
        build, "no JSON in {folder}; run: python scripts/bench_runtime.py")


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """Fig. F.3 from ``<results>/runtime/*.json``."""
    return build(Path(results_dir) / "runtime", out, log=log)


if __name__ == "__main__":
    raise SystemExit(main())
