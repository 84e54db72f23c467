"""One MIWAE training step before and after a change, and the matrix products it cannot avoid.

Per-step CPU milliseconds on one thread, in one process, interleaved (old, new, floor, then in
the reverse order, ...) on the mini-batches of a real cell:

- ``old``: the implementation at ``--old`` (a git revision, loaded apart as in
  scripts/bench_speedup.py): the bound through autograd, then its multi-tensor Adam step;
- ``new``: the working tree's ``_MIWAE.loss_and_grad`` and Adam step on the flat buffer;
- ``gemm``: only the step's matrix products (encoder and decoder, forward and both backward
  products of every layer, each in the faster of two layouts), at the step's shapes, on random data: the float32 arithmetic any
  implementation of the same network at the same batch and K must do. ``old / gemm`` bounds
  what any rewrite that keeps float32 and the network can gain per step.

    .venv/bin/python scripts/bench_miwae_step.py --old 2586052 --dataset bt --preset published
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speedup import ROOT, load_old_baselines  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="2586052")
    ap.add_argument("--dataset", default="bt")
    ap.add_argument("--preset", default="published")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per timed block")
    ap.add_argument("--rounds", type=int, default=4, help="timed blocks of each side, interleaved")
    args = ap.parse_args(argv)

    import torch

    from knewimp.baselines.miwae import _MIWAE
    from knewimp.baselines.steps import MultiTensorAdam
    from knewimp.harness.methods import build_imputer
    from knewimp.protocol.cell_input import make_cell_input

    torch.set_num_threads(1)
    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(args.dataset, "mcar", 0.3, 0, data_dir=data_dir, download=False)
    imp = build_imputer(f"miwae/{args.preset}", random_state=0, device="cpu", threads=1)
    tmp = tempfile.TemporaryDirectory()
    old = importlib.import_module(load_old_baselines(args.old, Path(tmp.name)) + ".miwae")
    old_steps = importlib.import_module(old.__name__.rsplit(".", 1)[0] + ".steps")

    n, p = X.shape
    D, h, K = imp.latent_dim or max(1, p // 2), int(imp.n_hidden), int(imp.K)
    x0 = torch.as_tensor(np.where(mask, 0.0, X), dtype=torch.float32)
    m = torch.as_tensor(~mask, dtype=torch.float32)
    n_batches = max(1, n // int(imp.batch_size))
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)

    mo = old._MIWAE(p, D, h, imp.q_family, imp.activation, torch.Generator().manual_seed(0), "cpu")
    opt_o = old_steps.MultiTensorAdam(mo.parameters(), lr=float(imp.lr))
    mn = _MIWAE(p, D, h, imp.q_family, imp.activation, torch.Generator().manual_seed(0), "cpu")
    opt_n = MultiTensorAdam([mn.flat], lr=float(imp.lr))
    n_q = 3 if imp.q_family == "student_t" else 2

    def fastest(*candidates):
        """The quicker of equivalent products (MKL's speed depends on the operands' layout)."""
        def cost(f):
            f()
            c0 = time.process_time()
            for _ in range(20):
                f()
            return time.process_time() - c0
        return min(candidates, key=cost)

    def gemms(B):
        """Forward and backward products of the six layers at batch B (the encoder on B rows,
        the decoder on K B), each in its faster layout; the encoder's input gradient is not needed."""
        runs = []
        for rows, a, b, input_grad in ((B, p, h, False), (B, h, h, True), (B, h, n_q * D, True),
                                       (K * B, D, h, True), (K * B, h, h, True), (K * B, h, 3 * p, True)):
            x, w, g = torch.randn(rows, a), torch.randn(b, a), torch.randn(rows, b)
            runs.append(fastest(lambda x=x, w=w: x @ w.t(), lambda x=x, w=w: (w @ x.t()).t()))
            runs.append(fastest(lambda x=x, g=g: g.t() @ x, lambda x=x, g=g: (x.t() @ g).t()))
            if input_grad:
                runs.append(fastest(lambda g=g, w=w: g @ w, lambda g=g, w=w: (w.t() @ g.t()).t()))
        return lambda: [r() for r in runs]

    sizes = sorted({len(b) for b in np.array_split(np.arange(n), n_batches)})
    floor = {B: gemms(B) for B in sizes}

    def epoch(side):
        for idx in np.array_split(rng.permutation(n), n_batches):
            idx_t = torch.from_numpy(idx)
            if side == "old":
                loss = mo.neg_bound(x0[idx_t], m[idx_t], K, gen)
                opt_o.zero_grad()
                loss.backward()
                opt_o.step()
                loss.item()
            elif side == "new":
                mn.loss_and_grad(x0[idx_t], m[idx_t], K, gen)
                opt_n.step()
            else:
                floor[len(idx)]()

    ms = {"old": [], "new": [], "gemm": []}
    for side in ms:  # warm-up
        epoch(side)
    for r in range(args.rounds):
        for side in (("old", "new", "gemm") if r % 2 == 0 else ("gemm", "new", "old")):
            c0 = time.process_time()
            for _ in range(args.epochs):
                epoch(side)
            ms[side].append((time.process_time() - c0) / (args.epochs * n_batches) * 1e3)
    med = {k: statistics.median(v) for k, v in ms.items()}
    print(f"# miwae/{args.preset} on {args.dataset} ({n} x {p}): batch ~{n // n_batches}, K {K}, hidden {h}, "
          f"latent {D}; {n_batches} steps per epoch; old = {args.old}; load avg {os.getloadavg()[0]:.1f}")
    print("| old ms/step | new ms/step | gemm-only ms/step | old/new | old/gemm (bound) |")
    print("|---|---|---|---|---|")
    print(f"| {med['old']:.2f} | {med['new']:.2f} | {med['gemm']:.2f} | {med['old'] / med['new']:.2f}x | "
          f"{med['old'] / med['gemm']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
