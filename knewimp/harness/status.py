"""What a sweep experiment expects, against what its records hold.

    python -m knewimp.harness.status --experiment reproduce [--results-dir results] [--write results/tables/grid_status.md]

Expands the experiment's ``hydra.sweeper.params`` into its cells (the cell identity needs the
method's composed parameters, so each method x preset is composed once), then reports per method
how many cells are ok, failed (with reasons) or not yet run, the compute spent so far and an
estimate of the compute left.
"""
from __future__ import annotations

import argparse
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from knewimp.base import resolve_device
from knewimp.harness import records
from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.cost import (OVERHEAD_SECONDS, CostModel, Estimate, cell_seconds, committed_records, device_kind,
                                  estimates_under_cap, prior_timings)
from knewimp.harness.identity import cell_id
from knewimp.harness.sweep import expected_cells, experiment_config
from knewimp.harness.targets import make_target
from knewimp.vocab import CONFIG_DIR



def prior_records(root: str | Path, exclude: str | Path | None = None) -> tuple[list[dict], str]:
    """Timings to estimate from beyond a grid's own records (:func:`knewimp.harness.cost.prior_timings`,
    the one reading of them that the launch planner shares), as (record-like dicts, a line saying so)."""
    return prior_timings(root, exclude)


def grid_status(experiment: str, results_dir: str | Path, jobs: int = 1,
                prior: tuple[list[dict], str] | None = None) -> tuple[str, dict]:
    """Markdown report and counts {method: Counter(ok=, failed=, missing=)}.

    The report gives, per method, the cells ok / failed / not run, the compute spent and an
    estimate of the compute left (``knewimp.harness.cost``, from the folder's records and ``prior``,
    :func:`prior_records`; for a column it has none of, from the records committed with the checkout),
    a dataset x mechanism table of ok cells, and every failed cell with its reason."""
    good, damaged = records.scan(results_dir)
    have = {r["cell_id"]: r for r in good}
    # a column the folder has no record of is estimated from ``prior`` (by default the committed
    # records and benchmark timings), as a launch plans it
    model = CostModel(list(have.values()), resolve_device("auto"),
                      prior=list(prior[0]) if prior else committed_records(exclude=results_dir))
    counts: dict[str, Counter] = defaultdict(Counter)
    seconds: Counter = Counter()
    left: Counter = Counter()
    left_ds: Counter = Counter()
    extrapolated: set[str] = set()
    unknown_ds: set[str] = set()                     # datasets with a cell left that nothing estimates
    guessed: dict[str, set] = defaultdict(set)      # method -> sources of its estimates for cells left
    blocks: dict[tuple, Counter] = defaultdict(Counter)
    failures = []
    ran_on: dict[tuple, Counter] = defaultdict(Counter)  # (device kind, torch) -> ok cells per method
    cell_seconds: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))  # (method, preset) -> dataset -> s
    config = experiment_config(experiment)
    retry_failed = config.get("retry_failed", True)
    repeat = _repeated_cells(config, have)
    cells = expected_cells(experiment)
    under_cap = dict(zip((cell_id(**c) for c in cells),
                         estimates_under_cap(model, cells, config.get("time_cap_s"), have)))
    for cell in cells:
        cid = cell_id(**cell)
        rec = have.get(cid)
        state = "missing" if rec is None else rec["status"]
        method = cell["method"]
        counts[method][state] += 1
        if state == "ok":
            ran_on[(device_kind(rec.get("device")), (rec.get("versions") or {}).get("torch", "?"))][method] += 1
            if rec.get("fit_seconds") is not None:
                cell_seconds[(method, cell["preset"])][cell["dataset"]].append(rec["fit_seconds"])
        blocks[(cell["dataset"], cell["mechanism"])][state == "ok"] += 1
        if rec is not None:
            seconds[method] += rec.get("fit_seconds") or 0.0
        if state == "failed":
            failures.append(f"- `{cid}`: {rec['error']}")
        if not records.settled(rec, config):
            est = repeat(cid, cell["dataset"]) or under_cap[cid]
            if est is None:
                guessed[method].add("unknown")
                unknown_ds.add(cell["dataset"])
            else:
                left[method] += est.seconds
                left_ds[cell["dataset"]] += est.seconds
                guessed[method].add(est.source)
                if est.source != "measured":
                    extrapolated.add(cell["dataset"])
    total = sum(sum(c.values()) for c in counts.values())
    done = sum(c["ok"] for c in counts.values())
    unknown = sorted(m for m, src in guessed.items() if "unknown" in src)
    left_h = sum(left.values()) / 3600
    wall = f"about {left_h / jobs:.1f} h wall at {jobs} parallel cell{'s' if jobs > 1 else ''}"
    if unknown and not left:
        estimate = f"no estimate of the compute left yet ({', '.join(unknown)}: no record to estimate from)."
    else:
        estimate = (f"estimated compute left: {left_h:.1f} h"
                    + (f" (not counting {', '.join(unknown)}: no record to estimate from)" if unknown else "")
                    + f", {wall}.")
    lines = [f"# Grid status: experiment `{experiment}`", "",
             (f"{len(damaged)} damaged record files (listed at the end, not counted). " if damaged else "") +
             f"{done} of {total} cells ok; imputation compute in records: {sum(seconds.values()) / 3600:.2f} h; "
             + estimate, "",
             "| method | ok | failed | not run | compute (h) | left, estimated (h) |",
             "|---|---|---|---|---|---|"]
    for method, c in counts.items():
        est = "--" if "unknown" in guessed[method] else f"{left[method] / 3600:.2f}"
        if guessed[method] - {"measured", "unknown"}:
            est += " (partly extrapolated)"
        lines.append(f"| {method} | {c['ok']} | {c['failed']} | {c['missing']} | {seconds[method] / 3600:.2f} | {est} |")
    datasets = list(dict.fromkeys(ds for ds, _ in blocks))
    mechanisms = list(dict.fromkeys(mech for _, mech in blocks))
    lines += ["", "## Cells ok per dataset and mechanism", "",
              "| dataset | " + " | ".join(mechanisms) + " | left, estimated (h) |",
              "|---" * (len(mechanisms) + 2) + "|"]
    for ds in datasets:
        row = [f"{blocks[(ds, m)][True]}/{sum(blocks[(ds, m)].values())}" for m in mechanisms]
        if ds in unknown_ds:
            est = f"{left_ds[ds] / 3600:.2f} + unknown" if left_ds[ds] else "--"
        else:
            est = f"{left_ds[ds] / 3600:.2f}" + (" (extrapolated)" if ds in extrapolated else "")
        row.append(est)
        lines.append(f"| {ds} | " + " | ".join(row) + " |")
    lines += _seconds_table(cell_seconds, datasets)
    lines += ["", "## Where the ok cells ran", ""]
    lines += ["| device | torch | cells ok | methods (cells) |", "|---|---|---|---|"] if ran_on else ["No ok cell yet."]
    for (kind, torch_version), by_method in sorted(ran_on.items(), key=lambda kv: -sum(kv[1].values())):
        methods = ", ".join(f"{m} ({k})" for m, k in by_method.items())
        lines.append(f"| {kind} | {torch_version} | {sum(by_method.values())} | {methods} |")
    lines += ["", *([prior[1]] if prior else []), "", "Estimates (`knewimp/harness/cost.py`): the median seconds of the method's records on the same dataset; "
              "for a dataset the method has no record on, a power law in n and d fitted to its other datasets, "
              "which can be several times off, most of all for datasets larger than any measured.",
              (f"Cells not ok are neither skipped nor excluded: {_runner(experiment)} runs them." if retry_failed else
               f"Failed cells are results here (the experiment sets `retry_failed: false`: the same cell fails the "
               f"same way again); cells not run are neither skipped nor excluded: {_runner(experiment)} runs them, "
               f"and `retry_failed=true` re-runs the failed ones.")]
    if failures:
        lines += ["", "## Failed cells", *failures]
    if damaged:
        lines += ["", "## Damaged record files",
                  "Not counted as results; the next sweep over their cells moves them to `runs/.damaged/` and "
                  "computes the cells again.", ""] + [f"- `{d.path.name}`: {d.reason}" for d in damaged]
    return "\n".join(lines) + "\n", dict(counts)


