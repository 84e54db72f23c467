"""What training several cells side by side in one batched network would buy ReMasker on CPU.

The cells of one dataset (its mechanisms and seeds) share n, p and every setting, so K of them can
train as one network whose weights carry a leading axis of size K: each linear map becomes one
batched product (``baddbmm``) over the K models, each elementwise operation one call over all of
them, and one flat AdamW steps every model (Adam is elementwise, so each model's update is its
own). This script builds that stacked network from K copies of ``baselines/remasker.py``'s
(weights stacked, the same blocks, the same short-key softmax), and times on one thread, on the
dataset's rows and a 30% MCAR mask, one training step of the K stacked models against K steps
of the library's single model, interleaved. A ratio above 1 is what batching would buy per cell;
per-model compute that does not shrink with K (the step is compute-bound) keeps it near 1.

    .venv/bin/python scripts/bench_remasker_batched.py --datasets wqw,pk,bcd --models 1,5,15 \\
        --out results/bench/batched_remasker.json

``make tables`` renders the JSON (``kind: bench_batched``) as ``results/tables/bench_batched_remasker.md``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
B, E, HEADS, DEPTH, DECODER_DEPTH = 64, 32, 4, 6, 4


def stacked_step_fn(torch, models, lr=1e-3):
    """A training step of ``models`` as one network with stacked weights; returns step(x, obs, vis)."""
    import torch.nn.functional as F

    from knewimp.baselines.attention import softmax
    from knewimp.baselines.remasker import _FlatAdamW

    K = len(models)
    named = [dict(m.named_parameters()) for m in models]
    P = {n: torch.stack([d[n].detach() for d in named]).clone().requires_grad_(True) for n in named[0]}
    pos = models[0].pos
    opt = _FlatAdamW(list(P.values()), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    hd = E // HEADS

    def lin(name, x):
        w, b = P[name + ".weight"], P[name + ".bias"]
        y = torch.baddbmm(b.unsqueeze(1), x.reshape(K, -1, x.shape[-1]), w.transpose(1, 2))
        return y.view(*x.shape[:-1], w.shape[1])

    def ln(name, x):
        shape = (K,) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return torch.addcmul(P[name + ".bias"].view(shape), F.layer_norm(x, (x.shape[-1],), eps=1e-8),
                             P[name + ".weight"].view(shape))

    def block(pre, h, bias):
        _, Bk, T, _ = h.shape
        q, k, v = lin(pre + "qkv", ln(pre + "norm1", h)).view(K, Bk, T, 3, HEADS, hd).permute(3, 0, 1, 4, 2, 5)
        s = (q @ k.transpose(-2, -1)) * hd ** -0.5
        a = softmax(s if bias is None else s + bias) @ v
        h = h + lin(pre + "proj", a.transpose(2, 3).reshape(K, Bk, T, E))
        return h + lin(pre + "fc2", F.gelu(lin(pre + "fc1", ln(pre + "norm2", h))))

    def forward(x, visible):
        _, Bk, p = x.shape
        keep = torch.cat([torch.ones(K, Bk, 1, dtype=torch.bool), visible], dim=2)
        n_keep = keep.sum(2)
        T = int(n_keep.max())
        order = torch.argsort((~keep).to(torch.uint8), dim=2, stable=True)[..., :T]
        tokens = (torch.where(visible, x, torch.zeros_like(x))[..., None] * P["embed.weight"].view(K, 1, 1, E)
                  + P["embed.bias"].view(K, 1, 1, E) + pos[1:])
        cls = (P["cls_token"] + pos[0]).view(K, 1, 1, E).expand(K, Bk, 1, E)
        h = torch.cat([cls, tokens], dim=2).gather(2, order[..., None].expand(K, Bk, T, E))
        bias = None
        if bool((n_keep < T).any()):
            pad = torch.arange(T) >= n_keep[..., None]
            bias = torch.zeros(K, Bk, 1, 1, T).masked_fill_(pad[:, :, None, None, :], float("-inf"))
        for i in range(DEPTH):
            h = block(f"encoder.{i}.", h, bias)
        h = lin("decoder_embed", ln("norm", h))
        h = torch.zeros(K, Bk, p + 1, E).scatter(2, order[..., None].expand(K, Bk, T, E), h)
        h = torch.where(keep[..., None], h, P["mask_token"].view(K, 1, 1, E)) + pos
        for i in range(DECODER_DEPTH):
            h = block(f"decoder.{i}.", h, None)
        return torch.tanh(lin("head", ln("decoder_norm", h))[:, :, 1:, 0]) / 2 + 0.5

    def step(x, obs, vis):
        sq = (forward(x, vis) - x) ** 2
        loss = sum((sq * part).sum((1, 2)) / part.sum((1, 2)).clamp(min=1) for part in (obs & ~vis, vis)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    step.forward = forward  # for the check that the stacked network is the K networks
    return step


def measure(torch, dataset: str, models: list[int], repeats: int) -> dict:
    """Per K: CPU ms per model-step of K single steps and of one stacked step, on ``dataset``'s rows."""
    from knewimp.baselines import remasker
    from knewimp.protocol.cell_input import make_cell_input

    data_dir = os.environ.get("KNEWIMP_DATA_DIR") or (ROOT.parent / "shared" / "data" / "uci")
    X, mask = make_cell_input(dataset, "mcar", 0.3, 0, data_dir=data_dir, download=False)
    n, d = X.shape
    lo, span = np.nanmin(np.where(mask, np.nan, X), 0), np.ptp(X, 0) + 1e-8
    data = torch.as_tensor(np.nan_to_num((X - lo) / span), dtype=torch.float32)
    observed = torch.as_tensor(~mask)
    imp, gen = remasker.ReMaskerImputer(), torch.Generator().manual_seed(0)

    def build(K):
        return [remasker._build(d, E, DEPTH, DECODER_DEPTH, HEADS, 4.0, torch.Generator().manual_seed(i))
                for i in range(K)]

    def batch():
        idx = torch.randperm(n, generator=gen)[:B]
        obs = observed[idx]
        return data[idx], obs, imp._remask(obs, gen)

    load = [os.getloadavg()[0]]
    rows = []
    for K in models:
        singles = [(m, remasker._FlatAdamW(m.parameters(), 1e-3, (0.9, 0.95), weight_decay=0.01)) for m in build(K)]
        stacked = stacked_step_fn(torch, build(K))

        def single_steps(batches):
            for (model, opt), (x, obs, vis) in zip(singles, batches):
                loss = remasker.remask_loss(model(x, vis), x, obs, vis)
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss.item()

        def stacked_step(batches):
            stacked(*(torch.stack(t) for t in zip(*batches)))

        secs = {"single": 0.0, "stacked": 0.0}
        for r in range(repeats + 2):
            batches = [batch() for _ in range(K)]
            for name, fn in (("single", single_steps), ("stacked", stacked_step))[::1 if r % 2 else -1]:
                c0 = time.process_time()
                fn(batches)
                if r >= 2:  # the first two rounds warm up
                    secs[name] += time.process_time() - c0
        rows.append(dict(K=K, single_ms=secs["single"] / repeats / K * 1e3, stacked_ms=secs["stacked"] / repeats / K * 1e3))
        load.append(os.getloadavg()[0])
    return dict(dataset=dataset, n=n, d=d, repeats=repeats, load=[min(load), max(load)], rows=rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="wqw")
    ap.add_argument("--models", default="1,5,15", help="comma-separated K: cells trained side by side")
    ap.add_argument("--repeats", type=int, default=15, help="steps of each kind (per K), interleaved")
    ap.add_argument("--out", type=Path, default=None, help="JSON to write (kind bench_batched)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    blocks = []
    for dataset in args.datasets.split(","):
        block = measure(torch, dataset, [int(k) for k in args.models.split(",")], args.repeats)
        print(f"{dataset} {block['n']}x{block['d']}, mcar 30% seed 0, batch {B}, paper network; CPU ms per "
              f"model-step, {args.repeats} steps each, interleaved, one thread, load avg {block['load'][1]:.1f}")
        for row in block["rows"]:
            print(f"K={row['K']}: K single steps {row['single_ms']:.1f}, one stacked step {row['stacked_ms']:.1f}, "
                  f"single / stacked {row['single_ms'] / row['stacked_ms']:.2f}x", flush=True)
        blocks.append(block)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(kind="bench_batched", method="remasker/paper", batch=B,
                                            date=dt.date.today().isoformat(), machine=platform.machine(),
                                            cpus=os.cpu_count(), torch=torch.__version__, blocks=blocks), indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
