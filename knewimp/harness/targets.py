"""The make targets that compute records, each as the experiments it runs: the one definition the
Makefile, the grid status and the cost table of docs/running.md read.

    python -m knewimp.harness.targets TARGET [--results results] [-- hydra overrides...]

runs the target's experiments one after the other, each as ``knewimp-run -m experiment=<name>``
with ``results_dir=<results>/<folder>``; the folder is the one the experiment's config names
under ``results/`` (``results/kernels`` -> ``<results>/kernels``), so a fresh ``--results``
folder receives the same layout as the committed one. Stops at the first experiment that fails.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path, PurePosixPath

from omegaconf import OmegaConf

from knewimp.vocab import CONFIG_DIR

#: make target -> the experiments (configs/experiment/<name>.yaml) it runs, in order. `reproduce`
#: runs every grid the README's headline reads: the main grid, TDM and GAIN at their published
#: settings, the three further baselines (joined as columns) and the paper-text KnewImp (the paper
#: comparison); tests/test_targets.py checks this against knewimp.report.build.
TARGETS: dict[str, tuple[str, ...]] = {
    "reproduce": ("reproduce", "faithful", "new_baselines", "paper_text"),
    "faithful": ("faithful",),
    "new_baselines": ("new_baselines",),
    "views": ("views",),
    "author_options": ("author_options",),
    "paper_text": ("paper_text",),
    "scaling-observed": ("scaling_observed",),
    "ablation": ("ablation_entropy", "sensitivity"),
    "ablation-ner-joint": ("ablation_ner_joint",),
    "kernels": ("kernels",),
    "sensitivity-paper": ("sensitivity_paper",),
    "convergence": ("convergence",),
    "rates": ("rates",),
    "rates_high": ("rates_high",),
    "downstream": ("downstream",),
    "scale": ("scale",),
    "mixed": ("mixed",),
    "toys": ("toys",),
    "quick": ("quick",),
}


def results_folder(experiment: str) -> str:
    """The experiment's records folder relative to the results folder ('' for results/ itself)."""
    path = CONFIG_DIR / "experiment" / f"{experiment}.yaml"
    if not path.is_file():
        raise ValueError(f"experiment {experiment!r}: no {path}")
    named = PurePosixPath(str(OmegaConf.load(path).get("results_dir", "results")))
    try:
        rel = named.relative_to("results")
    except ValueError:
        raise ValueError(f"experiment {experiment!r}: results_dir {named} is not under results/") from None
    return "" if str(rel) == "." else rel.as_posix()


def make_target(experiment: str) -> str | None:
    """The narrowest make target that runs ``experiment`` (None if no target does)."""
    having = [t for t, exps in TARGETS.items() if experiment in exps]
    return min(having, key=lambda t: len(TARGETS[t])) if having else None


def commands(target: str, results: str | Path = "results", extra: list[str] | None = None) -> list[list[str]]:
    """The ``knewimp-run`` command lines of ``target``, in order."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; valid choices: {', '.join(TARGETS)}")
    out = []
    for experiment in TARGETS[target]:
        folder = Path(results) / results_folder(experiment)
        out.append([sys.executable, "-m", "knewimp.harness.run", "-m", f"experiment={experiment}",
                    f"results_dir={folder}", *(extra or [])])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(prog="python -m knewimp.harness.targets", description=__doc__.splitlines()[0],
                                 usage="%(prog)s TARGET [--results DIR] [-- hydra overrides ...]")
    ap.add_argument("target", help=f"one of: {', '.join(TARGETS)}")
    ap.add_argument("--results", default="results", help="the results folder (default: results)")
    args = ap.parse_args(argv)
    if args.target not in TARGETS:
        ap.error(f"unknown target {args.target!r}; valid choices: {', '.join(TARGETS)}")
    for command in commands(args.target, args.results, overrides):
        print("+", " ".join(command[1:]), flush=True)
        rc = subprocess.call(command)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
