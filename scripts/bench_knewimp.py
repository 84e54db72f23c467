"""Time KnewImputer: seconds per phase, particle steps/s, peak memory, speed-up over the naive path.

Data: a named dataset (knewimp.protocol.datasets.load_dataset, standardised, MCAR 30%) or ``--synthetic N D``
(correlated Gaussian, standardised, MCAR 30%).

The "naive" implementation is the same algorithm computed the way the authors' code does it:
autograd scores (graph per step), DSM through a double backward, the full n x n kernel with R
assembled column by column, every row processed (then masked), no_grad instead of
inference_mode. It is O(n^2) in memory, so above ``--oracle-max-n`` rows it is timed on a random
subset of ``--oracle-max-n`` rows for a few steps and its per-step time extrapolated by (n / n_sub)^2
(the kernel dominates there; the score part only grows like n, so this over-states it a little).

Timings: wall seconds per phase (the imputer's ``timings_``) and the process CPU seconds of the
whole run; on a shared machine use ``--threads 1`` and read the CPU seconds, which contention
inflates far less than wall time.

Memory: peak resident set size of the process (resource.getrusage ru_maxrss: numpy + torch CPU +
the interpreter), reported as the peak and as the increase over the RSS just before imputing.
The fast path runs first so the naive path cannot inflate its peak.

    .venv/bin/python scripts/bench_knewimp.py --dataset bt                  # full settings
    .venv/bin/python scripts/bench_knewimp.py --dataset bt --ablate         # the change -> time table
    .venv/bin/python scripts/bench_knewimp.py --synthetic 50000 10 --steps 3 --epochs 2
    .venv/bin/python scripts/bench_knewimp.py --dataset bt --floor --time-authors

Floor (``--floor``): a lower bound on the time of ANY implementation of the same settings on this
CPU, measured by timing only the bare operations the arithmetic cannot avoid, one at a time and
with nothing else around them: per DSM epoch the six (n x H x H) matrix products of a forward and
backward pass through each hidden-to-hidden layer (forward z = a W^T and g W; backward two
products for each), and per particle step the two (m x H x H) products of the score and, for the
kernel (m = rows with a missing entry), one exponential and one d-term dot product per distinct
pair of rows of which at least one is selected (m n - m (m - 1) / 2 pairs: the kernel is
symmetric) and the m x n x (d + 1) multiply-adds of K [S + lambda X / h^2 | 1], the least the
direction needs; the kernel operations are timed on one block of rows (the imputer's own block
size) and scaled. Everything smaller (first and last layers, elementwise work, the optimiser) is
left out, so the real floor is higher.

Authors' code (``--time-authors``): the released code (``scripts/authors_ref.py``, float64, their run
script's arguments with this run's outer iterations, epochs and steps) imputes the same data in the
same process, timed the same way; the figures then include its seconds, our speed-up over it and,
with ``--floor``, the largest speed-up over it that the floor allows.

``--out results/bench/knewimp_speed.json`` keeps each run's figures (one entry per mode, data,
dtype, threads and settings; a re-run replaces its entry), written atomically; ``make tables``
renders them as ``results/tables/bench_knewimp_speed.md`` (:mod:`knewimp.report.experiments.bench`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from knewimp.harness.provenance import host_description
from knewimp.imputer import KnewImputer
from knewimp.kernels import RBF_BLOCK_ROWS
from knewimp.reference import Implementation, ReferenceKnewImputer

NAIVE = Implementation()
FAST = Implementation(closed_form_score=True, closed_form_dsm=True, blocked_kernel=True, active_rows=True,
                      manual_dsm=True)
# Cumulative optimisations (the change -> time table); the last row is KnewImputer itself.
STEPS = [
    ("naive: reference-code computation", NAIVE),
    ("+ closed-form DSM loss (one backward, no create_graph)", Implementation(closed_form_dsm=True)),
    ("+ kernel terms as K_B @ [S + lambda X / h^2 | 1] in row blocks, each pair's exponential once",
     Implementation(closed_form_dsm=True, blocked_kernel=True)),
    ("+ only rows with a missing entry; cached scores of complete rows",
     Implementation(closed_form_dsm=True, blocked_kernel=True, active_rows=True)),
    ("+ closed-form score under inference_mode (no autograd per step)",
     Implementation(closed_form_score=True, closed_form_dsm=True, blocked_kernel=True, active_rows=True)),
    ("+ hand-written DSM gradient with one flat Adam; folded score for the steps: KnewImputer", FAST),
]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def make_data(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(args.seed)
    if args.synthetic:
        n, d = args.synthetic
        A = rng.normal(size=(d, d))
        cov = A @ A.T / d + 0.1 * np.eye(d)
        X = rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T
        name = f"synthetic {n}x{d}"
    else:
        from knewimp.protocol.datasets import load_dataset

        X = load_dataset(args.dataset)
        name = f"{args.dataset} {X.shape[0]}x{X.shape[1]}"
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    mask = rng.random(X.shape) < 0.3
    mask[mask.all(axis=1), 0] = False
    return X, np.where(mask, np.nan, X), mask, name


def run(Xm, mask, X, impl: Implementation, args, steps=None, epochs=None) -> dict:
    params = dict(n_steps=steps or args.steps, score_epochs=args.epochs if epochs is None else epochs,
                  n_outer=args.outer, dtype=args.dtype, block_size=args.block_size, random_state=args.seed, device="cpu",
                  standardize=False)  # the data above are standardised already
    imp = KnewImputer(**params) if impl == FAST else ReferenceKnewImputer(impl, **params)
    before = current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    out = imp.fit_transform(Xm)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_steps = imp.n_outer * imp.n_steps
    return {"total": total, "cpu": cpu, "fit": imp.timings_["score_fit"], "steps": imp.timings_["particle_steps"],
            "per_step": imp.timings_["particle_steps"] / max(1, n_steps),
            "per_epoch": imp.timings_["score_fit"] / max(1, imp.n_outer * imp.score_epochs),
            "mae": float(np.abs(out - X)[mask].mean()), "rss_before": before, "peak": rss_mb()}


def time_authors(X: np.ndarray, mask: np.ndarray, args) -> dict:
    """Wall and CPU seconds and MAE of the authors' released code on the same data and settings."""
    import authors_ref  # scripts/, on the path since main() checked the checkout

    ref = authors_ref.load()
    t0, c0 = time.perf_counter(), time.process_time()
    out = authors_ref.impute(ref, X, mask, args.seed, niter=args.outer, score_net_epoch=args.epochs,
                             sampling_step=args.steps)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"total": total, "cpu": cpu, "mae": float(np.abs(out - X)[mask].mean())}


