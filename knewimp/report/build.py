"""``make tables``: every generated file, from the records alone.

1. the result tables, claims, ranks, headline and figures of ``<results-dir>/runs``, joined by
   each complete column of ``<results-dir>/new_baselines/runs`` (:mod:`knewimp.report.tables`);
2. every number the paper prints next to ours (:mod:`knewimp.report.paper`), and its headline;
3. the report of every experiment module in :mod:`knewimp.report.experiments` (ablations,
   kernels, sensitivity, convergence, toys, runtime, benchmarks, cross-checks, ...), each where
   its records exist;
4. the grid status of the main grids (reproduce, faithful, new_baselines) and of each experiment
   module's ``GRIDS`` (:mod:`knewimp.harness.status`);
5. the README and the documents of ``DOCUMENTS`` (and the experiment modules' ``DOCUMENTS``),
   whose marked blocks are copied from the tables (:mod:`knewimp.report.readme`).

    python -m knewimp.report.build [--results-dir results] [--out DIR]
    knewimp-tables [--results-dir results] [--out DIR]          (the same, installed)

``--out`` writes everything under another folder (tables/, figures/, README.md, docs/results.md)
and leaves the committed files alone: the golden test compares such a rebuild with the committed
files byte for byte. Any results folder works (a copy of a checkout's ``results/``, one's own
records beside it); from an installed package there are no documents to fill (one line says so)
and the paper comparison needs ``KNEWIMP_PAPER_TABLES``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from knewimp.harness.atomic import write_text_atomic
from knewimp.harness.status import grid_status
from knewimp.harness.records import load_records, scan_cache
from knewimp.report.cli import guarded
from knewimp.report import experiments, paper, readme
from knewimp.report.tables import write_tables

#: (experiment, status file, folder under the results folder holding its records) of the main grids;
#: each experiment module adds its own (``GRIDS``).
GRID_EXPERIMENTS = (("reproduce", "grid_status.md", ""), ("faithful", "grid_status_faithful.md", ""),
                    ("new_baselines", "grid_status_new_baselines.md", "new_baselines"))
#: Folders (under the results folder) of grids on the main cells whose complete columns join the
#: result tables, ranks and claims (a partial column waits; :func:`knewimp.report.tables.complete_columns`).
JOIN_EXTRA = ("new_baselines",)
#: Folders (under the results folder) of experiments whose records the paper comparison also reads.
PAPER_EXTRA = ("paper_text", "new_baselines")
#: Parallel cells the grid status's wall-time estimate assumes (fixed, so the file does not depend
#: on the machine that regenerates it).
STATUS_JOBS = 2
#: Documents with <!-- results:NAME --> blocks, relative to the project root.
DOCUMENTS = ("README.md", "docs/results.md", "docs/experiments.md", "docs/new_baselines.md", "docs/baselines_bench.md",
             "docs/methods.md", "docs/fidelity.md", "docs/knewimp.md", "docs/diffusion.md")
ROOT = Path(__file__).resolve().parents[2]


def grid_experiments() -> list[tuple[str, str, str]]:
    """(experiment, status file, records folder) of every grid whose status ``make tables`` writes."""
    return [*GRID_EXPERIMENTS, *(g for module in experiments.modules() for g in getattr(module, "GRIDS", ()))]


def documents() -> list[str]:
    """Documents whose marked blocks ``make tables`` fills: :data:`DOCUMENTS` and the modules' own."""
    found = list(DOCUMENTS)
    for module in experiments.modules():
        found += [d for d in getattr(module, "DOCUMENTS", ()) if d not in found]
    return found


def build(results_dir: str | Path = "results", out: str | Path | None = None, jobs: int = STATUS_JOBS,
          log=print) -> Path:
    """Regenerate every file; returns the folder holding tables/ and figures/."""
    with scan_cache():  # the reports read the same folders again and again
        return _build(Path(results_dir), out, jobs, log)


def _build(results_dir: Path, out: str | Path | None, jobs: int, log) -> Path:
    out = Path(out) if out is not None else results_dir
    tables, figures = out / "tables", out / "figures"
    write_tables(results_dir, tables, figures_out=figures, log=log,
                 join_dirs=[results_dir / extra for extra in JOIN_EXTRA if (results_dir / extra / "runs").is_dir()])
    paper_path = paper.resolve_paper_path()
    if paper_path is not None:
        records = load_records(results_dir)
        for extra in PAPER_EXTRA:
            records += load_records(results_dir / extra)
        res = paper.write_report(records, paper_path, tables, figures)
        write_text_atomic(tables / "paper_headline.md", "".join(f"- {s}\n" for s in res["sentences"]))
    else:
        log(f"knewimp.report.build: no paper_tables.json found, so no comparison with the paper's numbers "
            f"(set {paper.ENV_VAR} to a checkout's reference/paper_tables.json)")
    for module in experiments.modules():
        module.report(results_dir, out, log=log)
    for experiment, name, folder in grid_experiments():
        report, _ = grid_status(experiment, results_dir / folder, jobs)
        write_text_atomic(tables / name, report)
    found = [doc for doc in documents() if (ROOT / doc).is_file()] if is_checkout() else []
    if not found:
        log(f"knewimp.report.build: no README.md or docs/ beside {ROOT} (an installed package): "
            f"tables and figures only, no documents filled")
    for doc in found:
        source = ROOT / doc
        target = source if out == results_dir and results_dir.resolve() == (ROOT / "results").resolve() else out / doc
        if target != source:
            write_text_atomic(target, source.read_text(encoding="utf-8"))
        readme.main([str(target), "--tables", str(tables)])
    return out


def is_checkout(root: Path = ROOT) -> bool:
    """Whether ``root`` is this project's source checkout (an installed package has no
    pyproject.toml above it): only there are README.md and docs/ to fill."""
    return (root / "pyproject.toml").is_file() and (root / "knewimp" / "report" / "build.py").is_file()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.report.build", description=__doc__.split("\n")[0])
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--out", default=None, help="write everything here instead of over the committed files")
    args = ap.parse_args(argv)
    return guarded(lambda: build(args.results_dir, args.out))

if __name__ == "__main__":
    sys.exit(main())
