"""Our imputers against their authors' released code on the same cells, from saved cross-check runs.

Each file of ``results/crosscheck/<method>/cc_*.json`` holds k imputer seeds per side on one cell
(identical input): ``authors`` (``scripts/crosscheck_authors.py --json``, KnewImp) and one folder
per baseline checked against its original code (``remasker``, ``scripts/crosscheck_remasker.py``;
``csdi_t`` and ``missdiff``, ``scripts/crosscheck_csdi.py``).
Every side other than ``theirs`` is compared with ``theirs``. Per file: MAE and WASS as mean +-
sample std (ddof 1) per side and Welch's t-test (unequal variances) of each side against theirs;
files with exactly the sides ``ours`` and ``theirs`` get one row per file, files with more sides
one row per side. Under the table, a sentence counts the tests: how many reach p < 0.05 before and
after Holm's adjustment over all of them (:func:`knewimp.report.stats.holm`), and in which
direction each unadjusted one goes. The table of folder ``<method>`` is ``tables/crosscheck_<method>.md``.

Each saved lockstep output (``lockstep_*.txt``, ``scripts/authors_lockstep.py``'s printout) becomes
``tables/lockstep_*.md``: the output as written, as a block, without the shell's timing lines.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats as sps

from knewimp.harness.atomic import write_text_atomic
from knewimp.report.stats import holm

ALPHA = 0.05


def welch(ours, theirs) -> tuple[float, float] | None:
    """(t, p) of Welch's t-test, ours against theirs; None with fewer than two runs on a side."""
    if len(ours) < 2 or len(theirs) < 2:
        return None
    res = sps.ttest_ind(ours, theirs, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def welch_text(ours, theirs) -> str:
    """``t = +1.23, p = 0.456``, or ``n/a`` with fewer than two runs on a side."""
    res = welch(ours, theirs)
    return "n/a" if res is None else f"t = {res[0]:+.2f}, p = {res[1]:.3f}"


REFERENCE = "theirs"


def mean_sd_text(values) -> str:
    """``0.1234 +/- 0.0123 (n=3)``: mean and sample standard deviation (ddof 1) of a side's runs."""
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.4f} +/- {v.std(ddof=1) if v.size > 1 else float('nan'):.4f} (n={v.size})"


def add_cell_arguments(ap, k: int = 3) -> None:
    """The options that name a cross-check's cell and its seeds, shared by the cross-check scripts:
    ``--dataset``, ``--mechanism``, ``--seed`` (the cell's amputation seed), ``--rate``, ``--k``
    imputer seeds per side from ``--first-imputer-seed``."""
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--mechanism", required=True, help="mcar, mar, mnar (harness names)")
    ap.add_argument("--seed", type=int, default=0, help="the cell seed (amputation)")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--k", type=int, default=k, help="imputer seeds per side")
    ap.add_argument("--first-imputer-seed", type=int, default=0)


def run_entry(imputer_seed: int, X, out, mask, seconds: float) -> dict:
    """One side's run as a cross-check file keeps it: its seed, MAE and WASS on the masked
    entries, and wall seconds."""
    from knewimp.protocol.metrics import mae, wass

    return {"imputer_seed": imputer_seed, "mae": mae(X, out, mask), "wass": wass(X, out, mask)[0], "seconds": seconds}


def side_lines(runs: dict[str, list[dict]], width: int = 10) -> list[str]:
    """What a cross-check script prints at its end: each side's MAE and WASS (mean +/- sd), then
    Welch's test of each other side against ``theirs``."""
    lines = [f"  {side:<{width}}: MAE {mean_sd_text([r['mae'] for r in rows])}   "
             f"WASS {mean_sd_text([r['wass'] for r in rows])}" for side, rows in runs.items() if rows]
    for side, rows in runs.items():
        if side != REFERENCE and rows and runs.get(REFERENCE):
            test = {m: welch_text([r[m] for r in rows], [r[m] for r in runs[REFERENCE]]) for m in ("mae", "wass")}
            lines.append(f"  Welch ({side} vs {REFERENCE}): MAE {test['mae']}; WASS {test['wass']}")
    return lines


def _runs(data: dict, metric: str, side: str = "ours") -> tuple[list[float], list[float]]:
    return [r[metric] for r in data["runs"][side]], [r[metric] for r in data["runs"][REFERENCE]]


def _compared(data: dict) -> list[str]:
    """The sides of a saved cross-check compared with theirs, in file order."""
    if REFERENCE not in data["runs"]:
        raise ValueError(f"cross-check {data.get('dataset')} {data.get('mechanism')}: no {REFERENCE!r} side "
                         f"(sides: {', '.join(data['runs'])})")
    return [side for side in data["runs"] if side != REFERENCE]


def _two_sided(datas: list[dict]) -> bool:
    return all(list(d["runs"]) in (["ours", REFERENCE], [REFERENCE, "ours"]) for d in datas)


def _label(data: dict) -> str:
    extra = f" ({data['extra']})" if data.get("extra") else ""
    return f"{data['dataset']} {data['mechanism']}{extra}"


def _ms(v, digits) -> str:
    return f"{np.mean(v):.{digits}f} ± {np.std(v, ddof=1):.{digits}f}" if len(v) > 1 else f"{np.mean(v):.{digits}f}"


