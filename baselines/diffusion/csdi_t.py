"""CSDI-T: conditional score-based diffusion for tabular imputation (TabCSDI; Tashiro et al. 2021).

Training (self-supervised): in each row, a set T of OBSERVED entries is hidden (the targets) and
the other observed entries C are the conditions; with x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps,

    L = 1 / |T| sum_{(i,j) in T} (eps_ij - eps_theta([c * x, (1 - c) * x_t], t, side(c))_ij)^2,

side(c) = [feature-index code, learned feature embedding, c]. TabCSDI hides a fixed 80% of each
row's observed entries (``target_strategy="fixed"``); CSDI hides a uniform random fraction per
row (``"random"``). Imputation: condition on all observed entries (c = observation mask), run
ancestral sampling from N(0, I), take the median of ``n_samples`` draws per entry.
"""
from __future__ import annotations

from typing import Sequence

import torch

from knewimp.base import as_float

from .core import DiffusionImputer
from .network import DiffusionNet
from .schedule import Schedule
from .train import masked_eps_loss

TARGET_STRATEGIES = ("fixed", "random")


def choose_targets(observed: torch.Tensor, strategy: str, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Hide round(f * n_obs) random observed entries per row; f = ``ratio`` (fixed) or U(0, 1) per row (random)."""
    B, d = observed.shape
    score = torch.rand(B, d, generator=generator, device=observed.device).masked_fill(~observed, -1.0)
    if strategy == "fixed":
        frac = torch.full((B,), float(ratio), device=observed.device)
    else:
        frac = torch.rand(B, generator=generator, device=observed.device)
    k = torch.round(observed.sum(1) * frac)
    rank = score.argsort(dim=1, descending=True).argsort(dim=1)
    return observed & (rank < k.unsqueeze(1))


def csdi_t_loss(net: DiffusionNet, x: torch.Tensor, observed: torch.Tensor, target: torch.Tensor,
                t: torch.Tensor, noise: torch.Tensor, schedule: Schedule,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The masked eps loss above; missing entries of ``x`` are replaced by the placeholder 0."""
    x = torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device))
    c = (observed & ~target).to(x.dtype)
    abar = schedule.alpha_bars[t].unsqueeze(1)
    x_t = abar.sqrt() * x + (1 - abar).sqrt() * noise
    eps_hat = net(torch.stack([c * x, (1 - c) * x_t], dim=-1), t, c, generator)
    return masked_eps_loss(noise, eps_hat, target)


class CSDITImputer(DiffusionImputer):
    """CSDI-T imputer; defaults are the published TabCSDI settings (see the module docstring).

    Extra parameters: ``target_strategy`` ("fixed" | "random") and ``target_ratio`` (the fixed
    fraction of observed entries hidden per row in training); ``feature_embedding``
    ("per_feature", the default: one learned vector per feature; "shared": TabCSDI's one vector
    shared by every feature, which then differ only by their positional code).
    """

    #: Arguments added after records existed: the complete preset may omit them (their default
    #: keeps what those records ran), so no committed record changes its identity.
    config_optional = ("feature_embedding",)
    FEATURE_EMBEDDINGS = ("per_feature", "shared")

    phase = "csdi_t"
    in_channels = 2
    mask_channel = True

    def __init__(self, n_layers: int = 4, channels: int = 64, n_heads: int = 2, ff_dim: int = 64,
                 step_emb_dim: int = 128, pos_emb_dim: int = 32, feat_emb_dim: int = 16, dropout: float = 0.1,
                 n_steps: int = 150, beta_start: float = 1e-4, beta_end: float = 0.5, schedule: str = "quad",
                 epochs: int = 500, batch_size: int = 8, lr: float = 5e-4, weight_decay: float = 1e-6,
                 lr_milestones: Sequence[float] = (0.25, 0.5, 0.75, 0.9), lr_gamma: float = 0.1,
                 n_samples: int = 100, sample_chunk: int | None = None, num_threads: int | None = 1,
                 target_strategy: str = "fixed", target_ratio: float = 0.8,
                 random_state: int | None = None, device: str = "auto", feature_embedding: str = "per_feature"):
        super().__init__(n_layers, channels, n_heads, ff_dim, step_emb_dim, pos_emb_dim, feat_emb_dim, dropout,
                         n_steps, beta_start, beta_end, schedule, epochs, batch_size, lr, weight_decay,
                         lr_milestones, lr_gamma, n_samples, sample_chunk, num_threads, random_state, device)
        self.target_strategy = target_strategy
        self.target_ratio = target_ratio
        self.feature_embedding = feature_embedding

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.feature_embedding not in self.FEATURE_EMBEDDINGS:
            raise ValueError(f"unknown feature_embedding {self.feature_embedding!r}; valid choices: "
                             f"{', '.join(self.FEATURE_EMBEDDINGS)}")
        if self.target_strategy not in TARGET_STRATEGIES:
            raise ValueError(f"unknown target_strategy {self.target_strategy!r}; valid choices: fixed, random")
        if not 0.0 < as_float(self.target_ratio) <= 1.0:
            raise ValueError(f"target_ratio must be in (0, 1], got {self.target_ratio!r}")

    def batch_loss(self, net, Z, observed, schedule):
        T = schedule.n_steps

        def loss(idx, generator):
            x, obs = Z[idx], observed[idx]
            target = choose_targets(obs, self.target_strategy, float(self.target_ratio), generator)
            t = torch.randint(0, T, (len(idx),), generator=generator, device=Z.device)
            noise = torch.randn(x.shape, generator=generator, device=Z.device)
            return csdi_t_loss(net, x, obs, target, t, noise, schedule, generator)
        return loss

    def sampling_hooks(self, net, Z, observed, schedule, generator):
        S = int(self.n_samples)
        c = observed.to(Z.dtype).repeat(S, 1)
        cx = (observed * Z).repeat(S, 1)
        missing = (~observed).repeat(S, 1)

        def eps_fn(x_t, t, rows):
            # eps at observed entries is never used: x_t enters the network as (1 - c) * x_t
            # and the output keeps the observed values, so only missing entries are computed
            step = torch.full((1,), t, dtype=torch.long, device=Z.device)
            u = torch.stack([cx[rows], (1 - c[rows]) * x_t], dim=-1)
            return net(u, step, c[rows], wanted=missing[rows])
        return eps_fn, None
