"""MissDiff: an unconditional DDPM trained directly on incomplete rows (Ouyang et al. 2023).

Training: missing entries get the placeholder 0 (the observed column mean after standardising),
the whole row is noised, x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps, and the loss covers the
OBSERVED entries O only, with no artificial hiding:

    L = 1 / |O| sum_{(i,j) in O} (eps_ij - eps_theta(x_t, t, side)_ij)^2,

side = [feature-index code, learned feature embedding] (48 channels, no mask channel).
Imputation (RePaint-style replacement): from x ~ N(0, I), at each reverse step the network's
input is sqrt(abar_t) x_obs + sqrt(1 - abar_t) z (fresh z) on observed entries and the current
sample elsewhere; DDPM update; median of ``n_samples`` draws per entry.
"""
from __future__ import annotations

import torch

from .core import DiffusionImputer
from .network import DiffusionNet
from .schedule import Schedule
from .train import masked_eps_loss


def missdiff_loss(net: DiffusionNet, x: torch.Tensor, observed: torch.Tensor, t: torch.Tensor,
                  noise: torch.Tensor, schedule: Schedule, generator: torch.Generator | None = None) -> torch.Tensor:
    """The observed-entry eps loss above; whatever ``x`` holds at missing entries is replaced by 0."""
    x = torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device))
    abar = schedule.alpha_bars[t].unsqueeze(1)
    x_t = abar.sqrt() * x + (1 - abar).sqrt() * noise
    eps_hat = net(x_t.unsqueeze(-1), t, None, generator)
    return masked_eps_loss(noise, eps_hat, observed)


class MissDiffImputer(DiffusionImputer):
    """MissDiff imputer; defaults are the published TabCSDI network in unconditional mode."""

    phase = "missdiff"
    in_channels = 1
    mask_channel = False

    def batch_loss(self, net, Z, observed, schedule):
        T = schedule.n_steps

        def loss(idx, generator):
            x, obs = Z[idx], observed[idx]
            t = torch.randint(0, T, (len(idx),), generator=generator, device=Z.device)
            noise = torch.randn(x.shape, generator=generator, device=Z.device)
            return missdiff_loss(net, x, obs, t, noise, schedule, generator)
        return loss

    def sampling_hooks(self, net, Z, observed, schedule, generator):
        S = int(self.n_samples)
        obs = observed.repeat(S, 1)
        z0 = Z.repeat(S, 1)

        def replace(x, t):
            abar = schedule.alpha_bars[t]
            noised = abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(x.shape, generator=generator, device=x.device)
            return torch.where(obs, noised, x)

        missing = ~obs

        def eps_fn(x_in, t, rows):
            # eps at observed entries is never used: ``replace`` overwrites them before every
            # step and the output keeps the observed values, so only missing entries are computed
            step = torch.full((1,), t, dtype=torch.long, device=Z.device)
            return net(x_in.unsqueeze(-1), step, wanted=missing[rows])
        return eps_fn, replace