def _repeated_cells(config, have: dict) -> callable:
    """For an experiment that repeats recorded cells (``downstream: true``, the grid's records in
    ``downstream_reference``): ``estimate(cell id, dataset)`` = that cell's own recorded seconds plus
    the median downstream evaluation seconds of the records on the dataset (``measured``; without
    such a record, the imputation alone), or None where the grid has no record of the cell (the
    cost model estimates)."""
    if not config.get("downstream"):
        return lambda cid, dataset: None
    grid = {}
    for folder in reversed(list(config.get("downstream_reference") or [])):
        grid.update({r["cell_id"]: r for r in records.load_records(folder)})
    scoring: dict[str, list[float]] = defaultdict(list)
    for r in have.values():
        if isinstance(r.get("downstream"), dict):
            scoring[r["dataset"]].append(r["downstream"]["seconds"])

    def estimate(cid: str, dataset: str) -> Estimate | None:
        secs = cell_seconds(grid[cid]) if cid in grid else None
        if secs is None:
            return None
        if not scoring.get(dataset):  # the evaluation not measured on this dataset yet: imputation only
            return Estimate(secs + OVERHEAD_SECONDS, "imputation only")
        return Estimate(secs + statistics.median(scoring[dataset]) + OVERHEAD_SECONDS, "measured")
    return estimate


