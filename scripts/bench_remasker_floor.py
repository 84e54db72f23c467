"""How fast one ReMasker training step could be: its matrix products alone against the whole step.

On one cell's mask (real rows, the paper preset's network: width 32, depths 6 / 4, 4 heads, MLP
ratio 4, batch 64), one training step of the committed code at ``--old`` and of the working tree,
and the working tree's matrix products alone (every forward and backward product of the ten
blocks at the same shapes and count, on contiguous random inputs: a lower bound on any step that
keeps these products as separate BLAS calls), timed in one process, interleaved, CPU seconds on
one thread. ``old / GEMM floor`` bounds the speed-up reachable without faster products.

    .venv/bin/python scripts/bench_remasker_floor.py --dataset pk --old 2586052
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
B, E, HEADS, HEAD_DIM, DEPTH, DECODER_DEPTH = 64, 32, 4, 8, 6, 4


def gemm_ops(torch, rows_tokens):
    """(name, inputs) of each product of a forward + backward pass through blocks of (rows, tokens)."""
    ops = []
    for rows, tokens in rows_tokens:
        for fan_in, fan_out in ((E, 3 * E), (E, E), (E, 4 * E), (4 * E, E)):
            ops.append(("addmm", (torch.rand(fan_out), torch.rand(rows, fan_in), torch.rand(fan_in, fan_out))))
            ops.append(("mm", (torch.rand(rows, fan_out), torch.rand(fan_out, fan_in))))  # input gradient
            ops.append(("mm", (torch.rand(fan_out, rows), torch.rand(rows, fan_in))))  # weight gradient
        for _ in range(3):  # scores and weighted values, forward, and two products each backward
            ops.append(("bmm", (torch.rand(B * HEADS, tokens, HEAD_DIM), torch.rand(B * HEADS, HEAD_DIM, tokens))))
            ops.append(("bmm", (torch.rand(B * HEADS, tokens, tokens), torch.rand(B * HEADS, tokens, HEAD_DIM))))
    return ops


def flops_of(name, args):
    a, b = (args[1], args[2]) if name == "addmm" else args
    return 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.shape[0] if name == "bmm" else 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", default="2586052", help="git revision of the old implementation")
    p.add_argument("--dataset", default="pk")
    p.add_argument("--repeats", type=int, default=30, help="steps of each kind, interleaved")
    args = p.parse_args(argv)

    import torch

    from knewimp.baselines import remasker as new
    from knewimp.baselines.steps import MultiTensorAdam
    from knewimp.protocol.cell_input import make_cell_input

    torch.set_num_threads(1)
    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(args.dataset, "mcar", 0.3, 0, data_dir=data_dir, download=False)
    n, d = X.shape
    src = subprocess.run(["git", "show", f"{args.old}:baselines/remasker.py"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    old = types.ModuleType("old_remasker")
    exec(compile(src, f"{args.old}:baselines/remasker.py", "exec"), old.__dict__)

    imp, gen = new.ReMaskerImputer(), torch.Generator().manual_seed(0)
    observed = torch.as_tensor(~mask)
    data = torch.as_tensor(np.nan_to_num(X), dtype=torch.float32)
    # the encoder's token count: CLS and the batch's largest visible count
    counts = [int(imp._remask(observed[torch.randperm(n)[:B]], gen).sum(1).max()) + 1 for _ in range(200)]
    K = int(round(np.mean(counts)))
    ops = gemm_ops(torch, [(B * K, K)] * DEPTH + [(B * (d + 1), d + 1)] * DECODER_DEPTH)
    flops = sum(flops_of(name, a) for name, a in ops)

    def make(module, optimiser):
        model = module._build(d, E, DEPTH, DECODER_DEPTH, HEADS, 4.0, torch.Generator().manual_seed(0))
        return model, optimiser(model.parameters())

    sides = {"old step": make(old, lambda ps: MultiTensorAdam(ps, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01,
                                                               decoupled=True)),
             "new step": make(new, lambda ps: new._FlatAdamW(ps, 1e-3, (0.9, 0.95), weight_decay=0.01))}

    def step(side):
        model, opt = sides[side]
        idx = torch.randperm(n)[:B]
        x, obs = data[idx], observed[idx]
        visible = imp._remask(obs, gen)
        loss = new.remask_loss(model(x, visible), x, obs, visible)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    def gemms():
        for name, a in ops:
            getattr(torch, name)(*a)

    fns = {"old step": lambda: step("old step"), "new step": lambda: step("new step"), "GEMM floor": gemms}
    for f in fns.values():
        for _ in range(5):
            f()
    secs = {k: 0.0 for k in fns}
    for _ in range(args.repeats):
        for k, f in fns.items():
            c0 = time.process_time()
            f()
            secs[k] += time.process_time() - c0
    ms = {k: v / args.repeats * 1e3 for k, v in secs.items()}
    a, w = torch.rand(B * (d + 1), E), torch.rand(E, 4 * E)
    for _ in range(20):
        a @ w
    c0 = time.process_time()
    for _ in range(500):
        a @ w
    single = 2 * a.shape[0] * E * 4 * E / ((time.process_time() - c0) / 500) / 1e9
    print(f"{args.dataset} {n}x{d}, mcar 30% seed 0, old = {args.old}, {args.repeats} steps each, interleaved, "
          f"load avg {os.getloadavg()[0]:.1f}; encoder tokens {np.mean(counts):.1f} of {d + 1} on average")
    print("CPU ms per step: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
    print(f"GEMMs of the new step: {flops / 1e6:.0f} MFLOP at {flops / ms['GEMM floor'] / 1e6:.1f} GFLOP/s; "
          f"one ({a.shape[0]}x{E}) @ ({E}x{4 * E}) product alone: {single:.1f} GFLOP/s")
    print(f"old / new {ms['old step'] / ms['new step']:.2f}x; old / GEMM floor {ms['old step'] / ms['GEMM floor']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
