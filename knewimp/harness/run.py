"""Hydra entry point: one cell (dataset, mechanism, missing rate, seed, method/preset) -> one record.

    knewimp-run dataset=cc mechanism=mar method=mice/single seed=3
    knewimp-run -m dataset=bt,cc mechanism=mcar,mar method=mean/published,mice/single seed=0,1,2
    knewimp-run -m experiment=reproduce
    knewimp-run -m experiment=reproduce method=mine/published 'hydra.searchpath=[file:///home/me/conf]'

A cell whose record says ``ok`` is skipped (resume) unless ``force=true``; a failed cell is retried by the
next launch (not by a launcher running beside the one that failed it), unless ``retry_failed=false``
keeps it as a result.

Before Hydra starts, :func:`prepare` composes and checks the whole sweep: every user error (an
unknown choice, a bad value, an unusable results folder) is one line and exit code 2 before any
cell runs; the cells that already have ok records are set aside, and when none is left the command
prints a summary and exits without launching anything. Otherwise the sweep is narrowed to the
values of each swept key that cells still to run use, and given a sweep folder of its own.
"""
from __future__ import annotations

import datetime as dt
import errno

#: When this process began: a ``stop_at`` duration counts from here, so the imports below and the
#: planning of the sweep are spent from its budget.
STARTED = dt.datetime.now()

import importlib.resources
import os
import sys
from pathlib import Path
from typing import Sequence

import hydra
import yaml
from omegaconf import DictConfig

from knewimp.base import resolve_device
from knewimp.harness import records
from knewimp.harness.cell import run_cell
from knewimp.harness.cost import model_for, seconds_under_cap
from knewimp.harness.deadline import duration_seconds, launch_window, parse_stop_at
from knewimp.harness.identity import cell_id, name_problem
from knewimp.harness.orphans import cell_running, watch_parent
from knewimp.harness.sweep import DIRECT_KEYS, PREPARED, _compose, sweep_overrides, sweep_plan
from knewimp.harness.validate import (UserError, check_cell, check_downstream_datasets, check_missing_rate,
                                      check_results_dir, check_seed, one_line)
from knewimp.vocab import CONFIG_DIR

#: Config groups whose choice is a file under CONFIG_DIR/<group>/ (the method's as method/preset).
CHOICE_GROUPS = ("method", "dataset", "mechanism", "experiment", "logger")


#: Errors of the machine, not of the method or the configuration: reported in one line (a full
#: disk, a folder made read-only or removed under a running sweep), exit code 1.
MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO)


def machine_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot write{where}: {exc.strerror or exc}"


@hydra.main(version_base="1.3", config_path="pkg://knewimp.configs", config_name="config")
def _main(cfg: DictConfig) -> float | None:
    watch_parent()
    try:
        with cell_running():
            record = run_cell(cfg)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in MACHINE_ERRNOS:
            raise
        print(f"error: {machine_error(exc)}", file=sys.stderr)
        sys.exit(1)
    return record.get("mae")


def check_launcher(cfg: DictConfig) -> None:
    """The joblib launcher's ``n_jobs``: a non-zero integer (joblib's own error is 38 lines)."""
    launcher = cfg.hydra.get("launcher") if "hydra" in cfg else None
    n_jobs = launcher.get("n_jobs") if launcher is not None else None
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
        raise UserError(f"hydra.launcher.n_jobs={n_jobs!r}: must be a non-zero integer (the number of parallel "
                        "cells; -1: one per core)")


def absolute_paths(argv: list[str], cfg: DictConfig, launch_dir: str | None = None) -> list[str]:
    """With ``hydra.job.chdir=true`` each job runs in its own Hydra folder: a relative
    ``results_dir`` or ``data_dir`` is made absolute against the launch folder, so records land
    where the next launch looks for them."""
    if not cfg.hydra.job.get("chdir"):
        return argv
    launch_dir = launch_dir or os.getcwd()
    out = list(argv)
    for key in ("results_dir", "data_dir"):
        value = cfg.get(key)
        if value is not None and not os.path.isabs(str(value)):
            out = [a for a in out if not ("=" in a and not a.startswith("-") and _key(a) == key)]
            out.append(f"{key}={os.path.join(launch_dir, str(value))}")
    return out


