"""Two presets of one method on the same cells: accuracy and cost side by side.

For KnewImp's ``paper`` (the authors' run script, ``results/runs``) against ``paper_text`` (the
paper's text, ``results/paper_text/runs``): per dataset and mechanism, over the seeds both presets
have an ok record of, the mean MAE and WASS of each and the median imputation seconds of each
(the records' ``fit_seconds``, wall time under the load the sweep ran with) over the cells whose two
records ran on the same kind of device (the count in brackets when some did not); a last line sums
those seconds and gives their ratio. Only cells present for both presets enter, so the two columns
always describe the same masks.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.cost import device_kind
from knewimp.harness.records import load_records


def shared_cells(records: list[dict], method: str, presets: tuple[str, str]) -> dict[tuple, dict[str, dict]]:
    """{(dataset, mechanism, missing rate, seed): {preset: record}} of the ok cells both presets hold."""
    cells: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in records:
        if r.get("status") == "ok" and r["method"] == method and r["preset"] in presets:
            cells[(r["dataset"], r["mechanism"], r["missing_rate"], r["seed"])][r["preset"]] = r
    return {key: by for key, by in cells.items() if len(by) == 2}


def preset_table(records: list[dict], method: str, presets: tuple[str, str]) -> str:
    """Markdown of the two presets on their shared ok cells (see the module docstring)."""
    a, b = presets
    cells = shared_cells(records, method, presets)
    if not cells:
        return f"No cell has ok records of both {method}/{a} and {method}/{b}.\n"
    blocks: dict[tuple, list[dict[str, dict]]] = defaultdict(list)
    for (dataset, mechanism, _, _), by in sorted(cells.items(), key=lambda kv: str(kv[0])):
        blocks[(dataset, mechanism)].append(by)
    lines = [f"| dataset | mechanism | seeds | MAE {a} | MAE {b} | WASS {a} | WASS {b} | median s {a} | "
             f"median s {b} |", "|---|---|---|---|---|---|---|---|---|"]
    timed = lambda runs: [by for by in runs if device_kind(by[a].get("device")) == device_kind(by[b].get("device"))]  # noqa: E731
    for (dataset, mechanism), runs in blocks.items():
        mean = lambda p, k: statistics.fmean(r[p][k] for r in runs)  # noqa: E731
        same = timed(runs)
        note = "" if len(same) == len(runs) else f" ({len(same)})"
        median_s = lambda p: f"{statistics.median(r[p]['fit_seconds'] for r in same):.1f}{note}" if same else "--"  # noqa: E731
        lines.append(f"| {dataset} | {mechanism} | {len(runs)} | {mean(a, 'mae'):.3f} | {mean(b, 'mae'):.3f} | "
                     f"{mean(a, 'wass'):.3f} | {mean(b, 'wass'):.3f} | {median_s(a)} | {median_s(b)} |")
    same = timed(list(cells.values()))
    total = {p: sum(by[p]["fit_seconds"] for by in same) for p in presets}
    lower = sum(by[b]["mae"] < by[a]["mae"] for by in cells.values())
    ratio = f" ({total[b] / total[a]:.2f}x)" if total[a] else ""
    lines += ["", f"{len(cells)} shared cells; {method}/{b} has the lower MAE in {lower} of them. Imputation time over "
                  f"the {len(same)} whose two records ran on the same kind of device: {method}/{a} "
                  f"{total[a] / 3600:.2f} h, {method}/{b} {total[b] / 3600:.2f} h{ratio}."]
    return "\n".join(lines) + "\n"


def build(results_dir: str | Path, out: str | Path, log=print) -> Path | None:
    """``tables/knewimp_presets.md``: KnewImp ``paper`` (results/runs) against ``paper_text``
    (results/paper_text/runs); nothing when the latter folder is absent."""
    results_dir = Path(results_dir)
    if not (results_dir / "paper_text" / "runs").is_dir():
        return None
    records = load_records(results_dir) + load_records(results_dir / "paper_text")
    path = Path(out) / "tables" / "knewimp_presets.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, preset_table(records, "knewimp", ("paper", "paper_text")), encoding="utf-8")
    log(f"wrote {path}")
    return path


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """KnewImp ``paper`` against ``paper_text`` on their shared cells."""
    path = build(results_dir, out, log=log)
    return [] if path is None else [path]
