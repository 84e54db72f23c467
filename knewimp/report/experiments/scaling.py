"""The protocol's one look at the truth: each column of the ``paper`` view ranked per block under
the default scaling (z-scores from the complete matrix) and under ``scaling=observed`` (z-scores
from the observed entries), ``experiments_scaling.md/.csv``.

Records: ``<results>/scaling_observed`` (``experiment=scaling_observed``) against the same
columns of the default protocol (``<results>/runs`` and ``<results>/new_baselines``). A block
(dataset x mechanism) is compared over the columns that have every seed of the observed folder's
fullest column under both protocols; MAE and WASS are each in their protocol's own units, so
ranks, not values, are compared across protocols.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from knewimp.harness.records import load_records
from knewimp.report import stats
from knewimp.report.experiments.common import _write_table
from knewimp.report.selection import Column, dataset_key, mechanism_key
from knewimp.report.views import PAPER
from knewimp.vocab import RANKED_METRICS

FOLDER = "scaling_observed"
DEFAULT_FOLDERS = ("", "new_baselines")
#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("scaling_observed", "grid_status_scaling_observed.md", FOLDER),)
DOCUMENTS = ("docs/experiments.md",)


def _means(records: list[dict], columns: list[Column]) -> tuple[dict, dict]:
    """({(block, column): {metric: mean}}, {(block, column): number of ok seeds})."""
    acc: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        c = Column.of(r)
        if r.get("status") == "ok" and c in columns and r.get("missing_rate") == 0.3:
            for m in RANKED_METRICS:
                if r.get(m) is not None:
                    acc[((r["dataset"], r["mechanism"]), c)][m].append(float(r[m]))
    means = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in acc.items()}
    seeds = {k: min(len(v) for v in d.values()) for k, d in acc.items()}
    return means, seeds


def scaling_report(default: list[dict], observed: list[dict], out: Path) -> list[Path]:
    columns = PAPER.column_list()
    obs_means, obs_seeds = _means(observed, columns)
    if not obs_means:
        return []
    def_means, def_seeds = _means(default, columns)
    full = max(obs_seeds.values())
    blocks = sorted({b for b, _ in obs_means}, key=lambda b: (mechanism_key(b[1]), dataset_key(b[0])))
    rows, changed, compared, winners_changed, waiting = [], 0, 0, 0, []
    for b in blocks:
        cols = [c for c in columns if obs_seeds.get((b, c), 0) >= full and def_seeds.get((b, c), 0) >= full]
        waiting += [f"{c.method}/{c.preset} on {b[0]}/{b[1]}" for c in columns if c not in cols]
        if len(cols) < 2:
            continue
        for metric in RANKED_METRICS:
            ranks = {}
            for name, means in (("complete", def_means), ("observed", obs_means)):
                row = np.array([[means[(b, c)][metric] for c in cols]])
                ranks[name] = stats.rank_matrix(row)[0]
            if metric == "mae":
                winners_changed += int(np.argmin(ranks["complete"]) != np.argmin(ranks["observed"]))
            for j, c in enumerate(cols):
                moved = ranks["complete"][j] != ranks["observed"][j]
                changed += int(moved)
                compared += 1
                rows.append(dict(dataset=b[0], mechanism=b[1], metric=metric, method=c.method, preset=c.preset,
                                 mean_complete=def_means[(b, c)][metric], mean_observed=obs_means[(b, c)][metric],
                                 rank_complete=float(ranks["complete"][j]), rank_observed=float(ranks["observed"][j]),
                                 rank_changed=moved))
    n_blocks = len({(r["dataset"], r["mechanism"]) for r in rows})
    lines = ["# Scaling on observed entries only against the paper's protocol (30% missing)", "",
             "Each column of the `paper` view (`knewimp/report/views.py`) ranked within its block (1 = lowest mean) "
             "under the default protocol (`scaling=complete`: z-scores from the complete matrix, before masking) "
             "and under `scaling=observed` (z-scores from each column's observed entries), on the same masks. "
             "Means are in each protocol's own units; ranks are compared. Written by `python -m knewimp.report.build`.",
             "",
             f"Compared: {n_blocks} blocks, {compared} (block, column, metric) ranks; {changed} change; the MAE "
             f"winner changes in {winners_changed} of {n_blocks} blocks."
             + (f" Not yet compared (a protocol short of seeds): {', '.join(waiting)}." if waiting else ""), "",
             "| block | metric | column | mean, complete | mean, observed | rank, complete | rank, observed |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " **changed**" if r["rank_changed"] else ""
        lines.append(f"| {r['dataset']}/{r['mechanism']} | {r['metric'].upper()} | {r['method']}/{r['preset']} "
                     f"| {r['mean_complete']:.3f} | {r['mean_observed']:.3f} | {r['rank_complete']:g} "
                     f"| {r['rank_observed']:g}{mark} |")
    return _write_table(out, "experiments_scaling", "\n".join(lines) + "\n", rows)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    results_dir = Path(results_dir)
    observed = load_records(results_dir / FOLDER)
    if not observed:
        return []
    default = [r for folder in DEFAULT_FOLDERS for r in load_records(results_dir / folder)]
    return scaling_report(default, observed, Path(out))
