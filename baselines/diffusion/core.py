"""The DDPM imputer core shared by CSDI-T and MissDiff: one estimator skeleton, two objectives.

A method supplies (i) its per-batch loss on standardised rows and (ii) its sampling hooks; the
core standardises, builds and initialises the TabCSDI network, trains it, draws ``n_samples``
imputations per row in batched reverse diffusion and returns their per-entry median.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from knewimp.base import BaseImputer, ImputationError, as_float, resolve_device, torch_threads

from .network import DiffusionNet
from .sample import ancestral_sample, default_chunk
from .schedule import SCHEDULES, Schedule, make_schedule
from .train import train


def standardise(X: np.ndarray, device="cpu") -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(Z, mu, sd): z-scores from the observed column means and stds, missing entries set to 0."""
    mu = np.nanmean(X, axis=0)
    sd = np.nanstd(X, axis=0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    Z = torch.as_tensor(np.nan_to_num((X - mu) / sd, nan=0.0), dtype=torch.float32, device=device)
    return Z, mu, sd


class DiffusionImputer(BaseImputer):
    """Skeleton of a DDPM imputer (see :class:`CSDITImputer` and :class:`MissDiffImputer`).

    ``num_threads`` (default 1; None leaves PyTorch's setting) is the intra-op thread count while
    fitting: for batch-8 steps of this small network a second thread on a busy core slows
    training and sampling down rather than up (docs/diffusion.md).

    Data are standardised inside with the observed column means and standard deviations, so
    the placeholder 0 of a missing entry is its column's observed mean; results are returned
    in input units (so there is no ``standardize`` parameter). Defaults are the published TabCSDI
    settings.
    """

    phase = "diffusion"
    in_channels = 1
    mask_channel = False

    def __init__(self, n_layers: int = 4, channels: int = 64, n_heads: int = 2, ff_dim: int = 64,
                 step_emb_dim: int = 128, pos_emb_dim: int = 32, feat_emb_dim: int = 16, dropout: float = 0.1,
                 n_steps: int = 150, beta_start: float = 1e-4, beta_end: float = 0.5, schedule: str = "quad",
                 epochs: int = 500, batch_size: int = 8, lr: float = 5e-4, weight_decay: float = 1e-6,
                 lr_milestones: Sequence[float] = (0.25, 0.5, 0.75, 0.9), lr_gamma: float = 0.1,
                 n_samples: int = 100, sample_chunk: int | None = None, num_threads: int | None = 1,
                 random_state: int | None = None, device: str = "auto"):
        super().__init__(random_state=random_state, device=device)
        self.n_layers = n_layers
        self.channels = channels
        self.n_heads = n_heads
        self.ff_dim = ff_dim
        self.step_emb_dim = step_emb_dim
        self.pos_emb_dim = pos_emb_dim
        self.feat_emb_dim = feat_emb_dim
        self.dropout = dropout
        self.n_steps = n_steps
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_milestones = lr_milestones
        self.lr_gamma = lr_gamma
        self.n_samples = n_samples
        self.sample_chunk = sample_chunk
        self.num_threads = num_threads

    _optional_int_params = ("sample_chunk",)  # None: every sample at once

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid choices: {', '.join(SCHEDULES)}")
        for name in ("n_layers", "channels", "n_heads", "ff_dim", "n_steps", "epochs", "batch_size", "n_samples"):
            if not as_float(getattr(self, name)) >= 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0.0 <= as_float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    # --- what a method supplies -------------------------------------------------------------
    def batch_loss(self, net: DiffusionNet, Z: torch.Tensor, observed: torch.Tensor,
                   schedule: Schedule) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
        """Return loss(idx, generator) on rows ``idx`` of the standardised matrix ``Z``."""
        raise NotImplementedError

    def sampling_hooks(self, net: DiffusionNet, Z: torch.Tensor, observed: torch.Tensor, schedule: Schedule,
                       generator: torch.Generator):
        """Return (eps_fn, replace) for :func:`ancestral_sample` on S stacked copies of the rows."""
        raise NotImplementedError

    # --- the shared pipeline ----------------------------------------------------------------
    def build_network(self, d: int, generator: torch.Generator) -> DiffusionNet:
        net = DiffusionNet(d, int(self.n_steps), in_channels=self.in_channels, mask_channel=self.mask_channel,
                           channels=int(self.channels), n_layers=int(self.n_layers), n_heads=int(self.n_heads),
                           ff_dim=int(self.ff_dim), step_emb_dim=int(self.step_emb_dim),
                           pos_emb_dim=int(self.pos_emb_dim), feat_emb_dim=int(self.feat_emb_dim),
                           dropout=float(self.dropout),
                           shared_feature_embedding=getattr(self, "feature_embedding", "per_feature") == "shared")
        net.reset_parameters(generator)
        return net

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        device = resolve_device(self.device)
        seeds = self._rng().integers(0, 2**62, size=3)
        gen = lambda s, dev: torch.Generator(dev).manual_seed(int(s))  # noqa: E731
        Z, mu, sd = standardise(X, device)
        n, d = X.shape
        observed = torch.as_tensor(~mask, device=device)
        schedule = make_schedule(int(self.n_steps), float(self.beta_start), float(self.beta_end), self.schedule)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch_threads(self.num_threads):
            net = self.build_network(d, gen(seeds[0], "cpu")).to(device)
            sch = schedule.to(device)
            self.loss_history_ = train(
                net, self.batch_loss(net, Z, observed, sch), n, int(self.epochs), int(self.batch_size),
                float(self.lr), float(self.weight_decay), [float(f) for f in self.lr_milestones],
                float(self.lr_gamma), gen(seeds[1], device), phase=f"{self.phase} train")
        self.train_seconds_, self.train_cpu_seconds_ = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        net.eval()
        g_sample = gen(seeds[2], device)
        S = int(self.n_samples)
        eps_fn, replace = self.sampling_hooks(net, Z, observed, sch, g_sample)
        chunk = int(self.sample_chunk) if self.sample_chunk else default_chunk(d)
        with torch_threads(self.num_threads):
            draws = ancestral_sample(eps_fn, S * n, d, sch, g_sample, chunk, replace, phase=f"{self.phase} sample")
        draws = draws.view(S, n, d).cpu().numpy().astype(np.float64)
        median = np.median(draws, axis=0)
        self.sample_seconds_, self.sample_cpu_seconds_ = time.perf_counter() - t0, time.process_time() - c0
        if not np.isfinite(draws).all():
            raise ImputationError(f"{self.phase}: reverse diffusion produced NaN/Inf samples")
        # A reverse chain that leaves the range the network was trained on is not pulled back (its
        # output is bounded) and grows by up to 1 / sqrt(alpha_t) a step: the library-wide range
        # rule (knewimp.base.check_in_range, per column) refuses such a finite but meaningless result.
        return median * sd + mu
