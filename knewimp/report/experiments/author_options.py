"""The baselines' original choices beside ours, paired cell by cell: ``tables/author_options.{md,csv}``.

Each record of ``results/author_options`` (``make author_options``) ran a preset that changes one
choice of the preset it is built on (its ``defaults``: ``remasker/cpu_count`` on ``remasker/cpu``,
``csdi_t/cpu_shared_embedding`` on ``csdi_t/cpu``). Its reference is the record of the same cell
(dataset, mechanism, rate, seed) of that base preset in any other records folder, on the same mask
(equal mask digests; a pair whose masks differ is an error, never a comparison). Per option and
metric (MAE, WASS): the paired cells, both means, the mean difference option - base with its
sample std, and a two-sided paired t-test over the cells; then the same per dataset and mechanism.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats as sps

from knewimp.harness.records import load_records
from knewimp.report.experiments.common import _write_table
from knewimp.vocab import base_preset

DOCUMENTS = ("docs/new_baselines.md",)
FOLDER = "author_options"
METRICS = ("mae", "wass")
GRIDS = (("author_options", "grid_status_author_options.md", FOLDER),)


def _key(r: dict) -> tuple:
    return r["dataset"], r["mechanism"], r["missing_rate"], r["seed"], r["method"]


def pairs(results_dir: str | Path) -> dict[tuple[str, str, str], list[tuple[dict, dict]]]:
    """``{(method, option preset, base preset): [(base record, option record), ...]}`` of the ok pairs."""
    results_dir = Path(results_dir)
    options = [r for r in load_records(results_dir / FOLDER) if r["status"] == "ok"]
    if not options:
        return {}
    bases = {}
    for runs in sorted(results_dir.glob("**/runs")):
        if runs.parent.resolve() == (results_dir / FOLDER).resolve():
            continue
        for r in load_records(runs.parent):
            if r["status"] == "ok" and not r.get("protocol"):
                bases[(*_key(r), r["preset"])] = r
    out: dict[tuple[str, str, str], list[tuple[dict, dict]]] = {}
    for opt in options:
        base = base_preset(opt["method"], opt["preset"])
        ref = bases.get((*_key(opt), base)) if base else None
        if ref is None:
            continue
        if ref.get("mask_digest") and opt.get("mask_digest") and ref["mask_digest"] != opt["mask_digest"]:
            raise ValueError(f"{opt['cell_id']}: mask {opt['mask_digest']} but its base {ref['cell_id']} has "
                             f"{ref['mask_digest']}")
        out.setdefault((opt["method"], opt["preset"], base), []).append((ref, opt))
    return out


def _paired(ps: list[tuple[dict, dict]], metric: str) -> dict:
    base = np.array([b[metric] for b, _ in ps], dtype=float)
    opt = np.array([o[metric] for _, o in ps], dtype=float)
    diff = opt - base
    p = float(sps.ttest_rel(opt, base).pvalue) if len(ps) >= 2 and np.ptp(diff) > 0 else None
    return dict(cells=len(ps), base_mean=float(base.mean()), option_mean=float(opt.mean()), diff=float(diff.mean()),
                diff_std=float(diff.std(ddof=1)) if len(ps) >= 2 else None, p=p,
                rel=float(diff.mean() / base.mean()) if base.mean() else None)


def summary(groups: dict) -> list[dict]:
    rows = []
    for (method, preset, base), ps in sorted(groups.items()):
        blocks = sorted({(b["dataset"], b["mechanism"]) for b, _ in ps})
        for scope, sel in [("all", ps)] + [(f"{ds} {mech}", [p for p in ps if (p[0]["dataset"], p[0]["mechanism"]) == (ds, mech)])
                                           for ds, mech in blocks]:
            for metric in METRICS:
                rows.append(dict(method=method, preset=preset, base=base, scope=scope, metric=metric,
                                 **_paired(sel, metric)))
    return rows


def _f(x, spec=".4f") -> str:
    return "--" if x is None else format(x, spec)


def render(rows: list[dict]) -> str:
    lines = ["Each option beside the preset it is built on, cell by cell on the same masks (option - base; "
             "two-sided paired t-test over the cells).", ""]
    for (method, preset, base) in dict.fromkeys((r["method"], r["preset"], r["base"]) for r in rows):
        mine = [r for r in rows if (r["method"], r["preset"], r["base"]) == (method, preset, base)]
        lines += [f"**{method}/{preset}** against **{method}/{base}**", "",
                  "| cells | metric | base | option | difference (std) | relative | p |", "|---|---|---|---|---|---|---|"]
        for r in mine:
            lines.append(f"| {r['scope']} ({r['cells']}) | {r['metric'].upper()} | {_f(r['base_mean'])} | {_f(r['option_mean'])} | "
                         f"{_f(r['diff'], '+.4f')} ({_f(r['diff_std'])}) | {_f(r['rel'], '+.1%')} | {_f(r['p'], '.3f')} |")
        overall = {r["metric"]: r for r in mine if r["scope"] == "all"}
        said = []
        for metric, r in overall.items():
            verdict = ("no significant change" if r["p"] is None or r["p"] >= 0.05
                       else f"{'lower' if r['diff'] < 0 else 'higher'} {metric.upper()}, significant")
            said.append(f"{metric.upper()} {_f(r['rel'], '+.1%')} ({verdict}, p = {_f(r['p'], '.3f')})")
        lines += ["", f"Over {mine[0]['cells']} paired cells the option gives " + "; ".join(said) + ".", ""]
    return "\n".join(lines)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    groups = pairs(results_dir)
    if not groups:
        return []
    rows = summary(groups)
    return _write_table(Path(out), "author_options", render(rows), rows)
