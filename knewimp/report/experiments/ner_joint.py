"""Table 2 / F.4 / F.5: KnewImp's NER x Joint ablation, ``experiments_ablation_ner_joint.md/.csv``.

The four (NER, Joint) combinations; the full model is the grid's knewimp/paper (``<results>/runs``), the
others ``<results>/ablation_ner_joint``; column-mean imputation from the grid as the yardstick.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from knewimp.harness.records import load_records
from knewimp.report.experiments.common import load_paper, paper_value, _ok_knewimp, _summary, _write_table, _grouped, _variant_table, _count_worse, _by_block, _against_paper
from knewimp.vocab import DATASETS, PAPER_MECHANISMS as MECHANISMS, RANKED_METRICS as METRICS

#: (NER, Joint) of each ablation preset, in the paper's row order; "paper" is the full model.
ABLATION_PRESETS = {"ner_joint_off": (False, False), "ner_off": (False, True), "joint_off": (True, False),
                    "paper": (True, True)}

#: (experiment, status file, records folder under the results folder) of the grid this module reports.
GRIDS = (("ablation_ner_joint", "grid_status_ablation_ner_joint.md", "ablation_ner_joint"),)


# ------------------------------------------------------------------------------ ablation
def ablation_report(grid: list[dict], ablation_records: list[dict], paper: list[dict], out: Path) -> list[Path]:
    full = [r for r in _ok_knewimp(grid) if r.get("preset") == "paper"]
    variants = [r for r in _ok_knewimp(ablation_records) if r.get("preset") in ABLATION_PRESETS]
    if not variants:
        return []
    groups = _grouped(full + variants, lambda r: (r["preset"], r["mechanism"], r["dataset"]))
    mean_groups = _grouped([r for r in grid if r.get("method") == "mean"], lambda r: (r["mechanism"], r["dataset"]))

    def paper_of(variant, mech, ds, metric, stat):
        ner, joint = ABLATION_PRESETS[variant]
        return paper_value(paper, "Table F.4" if stat == "mean" else "Table F.5", mech, ds, metric, stat,
                           ner=ner, joint=joint)

    def label(v):
        ner, joint = ABLATION_PRESETS[v]
        return f"NER {'on' if ner else 'off'}, Joint {'on' if joint else 'off'} ({'knewimp/' + v})"

    intro = ["Ours: mean ± sample std over seeds of the run records (the full model is the grid's `knewimp/paper`; "
             "the others `results/ablation_ner_joint`); the paper's printed mean (Tables 2 / F.4) in parentheses. "
             "NER off = entropy weight 0; Joint off = the score fitted by the masked DSM loss "
             "(`score_fit=masked`, docs/experiments.md). Column-mean imputation (grid `mean`) is the yardstick. "
             "Written by `python -m knewimp.report.build`."]
    text, rows = _variant_table("KnewImp ablation: NER x Joint (30% missing)", intro,
                                [(v, label(v)) for v in ABLATION_PRESETS], groups, paper_of,
                                [("column mean (grid)", mean_groups)])
    # the paper's pattern, counted the same way on its numbers and on ours
    ours, theirs = _by_block(rows, "mae"), _by_block(rows, "mae", "paper_mean")
    datasets = sorted({r["dataset"] for r in rows}, key=DATASETS.index)
    lines = ["## Pattern (MAE): datasets where switching an ingredient off is worse than the full model", "",
             "| mechanism | NER off: ours | paper | Joint off: ours | paper | Joint off worse than or within 10% of "
             "our column mean: ours | paper |",
             "|---|---|---|---|---|---|---|"]
    col_mean = {m: {key: _summary(g, m)["mean"] for key, g in mean_groups.items()} for m in METRICS}
    for mech in [m for m in MECHANISMS if any(r["mechanism"] == m for r in rows)]:
        cells = []
        for variant in ("ner_off", "joint_off"):
            for values in (ours, theirs):
                k, n = _count_worse(values, "paper", variant, mech, datasets)
                cells.append(f"{k}/{n}")
        for values in (ours, theirs):
            near = total = 0
            for ds in datasets:
                j, m = values.get(("joint_off", mech, ds)), col_mean["mae"].get((mech, ds), math.nan)
                if j is not None and not math.isnan(j) and not math.isnan(m):
                    total += 1
                    near += j >= 0.9 * m
            cells.append(f"{near}/{total}")
        lines.append(f"| {mech.upper()} | " + " | ".join(cells) + " |")
    lines += _against_paper(ours, theirs, [(v, label(v)) for v in ABLATION_PRESETS])
    # the paper's Joint-off numbers over our column-mean imputation's, per block
    ratio = {m: [v / col_mean[m][k[1:]] for k, v in _by_block(rows, m, "paper_mean").items()
                 if k[0] == "joint_off" and not math.isnan(col_mean[m].get(k[1:], math.nan))] for m in METRICS}
    for m, lead in (("mae", "The paper's Joint-off MAE divided by our column-mean MAE on the same block:"),
                    ("wass", "The same for WASS:")):
        if ratio[m]:
            lines += [""] if m == "mae" else []
            lines.append(f"{lead} median {np.median(ratio[m]):.2f}, range {min(ratio[m]):.2f}-{max(ratio[m]):.2f} "
                         f"over {len(ratio[m])} blocks.")
    text += "\n".join(lines) + "\n"
    return _write_table(out, "experiments_ablation_ner_joint", text, rows)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    return ablation_report(load_records(results_dir), load_records(results_dir / "ablation_ner_joint"),
                           load_paper(), out)