def _op_seconds(fn, repeats: int = 30) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def floor_seconds(n: int, m: int, d: int, hidden, dsm_epochs: int, particle_steps: int, dtype) -> dict:
    """Lower bound (seconds) from the unavoidable products and exponentials; see the module docstring."""
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(shape, generator=g, dtype=dtype)  # noqa: E731
    epoch = step = 0.0
    for h_in, h_out in zip(hidden[:-1], hidden[1:]):
        a, W, b = rand(n, h_in), rand(h_out, h_in), rand(m, h_in)
        epoch += 6 * _op_seconds(lambda: a @ W.T)
        step += 2 * _op_seconds(lambda: b @ W.T)
    # The kernel, timed on one cache-sized block of rows and scaled to the distinct pairs
    block = min(m, RBF_BLOCK_ROWS)
    pairs = m * n - m * (m - 1) / 2
    Xb, XT, ZT = rand(block, d), rand(d, n), rand(d + 1, n)
    exponent, K, KZ = -30.0 * rand(block, n), torch.empty(block, n, dtype=dtype), torch.empty(d + 1, block, dtype=dtype)
    kernel = _op_seconds(lambda: torch.mm(Xb, XT, out=K)) + _op_seconds(lambda: torch.exp(exponent, out=K))
    step += kernel * pairs / (block * n) + _op_seconds(lambda: torch.mm(ZT, K.T, out=KZ)) * m / block
    return {"dsm": dsm_epochs * epoch, "steps": particle_steps * step, "per_epoch": epoch, "per_step": step,
            "total": dsm_epochs * epoch + particle_steps * step}


