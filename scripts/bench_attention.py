"""Both forms of ``baselines/attention.py`` against torch's kernels, over the number of keys.

Two tables, CPU microseconds on one thread (median of ``--repeats`` runs), with the largest
difference of the two forms' results:

- ``softmax``: forward + backward of the softmax over T keys of (64, 4, T, T) scores (a ReMasker
  block's attention weights in training): ``torch.softmax`` against the whole-tensor form;
- ``attend``: attention without gradient (sampling) over L keys of q, k, v sliced from one
  projection of about 20,000 tokens, as the diffusion networks do, at 16 and 64 channels in 2
  heads: ``scaled_dot_product_attention`` against the short form.

The thresholds ``SHORT_KEYS`` and ``SHORT_ATTEND`` are where these tables cross.

    .venv/bin/python scripts/bench_attention.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def median_us(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats + 3):
        c0 = time.process_time()
        fn()
        runs.append(time.process_time() - c0)
    return float(np.median(runs[3:])) * 1e6


def softmax_table(torch, attention, repeats: int) -> None:
    short = attention._short_softmax()
    print(f"softmax over T keys of (64, 4, T, T) scores, forward + backward, CPU us; the short form runs "
          f"below T = {attention.SHORT_KEYS}")
    print("T | torch.softmax | short form | ratio | max |dy| | max |ds|")
    for T in (4, 6, 8, 10, 12, 14, 15, 16, 18, 24, 32, 42):
        g = torch.Generator().manual_seed(T)
        s = (3 * torch.randn(64, 4, T, T, generator=g)).requires_grad_(True)
        upstream = torch.randn(64, 4, T, T, generator=g)
        a = median_us(lambda: torch.softmax(s, -1).backward(upstream), repeats)
        b = median_us(lambda: short(s).backward(upstream), repeats)
        y0, y1 = torch.softmax(s, -1), short(s)
        (d0,), (d1,) = torch.autograd.grad(y0, s, upstream), torch.autograd.grad(y1, s, upstream)
        print(f"{T} | {a:.0f} | {b:.0f} | {a / b:.2f}x | {(y0 - y1).abs().max().item():.1e} | "
              f"{(d0 - d1).abs().max().item():.1e}", flush=True)


def attend_table(torch, attention, repeats: int) -> None:
    import torch.nn.functional as F

    def short(q, k, v):
        return attention.softmax((q @ k.transpose(-1, -2)).div_(q.shape[-1] ** 0.5)) @ v

    print(f"\nattention without gradient over L keys, q k v sliced from one (rows, L, 3C) projection of about "
          f"20,000 tokens, 2 heads, CPU us; the short form runs from L = {attention.SHORT_ATTEND} to "
          f"{attention.SHORT_KEYS - 1}")
    print("C | L | rows | scaled_dot_product_attention | short form | ratio | max |diff|")
    with torch.inference_mode():
        for C in (16, 64):
            for L in (4, 5, 6, 7, 8, 9, 11, 13, 15, 16, 22, 30, 41):
                rows = 20000 // L
                g = torch.Generator().manual_seed(L)
                qkv = torch.randn(rows, L, 3 * C, generator=g).view(rows, L, 3, 2, C // 2).permute(2, 0, 3, 1, 4)
                q, k, v = qkv[0], qkv[1], qkv[2]
                a = median_us(lambda: F.scaled_dot_product_attention(q, k, v), repeats)
                b = median_us(lambda: short(q, k, v), repeats)
                diff = (F.scaled_dot_product_attention(q, k, v) - short(q, k, v)).abs().max().item()
                print(f"{C} | {L} | {rows} | {a:.0f} | {b:.0f} | {a / b:.2f}x | {diff:.1e}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    import torch

    from knewimp.baselines import attention

    torch.set_num_threads(1)
    print(f"one thread, torch {torch.__version__}, load avg {os.getloadavg()[0]:.1f}")
    softmax_table(torch, attention, args.repeats)
    attend_table(torch, attention, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
