"""RealNVP: an invertible map built from affine coupling blocks (used by TDM as its projector).

One block splits x into x1 (the first floor(d/2) coordinates) and x2 (the rest, so odd d is
handled) and transforms the two halves in turn, each conditioned on the other:

    y1 = x1 * exp(c(s_a(x2))) + t_a(x2)
    y2 = x2 * exp(c(s_b(y1))) + t_b(y1),       c(s) = clamp * 0.636 * atan(s / clamp),

so the log-scales are softly clamped to about (-clamp, clamp) (0.636 ~ 2 / pi, as in FrEIA).
Each of s_a, t_a, s_b, t_b is an MLP
Linear(in, w) - SELU - Linear(w, w) - SELU - Linear(w, out). Between consecutive blocks the
coordinates are shuffled by a fixed permutation drawn from the seed, so every coordinate is
conditioned on different partners in different blocks. All parameters are initialised from an
explicit ``torch.Generator`` (PyTorch's default Linear scheme: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
for weights and biases), never from the global RNG.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def seeded_linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default initialisation drawn from ``generator``."""
    layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)  # no draw from the global RNG
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def coupling_subnet(n_in: int, n_out: int, width: int, generator: torch.Generator) -> nn.Sequential:
    return nn.Sequential(
        seeded_linear(n_in, width, generator), nn.SELU(),
        seeded_linear(width, width, generator), nn.SELU(),
        seeded_linear(width, n_out, generator),
    )


class AffineCoupling(nn.Module):
    """One RealNVP block: both halves transformed in turn (see the module docstring)."""

    def __init__(self, dim: int, width: int, clamp: float, generator: torch.Generator):
        super().__init__()
        self.d1 = dim // 2
        d2 = dim - self.d1
        self.clamp = float(clamp)
        self.s_a = coupling_subnet(d2, self.d1, width, generator)
        self.t_a = coupling_subnet(d2, self.d1, width, generator)
        self.s_b = coupling_subnet(self.d1, d2, width, generator)
        self.t_b = coupling_subnet(self.d1, d2, width, generator)

    def _log_scale(self, s: torch.Tensor) -> torch.Tensor:
        return self.clamp * 0.636 * torch.atan(s / self.clamp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, : self.d1], x[:, self.d1 :]
        y1 = x1 * torch.exp(self._log_scale(self.s_a(x2))) + self.t_a(x2)
        y2 = x2 * torch.exp(self._log_scale(self.s_b(y1))) + self.t_b(y1)
        return torch.cat([y1, y2], dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y[:, : self.d1], y[:, self.d1 :]
        x2 = (y2 - self.t_b(y1)) * torch.exp(-self._log_scale(self.s_b(y1)))
        x1 = (y1 - self.t_a(x2)) * torch.exp(-self._log_scale(self.s_a(x2)))
        return torch.cat([x1, x2], dim=1)


class RealNVP(nn.Module):
    """``depth`` affine coupling blocks with seed-fixed permutations between them."""

    def __init__(self, dim: int, depth: int, width: int, clamp: float = 2.0, generator: torch.Generator | None = None):
        super().__init__()
        if dim < 2:
            raise ValueError(f"RealNVP needs at least 2 columns to split, got {dim}")
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        self.blocks = nn.ModuleList(AffineCoupling(dim, width, clamp, generator) for _ in range(depth))
        perms = [torch.randperm(dim, generator=generator) for _ in range(max(depth - 1, 0))]
        self.register_buffer("perms", torch.stack(perms) if perms else torch.empty(0, dim, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, block in enumerate(self.blocks):
            if k > 0:
                x = x[:, self.perms[k - 1]]
            x = block(x)
        return x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for k in range(len(self.blocks) - 1, -1, -1):
            y = self.blocks[k].inverse(y)
            if k > 0:
                y = y[:, torch.argsort(self.perms[k - 1])]
        return y