def keep(args, X: np.ndarray, name: str, entry: dict) -> None:
    """Add (or replace) this run's entry in ``args.out``, atomically; nothing without ``--out``."""
    if not args.out:
        return
    from knewimp.harness.records import write_json_atomic

    out = Path(args.out)
    data = json.loads(out.read_text()) if out.is_file() else {"kind": "bench_knewimp", "entries": []}
    entry = dict(entry, data=name, n=int(X.shape[0]), d=int(X.shape[1]), dtype=args.dtype,
                 threads=torch.get_num_threads(), outer=args.outer, epochs=args.epochs, steps=args.steps,
                 host=host_description(),
                 loadavg=os.getloadavg()[0], at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    key = lambda e: tuple(e[k] for k in ("mode", "data", "dtype", "threads", "outer", "epochs", "steps"))  # noqa: E731
    data["entries"] = [e for e in data["entries"] if key(e) != key(entry)] + [entry]
    write_json_atomic(out, data)
    print(f"kept in {out}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="bt, bcd, cc, cbv, is, pk, qb, wqw")
    src.add_argument("--synthetic", nargs=2, type=int, metavar=("N", "D"))
    ap.add_argument("--steps", type=int, default=500, help="particle steps per outer iteration (default 500)")
    ap.add_argument("--epochs", type=int, default=200, help="DSM epochs per outer iteration (default 200)")
    ap.add_argument("--outer", type=int, default=2)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablate", action="store_true", help="time each optimisation cumulatively")
    ap.add_argument("--no-oracle", action="store_true", help="skip the naive path")
    ap.add_argument("--oracle-max-n", type=int, default=5000)
    ap.add_argument("--oracle-steps", type=int, default=None, help="particle steps for the naive path")
    ap.add_argument("--floor", action="store_true", help="also time the arithmetic floor (see above)")
    ap.add_argument("--time-authors", action="store_true",
                    help="also time the authors' released code on the same data (float64; see above)")
    ap.add_argument("--out", default=None, help="keep this run's figures in this JSON (see the module docstring)")
    args = ap.parse_args(argv)
    if args.time_authors and args.dtype != "float64":
        ap.error(f"--time-authors with --dtype {args.dtype}: the authors' code runs float64 only; valid: --dtype float64")
    if args.time_authors:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from authors_ref import missing_reason

        missing = missing_reason()
        if missing:
            ap.error(f"--time-authors: {missing}")
    if args.threads:
        torch.set_num_threads(args.threads)

    X, Xm, mask, name = make_data(args)
    # One-time costs (lazy imports on the first optimiser step, allocator warm-up) are not timed.
    KnewImputer(n_outer=1, score_epochs=2, n_steps=2, hidden=(8,), random_state=0, device="cpu").fit_transform(Xm[:50])
    n = X.shape[0]
    print(f"{name}, MCAR {mask.mean():.3f}, {args.outer} x ({args.epochs} DSM epochs + {args.steps} particle steps), "
          f"{args.dtype}, {torch.get_num_threads()} torch threads, block_size={args.block_size or 'auto'}")

    authors = time_authors(X, mask, args) if args.time_authors else None
    if authors:
        print(f"authors' code: total {authors['total']:.2f}s wall, {authors['cpu']:.2f}s CPU; MAE {authors['mae']:.6f}")
    if args.ablate:
        print("\n| change | wall s (speed-up) | CPU s | DSM fit s | particle steps s | ms/step | MAE |")
        print("|---|---|---|---|---|---|---|")
        first, rows = None, []
        for label, impl in STEPS:
            r = run(Xm, mask, X, impl, args)
            rows.append(dict(r, label=label))
            first = first or r["total"]
            print(f"| {label} | {r['total']:.2f} ({first / r['total']:.1f}x) | {r['cpu']:.2f} | {r['fit']:.2f} | {r['steps']:.2f} | "
                  f"{1e3 * r['per_step']:.2f} | {r['mae']:.6f} |", flush=True)
        if authors:
            print(f"KnewImputer is {authors['total'] / rows[-1]['total']:.2f}x faster than the authors' code (wall)")
        keep(args, X, name, dict(mode="ablate", rows=rows, authors=authors))
        return 0

    fast = run(Xm, mask, X, FAST, args)
    print(f"\nfast:  total {fast['total']:.2f}s wall, {fast['cpu']:.2f}s CPU = DSM fit {fast['fit']:.2f}s ({1e3 * fast['per_epoch']:.1f} ms/epoch) + "
          f"particle steps {fast['steps']:.2f}s ({1e3 * fast['per_step']:.2f} ms/step, "
          f"{1 / fast['per_step']:.1f} steps/s); MAE {fast['mae']:.6f}")
    print(f"       peak RSS {fast['peak']:.0f} MB (+{fast['peak'] - fast['rss_before']:.0f} MB over the "
          f"{fast['rss_before']:.0f} MB before imputing; ru_maxrss, numpy + torch CPU)")
    entry = dict(mode="single", fast=fast, authors=authors)
    if authors:
        print(f"authors' code {authors['total']:.2f}s: the fast path is {authors['total'] / fast['total']:.2f}x faster")
    if args.floor:
        m = int(mask.any(axis=1).sum())
        hidden = list(KnewImputer().hidden)  # hidden-to-hidden pairs only
        fl = floor_seconds(n, m, X.shape[1], hidden, args.outer * args.epochs, args.outer * args.steps,
                           torch.float64 if args.dtype == "float64" else torch.float32)
        print(f"floor: {fl['total']:.2f}s = DSM {fl['dsm']:.2f}s ({1e3 * fl['per_epoch']:.2f} ms/epoch) + particle steps "
              f"{fl['steps']:.2f}s ({1e3 * fl['per_step']:.2f} ms/step); the fast path is {fast['total'] / fl['total']:.2f}x "
              f"the floor")
        entry.update(floor=fl)
        if authors:
            print(f"no implementation can beat the authors' code by more than {authors['total'] / fl['total']:.2f}x "
                  f"at these settings on this CPU")
    if args.no_oracle:
        keep(args, X, name, entry)
        return 0
    if n <= args.oracle_max_n:
        naive = run(Xm, mask, X, NAIVE, args, steps=args.oracle_steps)
        note = "measured"
        step_ratio = naive["per_step"] / fast["per_step"]
        print(f"naive: total {naive['total']:.2f}s wall, {naive['cpu']:.2f}s CPU = DSM fit {naive['fit']:.2f}s ({1e3 * naive['per_epoch']:.1f} ms/epoch) + "
              f"particle steps {naive['steps']:.2f}s ({1e3 * naive['per_step']:.2f} ms/step); MAE {naive['mae']:.6f}")
        naive_total = naive["per_epoch"] * args.outer * args.epochs + naive["per_step"] * args.outer * args.steps
    else:
        sub = np.random.default_rng(args.seed).choice(n, size=args.oracle_max_n, replace=False)
        steps = args.oracle_steps or min(args.steps, 3)
        naive = run(Xm[sub], mask[sub], X[sub], NAIVE, args, steps=steps, epochs=min(args.epochs, 2))
        scale = (n / args.oracle_max_n) ** 2
        naive_step = naive["per_step"] * scale
        naive_epoch = naive["per_epoch"] * n / args.oracle_max_n
        step_ratio = naive_step / fast["per_step"]
        naive_total = naive_epoch * args.outer * args.epochs + naive_step * args.outer * args.steps
        note = f"extrapolated from {steps} steps on {args.oracle_max_n} rows x (n/{args.oracle_max_n})^2"
        print(f"naive: {1e3 * naive_step:.1f} ms/step ({note}); DSM {1e3 * naive_epoch:.1f} ms/epoch (x n)")
    print(f"speed-up: particle step {step_ratio:.1f}x, whole run {naive_total / fast['total']:.1f}x ({note})")
    entry.update(naive=naive, naive_note=note, naive_measured=note == "measured", naive_per_step=naive["per_step"]
                 if note == "measured" else naive_step, step_ratio=step_ratio, naive_total=naive_total)
    keep(args, X, name, entry)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
