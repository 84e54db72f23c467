"""Runtime against N and against D (the paper's Fig. F.3), for KnewImp and the grid's baselines.

Data: synthetic, correlated and standardised: X = Z W + 0.1 E with Z (N x r), W (r x D), E (N x D)
standard normal, r = min(3, D), columns z-scored; MCAR 30% mask (seed 0). Two axes through the
point (N, D) = (1000, 10):
- N in {250, 500, 1000, 2000} at D = 10;
- D in {2, 5, 10, 20, 40} at N = 1000;
and on a GPU, KnewImp alone also at N in {4000, 8000, 16000} (``--n-axis 4000 8000 16000 --d-axis
--baselines --slow``), where a GPU's advantage shows.

Methods: KnewImp at its ``knewimp/paper`` preset (2 outer iterations of 200 DSM epochs and 500
particle steps) in float64 (the preset) and float32 (``method.dtype=float32``), its time split
into score fitting and flow: in wall seconds from the imputer's ``timings_`` ("score_fit",
"particle_steps"), and in CPU seconds by a second run of the same cell with ``n_steps = 0`` (score
fitting alone: ``cpu_score_fit``; ``cpu_flow`` = ``cpu_total`` - ``cpu_score_fit``);
the baselines at the presets the grid runs (``--baselines``) on every point, and the slow ones
(``--slow``, about a minute or more per cell) only on the N axis at ``--slow-n`` rows, so that
the whole run stays within a fraction of a CPU-hour.

Each measurement is one ``fit_transform`` on the CPU with one thread (torch intra- and inter-op,
and the BLAS pools through the environment, set before numpy and torch load), and on a GPU as
well when torch sees one (``--devices``; mean and MICE, numpy and scikit-learn, on the CPU only). Each
machine writes a JSON of its own (``--out``, e.g. ``results/runtime/runtime_cuda.json``): the report
reads every ``results/runtime/*.json`` and names each file's machine. Recorded per measurement: wall seconds
(``wall_total``, and for KnewImp ``score_fit`` and ``particle_steps``), the process CPU seconds
of the call (``cpu_total``; on a shared machine contention inflates wall time far more than CPU
time) and the load average before and after. Each process first runs one short untimed fit per
device (:func:`warm_up`); a measurement that paid such one-off costs (taken before the warm-up
existed) carries ``cold_start: true`` and the report leaves it out. The JSON is rewritten after every measurement and
a re-run skips the measurements it already holds (``--force`` repeats them).

    PYTHONPATH=. nice -n 10 python scripts/bench_runtime.py [--out results/runtime/runtime.json]
    python scripts/bench_runtime.py --devices cuda --out results/runtime/runtime_cuda.json
    python -m knewimp.report.experiments.runtime        # figure and table from the JSON
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from knewimp.harness.methods import build_imputer  # noqa: E402
from knewimp.harness.provenance import host_description  # noqa: E402
from knewimp.harness.records import write_json_atomic  # noqa: E402
from knewimp.protocol.amputation import mcar  # noqa: E402

FIXED_N, FIXED_D = 1000, 10
N_AXIS = (250, 500, 1000, 2000)
D_AXIS = (2, 5, 10, 20, 40)
KNEWIMP = "knewimp/paper"
BASELINES = ("mean/published", "mice/single", "gain/paper", "tdm/paper", "miwae/cpu", "miracle/cpu")
SLOW = ("sinkhorn/published", "csdi_t/cpu", "missdiff/cpu", "remasker/cpu")
SLOW_N = (250, 1000)
CPU_ONLY = ("mean", "mice")


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(complete z-scored matrix, MCAR 30% mask) of the module docstring."""
    rng = np.random.default_rng([seed, n, d])
    r = min(3, d)
    X = rng.standard_normal((n, r)) @ rng.standard_normal((r, d)) + 0.1 * rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)
    return X, mcar(X, 0.3, rng)


def _key(m: dict) -> tuple:
    return (m["method"], m["preset"], m["dtype"], m["device"], m["n"], m["d"])


