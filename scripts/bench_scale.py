"""KnewImp's O(n) kernel (``approx``) against the exact kernel: accuracy where both run, time at 50k.

Three measurements, written to one JSON (``--out``, merged under a file lock with what it holds
when each entry is saved, so runs side by side may share it: a re-run replaces the entries with
the same key):

``--accuracy dataset[:n_rows] ...`` runs, for each dataset (a row subsample of ``n_rows`` rows,
fixed per seed, when given), mechanism and seed, the cell's input through ``knewimp/paper`` (exact
kernel, float64) and each variant of ``--variants`` (presets or ``preset+key=value`` overrides),
one after the other in the same process, and records MAE, WASS and CPU seconds of each.
A variant's ``reseed=K`` is not a method key: it runs that preset with imputer seed ``seed + K``
on the same cell, so that ``knewimp/paper+reseed=1000`` measures how far the exact kernel moves
from itself between two runs on one mask (the run-to-run spread any variant's ratio is read
against). ``--steps`` / ``--epochs`` reduce the particle steps and DSM epochs per outer iteration of every
variant alike (recorded; the report says when the settings are reduced).

``--timing N D`` times, on a synthetic correlated N x D matrix (z-scored ``Z W + 0.1 E``, MCAR 30%),
each component of one KnewImp run in CPU seconds: a DSM epoch, a score evaluation of all rows, and
a particle-step direction, exact and approximate (the knn evaluator over ``approx_refresh`` steps,
its neighbour refresh included; with ``--probes`` also the cluster search, ``--far`` random far
particles and ``--score-batch`` rows per DSM epoch), in float64 and float32. The full-run CPU time of
each variant is then ``n_outer * (score_epochs * epoch + n_steps * (score + direction))`` at the
paper's settings (2, 200, 500): timing the exact kernel's 1,000 steps at 50,000 rows would take
hours. Both sides are measured in the same process, interleaved, so their ratio holds on a loaded
machine; the load average before and after each measurement is recorded.

``--full-run N D`` runs each variant of ``--variants`` completely (its preset's own settings) on
the same synthetic matrix and records its CPU seconds (the target's measure), the imputer's wall
seconds in the score fit and in the particle steps, and its MAE. ``--no-exact`` leaves the exact
kernel out of ``--accuracy`` (its entries already in ``--out``; for exploring variants).

One torch thread (BLAS pools too, set before numpy and torch load); CPU seconds are process time.

    python scripts/bench_scale.py --accuracy cc diamonds:5000 --out results/bench/scale_knewimp.json
    python scripts/bench_scale.py --timing 50000 10 --out results/bench/scale_knewimp.json
    python scripts/bench_scale.py --full-run 50000 10 --variants knewimp/scalable --out results/bench/scale_knewimp.json
    python -m knewimp.report.experiments.scale     # tables and figures from the JSON and results/scale
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from knewimp.base import ImputationError  # noqa: E402
from knewimp.harness.methods import build_imputer  # noqa: E402
from knewimp.harness.provenance import host_description  # noqa: E402
from knewimp.harness.records import write_json_atomic  # noqa: E402
from knewimp.kernels import RBFDirection  # noqa: E402
from knewimp.protocol import metrics  # noqa: E402
from knewimp.protocol.amputation import mcar  # noqa: E402
from knewimp.protocol.cell_input import make_cell_input  # noqa: E402
from knewimp.scalable_kernels import KNNDirection, MinibatchDirection  # noqa: E402
from knewimp.score import EnergyMLP, fit_score  # noqa: E402

EXACT = "knewimp/paper"
DEFAULT_VARIANTS = ("knewimp/scalable", "knewimp/scalable_fast", "knewimp/scalable+dtype=float64")
PAPER = dict(n_outer=2, score_epochs=200, n_steps=500)


def _load() -> float:
    return float(os.getloadavg()[0])


def parse_variant(text: str) -> tuple[str, list[str], int]:
    """``preset+key=value+...`` -> (preset, Hydra overrides ``method.key=value``, imputer seed offset
    given by ``reseed=K``, 0 without it)."""
    preset, *pairs = text.split("+")
    overrides, offset = [], 0
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise SystemExit(f"--variants: {pair!r} in {text!r} is not key=value")
        if key == "reseed":
            if not value.isdigit() or int(value) == 0:
                raise SystemExit(f"--variants: reseed={value!r} in {text!r}: must be a positive integer")
            offset = int(value)
        else:
            overrides.append(f"method.{pair}")
    return preset, overrides, offset


def run_variant(label: str, X: np.ndarray, mask: np.ndarray, seed: int, reduced: dict) -> dict:
    preset, overrides, offset = parse_variant(label)
    reduced_overrides = [f"method.{k}={v}" for k, v in reduced.items()]
    imputer = build_imputer(preset, *reduced_overrides, *overrides, random_state=seed + offset, device="cpu", threads=1)
    load0, c0, t0 = _load(), time.process_time(), time.perf_counter()
    try:
        X_hat = imputer.fit_transform(np.where(mask, np.nan, X))
    except ImputationError as exc:  # a diverged run is a result too: kept with its reason
        return dict(variant=label, status="failed", error=str(exc), cpu_seconds=time.process_time() - c0,
                    wall_seconds=time.perf_counter() - t0, loadavg_before=load0, loadavg_after=_load())
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    wass, how = metrics.wass(X, X_hat, mask, row_sample=5000)
    return dict(variant=label, mae=metrics.mae(X, X_hat, mask), wass=wass, wass_method=how, cpu_seconds=cpu,
                wall_seconds=wall, timings=dict(imputer.timings_), loadavg_before=load0, loadavg_after=_load())


def accuracy(specs: list[str], mechanisms: list[str], seeds: list[int], variants: list[str], reduced: dict,
             save, with_exact: bool = True) -> None:
    for spec in specs:
        dataset, _, rows = spec.partition(":")
        n_rows = int(rows) if rows else None
        for mechanism in mechanisms:
            for seed in seeds:
                X, mask = make_cell_input(dataset, mechanism, 0.3, seed, n_rows=n_rows)
                key = dict(kind="accuracy", dataset=dataset, n=int(X.shape[0]), d=int(X.shape[1]),
                           mechanism=mechanism, seed=seed, **{k: reduced.get(k, v) for k, v in PAPER.items()})
                for label in ((EXACT,) if with_exact else ()) + tuple(variants):
                    entry = dict(key, **run_variant(label, X, mask, seed, reduced))
                    result = (f"FAILED ({entry['error']})" if entry.get("status") == "failed"
                              else f"MAE {entry['mae']:.4f} WASS {entry['wass']:.4f}")
                    print(f"{dataset} n={key['n']} {mechanism} s{seed} {label}: {result} "
                          f"CPU {entry['cpu_seconds']:.1f}s", flush=True)
                    save(entry)


def _cpu(fn, repeat: int = 1) -> float:
    c0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - c0) / repeat


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r = min(3, d)
    X = rng.standard_normal((n, r)) @ rng.standard_normal((r, d)) + 0.1 * rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)
    return X, mcar(X, 0.3, rng)


def full_run(n: int, d: int, variants: list[str], save) -> None:
    """Each variant's complete run (the preset's own settings) on the synthetic n x d matrix."""
    X, mask = synthetic(n, d)
    for label in variants:
        entry = dict(kind="full_run", n=n, d=d, **run_variant(label, X, mask, 0, {}))
        print(f"{n}x{d} {label}: full run {entry['cpu_seconds'] / 60:.2f} CPU-min ({entry['wall_seconds'] / 60:.2f} "
              f"wall-min; score fit {entry['timings']['score_fit']:.0f} s, particle steps "
              f"{entry['timings']['particle_steps']:.0f} s wall), MAE {entry['mae']:.4f}", flush=True)
        save(entry)


def timing(n: int, d: int, k: int, refresh: int, minibatch: int, exact_steps: int, dtypes: list[str], save,
           probes: int | None = None, score_batch: int | None = None, far: int = 0) -> None:
    X_np, mask = synthetic(n, d)
    rows = torch.as_tensor(np.flatnonzero(mask.any(axis=1)))
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        gen = torch.Generator().manual_seed(0)
        X = torch.as_tensor(np.where(mask, 0.0, X_np), dtype=dtype)
        net = EnergyMLP(d, (128, 128), generator=gen, dtype=dtype)
        load0 = _load()
        epoch = _cpu(lambda: fit_score(net, X, 2, 0.1, gen)) / 2
        epoch_batch = epoch if score_batch is None else _cpu(lambda: fit_score(net, X, 20, 0.1, gen, batch=score_batch)) / 20
        with torch.inference_mode():
            S = net.score(X)
            score = _cpu(lambda: net.score(X.index_select(0, rows)), 2)
            exact = RBFDirection(0.5, 10.0)
            direction = {"exact": _cpu(lambda: exact(X, S, rows), exact_steps)}
            knn = KNNDirection(0.5, 10.0, k, refresh)
            direction[f"knn(k={k},refresh={refresh})"] = _cpu(lambda: knn(X, S, rows), refresh)
            if probes is not None:
                ivf = KNNDirection(0.5, 10.0, k, refresh, probes=probes, generator=gen, far=far)
                ivf(X, S, rows)  # the first search's extra k-means iterations, once per run
                direction[f"knn(k={k},refresh={refresh},probes={probes},far={far})"] = _cpu(lambda: ivf(X, S, rows), refresh)
            mb = MinibatchDirection(0.5, 10.0, minibatch, gen)
            direction[f"minibatch(m={minibatch})"] = _cpu(lambda: mb(X, S, rows), 3)
        for name, seconds in direction.items():
            dsm = epoch if name == "exact" else epoch_batch
            full = PAPER["n_outer"] * (PAPER["score_epochs"] * dsm + PAPER["n_steps"] * (score + seconds))
            if name != "exact" and score_batch is not None:
                name = f"{name}, DSM on {score_batch} rows"
            entry = dict(kind="timing", n=n, d=d, dtype=dtype_name, variant=name, cpu_dsm_epoch=dsm,
                         cpu_score_eval=score, cpu_direction=seconds, cpu_step=score + seconds,
                         cpu_full_run_estimate=full, loadavg_before=load0, loadavg_after=_load())
            print(f"{n}x{d} {dtype_name} {name}: step {score + seconds:.3f}s (direction {seconds:.3f}s, score "
                  f"{score:.3f}s), DSM epoch {dsm:.3f}s, full run ~{full / 60:.1f} CPU-min", flush=True)
            save(entry)


def _key(entry: dict) -> tuple:
    fields = ("kind", "dataset", "n", "d", "mechanism", "seed", "n_outer", "score_epochs", "n_steps", "dtype", "variant")
    return tuple(entry.get(f) for f in fields)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", nargs="*", default=[], metavar="DATASET[:N_ROWS]")
    parser.add_argument("--mechanisms", default="mar")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--steps", type=int, help="particle steps per outer iteration (default: the paper's 500)")
    parser.add_argument("--epochs", type=int, help="DSM epochs per outer iteration (default: the paper's 200)")
    parser.add_argument("--timing", nargs=2, type=int, metavar=("N", "D"))
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--refresh", type=int, default=25)
    parser.add_argument("--minibatch", type=int, default=1024)
    parser.add_argument("--probes", type=int, help="--timing: also the knn direction searched among this many clusters")
    parser.add_argument("--far", type=int, default=0, help="--timing: with --probes, random far particles per step")
    parser.add_argument("--score-batch", type=int, help="--timing: the approximations' DSM epoch on this many rows")
    parser.add_argument("--full-run", nargs=2, type=int, metavar=("N", "D"),
                        help="complete runs of --variants on the synthetic N x D matrix")
    parser.add_argument("--no-exact", dest="exact", action="store_false",
                        help="--accuracy: the variants only (their exact entries already in --out)")
    parser.add_argument("--exact-steps", type=int, default=1, help="exact directions timed (each O(n^2 d))")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--out", default="results/bench/scale_knewimp.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.is_file() else {"kind": "bench_scale", "entries": []}
    data["host"] = host_description()

    def save(entry: dict) -> None:
        entry["measured_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.with_name(out.name + ".lock"), "w") as lock:  # runs side by side add to one file
            fcntl.flock(lock, fcntl.LOCK_EX)
            on_disk = json.loads(out.read_text())["entries"] if out.is_file() else []
            data["entries"] = [e for e in on_disk if _key(e) != _key(entry)] + [entry]
            write_json_atomic(out, data)

    reduced = {k: v for k, v in (("n_steps", args.steps), ("score_epochs", args.epochs)) if v is not None}
    if args.accuracy:
        accuracy(args.accuracy, args.mechanisms.split(","), [int(s) for s in args.seeds.split(",")],
                 [v for v in args.variants.split(",") if v], reduced, save, args.exact)
    if args.timing:
        timing(*args.timing, args.k, args.refresh, args.minibatch, args.exact_steps, args.dtypes.split(","), save,
               args.probes, args.score_batch, args.far)
    if args.full_run:
        full_run(*args.full_run, [v for v in args.variants.split(",") if v], save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
