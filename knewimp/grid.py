"""What a sweep experiment expects, against what its records hold.

    python -m knewimp.grid --experiment reproduce [--results-dir results] [--write results/tables/grid_status.md]

Expands the experiment's ``hydra.sweeper.params`` into its cells (the cell identity needs the
method's composed parameters, so each method x preset is composed once), then reports per method
how many cells are ok, failed (with reasons) or not yet run, and the compute spent so far.
"""
from __future__ import annotations

import argparse
import itertools
from collections import Counter, defaultdict
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from knewimp import records
from knewimp.cell import method_params

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
AXES = ("dataset", "mechanism", "method", "seed")


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def expected_cells(experiment: str, extra: list[str] | None = None) -> list[dict]:
    """Identity dicts of every cell of ``experiment`` (values of its sweep params, ``extra``
    overrides such as ``method.entropy_weight=5`` applied to every cell)."""
    base = _compose([f"experiment={experiment}", *(extra or [])])
    params = {k: str(v).split(",") for k, v in base.hydra.sweeper.params.items()}
    unknown = set(params) - set(AXES)
    if unknown:
        raise ValueError(f"grid status supports sweeps over {', '.join(AXES)} only, not {sorted(unknown)}")
    fixed = {axis: [str(OmegaConf.select(base, f"{axis}.name" if axis != "seed" else "seed"))] for axis in AXES}
    axes = {axis: params.get(axis, fixed[axis]) for axis in AXES}
    by_method = {}
    for method in axes["method"]:
        cfg = _compose([f"experiment={experiment}", f"method={method}", *(extra or [])])
        by_method[method] = (cfg.method.preset, method_params(cfg.method))
    cells = []
    for dataset, mechanism, method, seed in itertools.product(*(axes[a] for a in AXES)):
        preset, mparams = by_method[method]
        cells.append(dict(dataset=dataset, mechanism=mechanism, missing_rate=float(base.missing_rate),
                          seed=int(seed), method=method, preset=preset, params=mparams))
    return cells


def grid_status(experiment: str, results_dir: str | Path) -> tuple[str, dict]:
    """Markdown report and counts {method: Counter(ok=, failed=, missing=)}."""
    have = {r["cell_id"]: r for r in records.iter_records(results_dir)}
    counts: dict[str, Counter] = defaultdict(Counter)
    seconds: Counter = Counter()
    failures, missing = [], []
    for cell in expected_cells(experiment):
        cid = records.cell_id(**cell)
        rec = have.get(cid)
        state = "missing" if rec is None else rec["status"]
        counts[cell["method"]][state] += 1
        if rec is not None:
            seconds[cell["method"]] += rec.get("fit_seconds") or 0.0
        if state == "failed":
            failures.append(f"- `{cid}`: {rec['error']}")
        elif state == "missing":
            missing.append(cid)
    total = sum(sum(c.values()) for c in counts.values())
    done = sum(c["ok"] for c in counts.values())
    lines = [f"# Grid status: experiment `{experiment}`", "",
             f"{done} of {total} cells ok; imputation compute in records: {sum(seconds.values()) / 3600:.2f} h.", "",
             "| method | ok | failed | not run | compute (h) |", "|---|---|---|---|---|"]
    for method, c in counts.items():
        lines.append(f"| {method} | {c['ok']} | {c['failed']} | {c['missing']} | {seconds[method] / 3600:.2f} |")
    if failures:
        lines += ["", "## Failed cells", *failures]
    if missing:
        by = Counter(cid.split("__")[4] for cid in missing)
        lines += ["", "## Not yet run", ", ".join(f"{m}: {k}" for m, k in by.items())]
    return "\n".join(lines) + "\n", dict(counts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="reproduce")
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--write", default=None, help="also write the report to this Markdown file")
    args = ap.parse_args(argv)
    report, _ = grid_status(args.experiment, args.results_dir)
    print(report)
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(report)


if __name__ == "__main__":
    main()