def table(datas: list[dict]) -> str:
    """Markdown: one row per saved cross-check (see the module docstring)."""
    lines = ["| dataset | mechanism | cell seed | k (ours / theirs) | MAE ours | MAE theirs | Welch MAE | "
             "WASS ours | WASS theirs | Welch WASS |", "|" + "---|" * 10]
    for d in datas:
        (om, tm), (ow, tw) = _runs(d, "mae"), _runs(d, "wass")
        extra = f" ({d['extra']})" if d.get("extra") else ""
        lines.append(f"| {d['dataset']} | {d['mechanism']}{extra} | {d['cell_seed']} | {len(om)} / {len(tm)} | "
                     f"{_ms(om, 4)} | {_ms(tm, 4)} | {welch_text(om, tm)} | {_ms(ow, 3)} | {_ms(tw, 3)} | {welch_text(ow, tw)} |")
    return "\n".join(lines) + "\n"


def side_table(datas: list[dict]) -> str:
    """Markdown: one row per side of each saved cross-check, each side tested against theirs."""
    lines = ["| dataset | mechanism | cell seed | side | k | MAE | Welch MAE vs theirs | WASS | Welch WASS vs theirs |",
             "|" + "---|" * 9]
    for d in datas:
        compared = _compared(d)
        changed = f" ({', '.join(d['overrides'])})" if d.get("overrides") else ""
        for side in [*compared, REFERENCE]:
            m, w = [r["mae"] for r in d["runs"][side]], [r["wass"] for r in d["runs"][side]]
            if side == REFERENCE:
                tm = tw = "(reference)"
            else:
                tm, tw = welch_text(*_runs(d, "mae", side)), welch_text(*_runs(d, "wass", side))
            lines.append(f"| {d['dataset']} | {d['mechanism']}{changed} | {d['cell_seed']} | {side} | {len(m)} | "
                         f"{_ms(m, 4) if m else 'none'} | {tm} | {_ms(w, 3) if w else 'none'} | {tw} |")
    return "\n".join(lines) + "\n"


def verdict(datas: list[dict]) -> str:
    """One sentence on the Welch tests of every file, compared side and metric, before and after Holm."""
    tests = []
    for d in datas:
        for side in _compared(d):
            for metric in ("mae", "wass"):
                o, t = _runs(d, metric, side)
                res = welch(o, t)
                if res is not None:
                    tests.append((_label(d), side, metric.upper(), res[1], float(np.mean(o) - np.mean(t)),
                                  float(np.mean(t))))
    if not tests:
        return "No cross-check has two runs per side."
    adjusted = holm([t[3] for t in tests])
    raw = [t for t in tests if t[3] < ALPHA]
    where = "; ".join(f"{label} {metric} (p = {p:.3f}; {side} {'higher' if diff > 0 else 'lower'} by "
                      f"{100 * abs(diff) / ref:.1f}%)" for label, side, metric, p, diff, ref in raw)
    cells = f"{len(datas)} cell{'s' if len(datas) != 1 else ''}"
    return (f"{cells}, {len(tests)} Welch tests: {int((adjusted < ALPHA).sum())} reach p < {ALPHA} after Holm's "
            f"adjustment over all {len(tests)} (smallest raw p {min(t[3] for t in tests):.3f}, adjusted "
            f"{float(np.nanmin(adjusted)):.3f}); {len(raw)} before it" + (f": {where}." if raw else "."))


#: Lines a shell's ``time`` adds to a saved output: not the script's.
_TIMING = ("real", "user", "sys")


def lockstep_block(text: str) -> str:
    """A saved lockstep printout as an indented Markdown block, the shell's timing lines left out."""
    lines = [line for line in text.splitlines() if line.strip() and line.split()[0] not in _TIMING]
    return "".join(f"    {line}\n" for line in lines)


def load(path: str | Path) -> dict:
    """One saved cross-check, checked: the cell's keys and, per side, runs with MAE and WASS."""
    data = json.loads(Path(path).read_text())
    missing = [k for k in ("dataset", "mechanism", "cell_seed", "runs") if k not in data]
    if missing:
        raise ValueError(f"{path}: cross-check without {', '.join(missing)}")
    for side, runs in data["runs"].items():
        if not all(isinstance(r, dict) and "mae" in r and "wass" in r for r in runs):
            raise ValueError(f"{path}: side {side!r} has a run without mae and wass")
    _compared(data)
    return data


def build(folder: str | Path, out: str | Path, log=print) -> list[Path]:
    """``tables/crosscheck_<folder name>.md`` from ``folder/cc_*.json`` and ``tables/<stem>.md``
    from each ``folder/lockstep_*.txt``; nothing for what is absent."""
    folder, tables = Path(folder), Path(out) / "tables"
    written = []
    paths = sorted(folder.glob("cc_*.json"))
    if paths:
        datas = [load(p) for p in paths]
        written.append(tables / f"crosscheck_{folder.name}.md")
        tables.mkdir(parents=True, exist_ok=True)
        body = table(datas) if _two_sided(datas) else side_table(datas)
        write_text_atomic(written[-1], body + "\n" + verdict(datas) + "\n", encoding="utf-8")
    for saved in sorted(folder.glob("lockstep_*.txt")):
        tables.mkdir(parents=True, exist_ok=True)
        written.append(tables / f"{saved.stem}.md")
        write_text_atomic(written[-1], lockstep_block(saved.read_text()), encoding="utf-8")
    for path in written:
        log(f"wrote {path}")
    return written


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """The cross-checks against original code, one table per folder of ``<results>/crosscheck``."""
    root = Path(results_dir) / "crosscheck"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [path for folder in folders for path in build(folder, out, log=log)]