def valid_choices(group: str, config_dirs: Sequence[Path] = ()) -> list[str]:
    """The options of a config group, e.g. ``tdm/paper`` for ``method``, in the package's configs
    and in ``config_dirs`` (folders added to Hydra's search path)."""
    found = set()
    for root in (CONFIG_DIR, *config_dirs):
        folder = Path(root) / group
        found.update(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
    return sorted(found)


def searchpath_dirs(overrides: list) -> list[Path] | None:
    """The folders a ``hydra.searchpath=[file:///...,pkg://...]`` override adds (a user's own
    method and experiment configs); None when one cannot be located (it is then Hydra's to judge)."""
    dirs = []
    for o in overrides:
        if o.key_or_group != "hydra.searchpath" or o.value() is None:
            continue
        value = o.value()
        for entry in value if isinstance(value, list) else [value]:
            entry = str(entry)
            if entry.startswith("pkg://"):
                package, _, sub = entry[len("pkg://"):].partition("/")
                try:
                    dirs.append(Path(str(importlib.resources.files(package))) / sub)
                except (ModuleNotFoundError, TypeError, ValueError):
                    return None
            else:
                dirs.append(Path(entry.removeprefix("file://")))
    return dirs


def _choices(overrides: list, key: str) -> list[str]:
    for o in overrides:
        if o.key_or_group == key and o.value() is not None:
            return list(o.sweep_string_iterator()) if o.is_sweep_override() else [str(o.value())]
    return []


def check_choices(argv: list[str]) -> str | None:
    """Name the valid options when a command line picks one that does not exist (Hydra would
    report a missing file, and an unknown experiment would otherwise be looked for in vain)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if "=" in a and not a.startswith("-")])
    except Exception:  # Hydra itself reports malformed overrides
        return None
    for group in CHOICE_GROUPS:
        for choice in _choices(overrides, group):
            for part in choice.split("/"):
                if name_problem(part):
                    return f"{group}={choice!r}: {name_problem(part)}"
    extra = searchpath_dirs(overrides)
    if extra is None:
        return None
    for group in CHOICE_GROUPS:
        valid = valid_choices(group, extra)
        for choice in _choices(overrides, group):
            if choice not in valid:
                hint = ""
                if group == "method" and "/" not in choice:
                    presets = [v for v in valid if v.split("/")[0] == choice]
                    hint = f" (a method is chosen with its preset, e.g. {presets[0]})" if presets else ""
                return f"unknown {group} {choice!r}{hint}; valid choices: {', '.join(valid)}"
    return None


def _cli_overrides(argv: list[str]) -> list[str]:
    return [a for a in argv if "=" in a and not a.startswith("-")]


def _key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def _typed(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _check_direct(key: str, values: list[str]) -> None:
    for text in values:
        value = _typed(text)
        if key == "seed":
            check_seed(value)
        elif key == "missing_rate":
            check_missing_rate(value)


def _launch_jobs(cfg: DictConfig) -> int:
    """Cells the configured launcher runs at a time (joblib's ``n_jobs``, a cluster launcher's
    ``array_parallelism``; the basic launcher one)."""
    launcher = cfg.hydra.get("launcher") or {}
    n = launcher.get("n_jobs", launcher.get("array_parallelism", 1))
    n = int(n) if isinstance(n, int) else 1
    return n if n > 0 else (os.cpu_count() or 1)


def _absolute_stop_at(argv: list[str], cfg: DictConfig, launched: dt.datetime) -> list[str]:
    """``argv`` with a ``stop_at`` duration (``+10m``; on the command line or from an experiment)
    replaced by the time it names from the launch, so that every job weighs one deadline."""
    value = cfg.get("stop_at")
    if value is None or duration_seconds(str(value)) is None:
        return argv
    when = parse_stop_at(value, now=launched).isoformat(timespec="seconds")
    return [a for a in argv if not ("=" in a and not a.startswith("-") and _key(a) == "stop_at")] + [f"stop_at={when}"]


def prepare(argv: list[str], now: dt.datetime | None = None) -> tuple[list[str], str | None]:
    """(the command line for Hydra, or a message to print when there is nothing to run).

    Raises :class:`UserError` on any configuration error of any cell of the sweep. With
    ``stop_at``, only the cells that the estimates let start before it are launched."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    launched = (now or dt.datetime.now()).astimezone()
    problem = check_choices(argv)
    if problem:
        raise UserError(problem)
    cli = _cli_overrides(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(cli)
        cfg = _compose([line for line, o in zip(cli, parsed) if not o.is_sweep_override()])
    except Exception as exc:  # Hydra's own errors: malformed override, key not in the config, ...
        raise UserError(one_line(exc)) from None
    try:
        argv = _absolute_stop_at(argv, cfg, launched)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    multirun = "-m" in argv or "--multirun" in argv or cfg.hydra.mode == RunMode.MULTIRUN
    argv = absolute_paths(argv, cfg)
    if not multirun:
        check_cell(cfg)
        check_downstream_datasets(cfg.get("downstream"), [cfg.dataset.name])
        return argv, None
    check_launcher(cfg)
    fixed, sweeps = sweep_overrides(cfg, cli=cli)
    check_downstream_datasets(cfg.get("downstream"), sweeps.get("dataset", [cfg.dataset.name]))
    for key in DIRECT_KEYS:
        _check_direct(key, sweeps.get(key, []))

    def check(composed, combo):
        try:
            check_cell(composed, results_dir=False)
        except UserError as exc:
            where = ", ".join(f"{k}={v}" for k, v in combo.items())
            raise UserError(f"{exc}" + (f" (in the sweep's cells with {where})" if where else "")) from None

    try:
        plan = sweep_plan(_compose, fixed, sweeps, check=check)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(one_line(exc)) from None
    results_dir = str(cfg.results_dir)
    check_results_dir(results_dir)
    good, damaged = records.scan(results_dir)
    ids = [cell_id(**identity) for _, identity in plan]
    settled = {r["cell_id"] for r in good if records.settled(r, cfg)}
    todo = [(values, identity, cid) for (values, identity), cid in zip(plan, ids) if cid not in settled]
    note = f"; {len(damaged)} damaged record files (knewimp-status lists them)" if damaged else ""
    kept = len({r["cell_id"] for r in good if r["status"] == "failed"} & settled & set(ids))
    if not todo:
        failed = f" or a failed one kept ({kept}; retry_failed=true re-runs those)" if kept else ""
        return argv, (f"sweep: {len(plan)} cells, every one with an ok record{failed} under {results_dir}/runs: "
                      f"nothing to run (force=true re-runs them){note}")
    model = model_for(results_dir, resolve_device(cfg.get("device")))
    cap = cfg.get("time_cap_s")
    estimates = seconds_under_cap(model, [i for _, i, _ in todo], cap)
    held, n_todo = "", len(todo)
    stop_at = parse_stop_at(_stop_at_of(argv, cfg))
    if stop_at is not None:
        window = launch_window(estimates, stop_at, _launch_jobs(cfg), now=launched)
        if not any(window):
            return argv, (f"sweep: {len(plan)} cells, {len(todo)} to run, none of which the estimates let start "
                          f"before stop_at {stop_at.isoformat(timespec='minutes')}: nothing launched{note}")
        if not all(window):
            held = (f"; {len(window) - sum(window)} left for a later launch (the estimates do not let them "
                    f"start before stop_at {stop_at.isoformat(timespec='minutes')})")
        todo = [t for t, inside in zip(todo, window) if inside]
        estimates = [e for e, inside in zip(estimates, window) if inside]
    out = list(argv)
    narrowed = {}
    for key, values in sweeps.items():
        used = [v for v in values if any(t[0][key] == v for t in todo)]
        if len(used) < len(values) and not any(c in v for v in used for c in ",[]{}()'\"\\"):
            narrowed[key] = used
    if narrowed:
        out = [a for a in out if not ("=" in a and not a.startswith("-") and _key(a) in narrowed)]
        out += [f"{k}={','.join(v)}" for k, v in narrowed.items()]
    if not any(a.startswith("hydra.sweep.dir=") for a in argv):
        now = now or dt.datetime.now()
        out.append(f"hydra.sweep.dir=multirun/{now:%Y-%m-%d}/{now:%H-%M-%S}_{os.getpid()}")
    sweep_dir = [a for a in out if a.startswith("hydra.sweep.dir=")][-1].split("=", 1)[1]
    # the progress callback's plan, so that Hydra's start composes nothing again
    PREPARED[sweep_dir] = {cid: est for (_, _, cid), est in zip(todo, estimates)}
    jobs = 1
    for key, values in sweeps.items():
        jobs *= len(narrowed.get(key, values))
    done = f"{len(plan) - n_todo - kept} with ok records" + (f", {kept} failed and kept (retry_failed=false)"
                                                               if kept else "")
    print(f"sweep: {len(plan)} cells, {done}, {n_todo} to run"
          + (f"; launching {jobs} jobs ({', '.join(narrowed)} narrowed to the values left)" if narrowed else "")
          + held + note, file=sys.stderr)
    return out, None


def _stop_at_of(argv: list[str], cfg: DictConfig):
    lines = [a.split("=", 1)[1] for a in _cli_overrides(argv) if _key(a) == "stop_at"]
    return lines[-1] if lines else cfg.get("stop_at")


def _skip_recomposition() -> None:
    """:func:`prepare` composed and checked every distinct configuration of the sweep; Hydra's
    basic sweeper would otherwise compose all of its cells' configs once more before launching
    the first (about 0.3 s each: minutes for a grid). Each job still composes its own config."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    BasicSweeper.validate_batch_is_legal = lambda self, batch: None


def main() -> None:
    try:
        argv, done = prepare(sys.argv[1:], now=STARTED)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if done:
        print(done)
        return
    _skip_recomposition()
    sys.argv = [sys.argv[0], *argv]
    _main()


if __name__ == "__main__":
    main()
