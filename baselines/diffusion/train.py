"""Epsilon-prediction training loop shared by CSDI-T and MissDiff.

Per step: draw a minibatch of rows, zero the gradients, evaluate the method's masked loss
(1 / |M| sum_{(i,j) in M} (eps_ij - eps_theta(.)_ij)^2 over the entries M it covers), step
Adam. The learning rate is multiplied by ``lr_gamma`` at each milestone fraction of the EPOCHS
(scheduler stepped once per epoch, as in CSDI; the KnewImp group stepped it per batch).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from knewimp.base import ImputationError
from knewimp.progress import Progress


def masked_eps_loss(eps: torch.Tensor, eps_hat: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """sum(covered * (eps - eps_hat)^2) / max(|covered|, 1): entries outside ``covered`` count for nothing."""
    w = covered.to(eps.dtype)
    return (w * (eps - eps_hat) ** 2).sum() / w.sum().clamp_min(1.0)


def milestone_epochs(epochs: int, fractions: Sequence[float]) -> list[int]:
    """Epoch indices after which the lr drops: int(f * epochs), as CSDI computes them."""
    return sorted({int(f * epochs) for f in fractions if 0 < int(f * epochs) < epochs})


def train(net: torch.nn.Module, batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor], n_rows: int,
          epochs: int, batch_size: int, lr: float, weight_decay: float, lr_milestones: Sequence[float],
          lr_gamma: float, generator: torch.Generator, phase: str = "train") -> list[float]:
    """Train ``net`` for ``epochs`` passes over ``n_rows`` shuffled rows; return the mean loss per epoch.

    ``batch_loss(idx, generator)`` evaluates the method's loss on rows ``idx``. A non-finite loss
    raises ImputationError (diverged).
    """
    device = next(net.parameters()).device
    # fused Adam: one kernel for all parameters (the per-parameter loop cost ~30% of a batch-8 step)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestone_epochs(epochs, lr_milestones), gamma=lr_gamma)
    net.train()
    history = []
    progress = Progress(phase, epochs)
    for epoch in range(epochs):
        perm = torch.randperm(n_rows, generator=generator, device=generator.device).to(device)
        total, count = 0.0, 0
        for start in range(0, n_rows, batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = batch_loss(idx, generator)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            count += len(idx)
        mean = float(total) / count
        if not math.isfinite(mean):
            raise ImputationError(f"{phase}: training loss became {mean} at epoch {epoch + 1}; lower lr")
        history.append(mean)
        sched.step()
        progress.update()
    progress.close()
    return history