def _seconds_table(cell_seconds: dict, datasets: list[str]) -> list[str]:
    """Median wall seconds of the ok cells' imputation per method x preset and dataset, with the
    number of cells behind each median (the machine and its load are those the records state)."""
    if not cell_seconds:
        return []
    lines = ["", "## Seconds per ok cell (median of the records' `fit_seconds`; cells in brackets)", "",
             "| method | " + " | ".join(datasets) + " |", "|---" * (len(datasets) + 1) + "|"]
    for (method, preset), by_ds in cell_seconds.items():
        row = [f"{statistics.median(by_ds[ds]):.1f} ({len(by_ds[ds])})" if by_ds.get(ds) else "--" for ds in datasets]
        lines.append(f"| {method}/{preset} | " + " | ".join(row) + " |")
    return lines


def _runner(experiment: str) -> str:
    command = f"`python -m knewimp.harness.run -m experiment={experiment}`"
    target = make_target(experiment)
    return f"`make {target}` ({command})" if target else command


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="reproduce")
    ap.add_argument("--results-dir", default=None, help="records folder (default: the experiment's results_dir)")
    ap.add_argument("--write", default=None, help="also write the report to this Markdown file")
    ap.add_argument("--jobs", type=int, default=2, help="parallel cells, for the wall-time estimate (default 2)")
    ap.add_argument("--prior", default="results", help="also estimate from the records under this folder and its "
                    "bench/*.json timings (default: results, the committed records; '' for none)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    experiments = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
    if args.experiment not in experiments:
        ap.error(f"unknown experiment {args.experiment!r}; valid choices: {', '.join(experiments)}")
    if args.results_dir is None:
        args.results_dir = str(experiment_config(args.experiment).get("results_dir") or "results")
    prior = prior_records(args.prior, exclude=args.results_dir) if args.prior and Path(args.prior).is_dir() else None
    report, _ = grid_status(args.experiment, args.results_dir, args.jobs, prior)
    print(report)
    if args.write:
        write_text_atomic(args.write, report)


if __name__ == "__main__":
    main()
