"""Ancestral DDPM sampling of many imputations at once, with a conditioning/replacement hook.

State: all n_samples x n_rows rows stacked into one (S * n, d) tensor; each reverse step runs the
network once over it (in row chunks only to bound memory):

    x_{T-1} ~ N(0, I);   eps = eps_theta(input(x_t, t), t)
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(alpha_t) + sigma_t z,   z ~ N(0, I), t > 0
    sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)            (CSDI's posterior variance)

``input`` is the method's hook: CSDI-T puts the observed values in a conditioning channel,
MissDiff replaces observed entries by the observed values noised to level t (RePaint).
"""
from __future__ import annotations

from typing import Callable

import torch

from knewimp.progress import Progress

from .schedule import Schedule


def default_chunk(d: int, tokens: int = 20_000) -> int:
    """Rows per forward pass: about ``tokens`` feature tokens, which keeps the activations of a
    64-channel network in cache-sized blocks, faster per row than larger chunks
    (docs/diffusion.md)."""
    return max(64, tokens // max(d, 1))


@torch.inference_mode()
def ancestral_sample(eps_fn: Callable[[torch.Tensor, int, slice], torch.Tensor], n: int, d: int,
                     schedule: Schedule, generator: torch.Generator, chunk: int,
                     replace: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
                     phase: str = "sample",
                     monitor: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Run the T reverse steps on ``n`` stacked rows; return x_0 of shape (n, d).

    ``eps_fn(x_in, t, rows)`` predicts the noise for stacked rows ``rows`` (a slice) from the
    network input state ``x_in``; ``replace(x, t)``, when given, builds that state from the
    current sample (the replacement hook) before the step. ``monitor(t, x_t, eps)``, when given,
    sees each step's state and prediction (diagnostics: scripts/trace_diffusion.py).
    """
    device = generator.device
    sch = schedule.to(device)
    x = torch.randn(n, d, generator=generator, device=device)
    eps = torch.empty_like(x)
    progress = Progress(phase, sch.n_steps)
    for t in range(sch.n_steps - 1, -1, -1):
        x_in = replace(x, t) if replace is not None else x
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            eps[rows] = eps_fn(x_in[rows], t, rows)
        if monitor is not None:
            monitor(t, x, eps)
        beta, alpha, abar = sch.betas[t], sch.alphas[t], sch.alpha_bars[t]
        x = (x - (beta / torch.sqrt(1 - abar)) * eps) / torch.sqrt(alpha)
        if t > 0:
            sigma = torch.sqrt(beta * (1 - sch.alpha_bars[t - 1]) / (1 - abar))
            x = x + sigma * torch.randn(n, d, generator=generator, device=device)
        progress.update()
    progress.close()
    return x
