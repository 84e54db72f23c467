"""Noise schedule and diffusion-step embedding of the DDPM shared by CSDI-T and MissDiff.

Forward process (Ho et al. 2020): q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), with
abar_t = prod_{s <= t} (1 - beta_s), steps indexed t = 0 .. T-1 as in the CSDI code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SCHEDULES = ("quad", "linear")


@dataclass(frozen=True)
class Schedule:
    """betas, alphas = 1 - betas and alpha_bars = cumprod(alphas), float32 tensors of length T."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @property
    def n_steps(self) -> int:
        return int(self.betas.shape[0])

    def to(self, device) -> "Schedule":
        return Schedule(self.betas.to(device), self.alphas.to(device), self.alpha_bars.to(device))


def make_schedule(n_steps: int, beta_start: float = 1e-4, beta_end: float = 0.5, kind: str = "quad") -> Schedule:
    """CSDI's schedules: ``quad`` beta_t = linspace(sqrt(b0), sqrt(b1), T)_t^2, ``linear`` linspace(b0, b1, T).

    Computed in float64, stored in float32. T = 150 with 1e-4 -> 0.5 (published) ends at
    abar_{T-1} ~ 1e-17, so sampling from N(0, I) matches the forward process' end point.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; valid choices: {', '.join(SCHEDULES)}")
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps!r}")
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start!r}, {beta_end!r}")
    if kind == "quad":
        betas = np.linspace(beta_start**0.5, beta_end**0.5, int(n_steps)) ** 2
    else:
        betas = np.linspace(beta_start, beta_end, int(n_steps))
    alphas = 1.0 - betas
    alpha_bars = np.cumprod(alphas)
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return Schedule(f(betas), f(alphas), f(alpha_bars))


def sinusoidal_table(n_positions: int, dim: int, max_log10: float = 4.0) -> torch.Tensor:
    """CSDI's step table: row t = [sin(t w_k), cos(t w_k)], w_k = 10^(4 k / (dim/2 - 1)), k < dim/2."""
    half = dim // 2
    if dim < 2 or dim % 2:
        raise ValueError(f"embedding dim must be an even number >= 2, got {dim!r}")
    freqs = 10.0 ** (torch.arange(half, dtype=torch.float64) / max(half - 1, 1) * max_log10)
    table = torch.arange(n_positions, dtype=torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(table), torch.cos(table)], dim=1).float()


def position_encoding(n_positions: int, dim: int) -> torch.Tensor:
    """CSDI's side-information positional code (Transformer style, base 10000), shape (n, dim).

    pe[p, 2i] = sin(p / 10000^(2i/dim)), pe[p, 2i+1] = cos(p / 10000^(2i/dim)).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"position embedding dim must be an even number >= 2, got {dim!r}")
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    div = 1.0 / torch.pow(10000.0, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    pe = torch.zeros(n_positions, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()