def _timed(choice: str, X: np.ndarray, mask: np.ndarray, device: str, overrides: list[str]):
    """(imputer after fit_transform, wall seconds, process CPU seconds)."""
    imputer = build_imputer(choice, *overrides, random_state=0, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    c0, t0 = time.process_time(), time.perf_counter()
    imputer.fit_transform(np.where(mask, np.nan, X))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return imputer, time.perf_counter() - t0, time.process_time() - c0


def measure(choice: str, n: int, d: int, device: str, dtype: str | None) -> dict:
    X, mask = synthetic(n, d)
    overrides = [f"method.dtype={dtype}"] if dtype else []
    load0 = os.getloadavg()[0]
    imputer, wall, cpu = _timed(choice, X, mask, device, overrides)
    method, preset = choice.split("/")
    out = dict(method=method, preset=preset, dtype=dtype or "preset", device=device, n=n, d=d,
               wall_total=wall, cpu_total=cpu)
    timings = getattr(imputer, "timings_", None)
    if timings:
        out.update(score_fit=float(timings["score_fit"]), particle_steps=float(timings["particle_steps"]))
    if timings and device == "cpu":
        _, _, cpu_score = _timed(choice, X, mask, device, [*overrides, "method.n_steps=0"])
        out.update(cpu_score_fit=cpu_score, cpu_flow=max(cpu - cpu_score, 0.0))
    out.update(loadavg_before=load0, loadavg_after=os.getloadavg()[0])
    return out


def on_device(choice: str, device: str) -> bool:
    """Whether the method computes on ``device`` (mean and MICE are numpy / scikit-learn: CPU only)."""
    return device == "cpu" or choice.split("/")[0] not in CPU_ONLY


def warm_up(device: str) -> None:
    """One short untimed fit, so that no measurement pays the process's one-off costs (CUDA context
    and kernel loading on a GPU, lazy initialisation on the CPU)."""
    X, mask = synthetic(250, FIXED_D)
    _timed(KNEWIMP, X, mask, device, ["method.n_steps=10"])


def plan(args) -> list[tuple[str, int, int, str, str | None]]:
    """(choice, n, d, device, dtype) of every measurement: KnewImp at every point first, cheapest
    first, then the baselines, so that a run cut short still has the whole KnewImp figure."""
    points = sorted({(n, FIXED_D) for n in args.n_axis} | {(FIXED_N, d) for d in args.d_axis},
                    key=lambda p: p[0] * p[1])
    jobs = []
    for device in args.devices:
        on = [c for c in args.baselines if on_device(c, device)]
        slow = [c for c in args.slow if on_device(c, device)]
        jobs += [(KNEWIMP, n, d, device, dtype) for n, d in points for dtype in ("float64", "float32")]
        jobs += [(c, n, d, device, None) for n, d in points for c in on]
        jobs += [(c, n, FIXED_D, device, None) for n in args.slow_n for c in slow]
    return jobs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/runtime/runtime.json")
    ap.add_argument("--n-axis", type=int, nargs="*", default=list(N_AXIS))
    ap.add_argument("--d-axis", type=int, nargs="*", default=list(D_AXIS))
    ap.add_argument("--baselines", nargs="*", default=list(BASELINES))
    ap.add_argument("--slow", nargs="*", default=list(SLOW))
    ap.add_argument("--slow-n", type=int, nargs="*", default=list(SLOW_N))
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when torch sees a GPU")
    ap.add_argument("--force", action="store_true", help="repeat measurements the JSON already holds")
    args = ap.parse_args(argv)
    args.devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.is_file() else {}
    host = host_description()
    if data.get("measurements") and data.get("host") != host:
        # One file per machine: the report names each file's machine beside its series.
        print(f"error: --out {out} holds measurements from another machine ({data.get('host')}); "
              f"this one is {host}: write to another file, e.g. --out {out.with_name('runtime_<machine>.json')}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    done = {} if args.force else {_key(m): m for m in data.get("measurements", [])}
    data = {
        "description": __doc__.split("\n\n")[1].replace("\n", " "),
        "fixed_n": FIXED_N, "fixed_d": FIXED_D,
        "threads": 1,
        "host": host,
        "measurements": list(done.values()),
    }
    warmed: set[str] = set()
    for choice, n, d, device, dtype in plan(args):
        method, preset = choice.split("/")
        key = (method, preset, dtype or "preset", device, n, d)
        if key in done:
            continue
        if device not in warmed:
            warm_up(device)
            warmed.add(device)
        m = measure(choice, n, d, device, dtype)
        m["at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        done[key] = m
        data["measurements"] = sorted(done.values(), key=_key)
        write_json_atomic(out, data)
        split = f" (cpu score {m['cpu_score_fit']:.1f} + flow {m['cpu_flow']:.1f})" if "cpu_score_fit" in m else ""
        print(f"{choice:20s} {m['dtype']:8s} {device:5s} N={n:5d} D={d:3d}: wall {m['wall_total']:7.2f}s, "
              f"cpu {m['cpu_total']:7.2f}s{split}, load {m['loadavg_before']:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
