"""KnewImp computed the way the authors' reference code computes it, for tests and benchmarks.

:class:`ReferenceKnewImputer` runs the same algorithm as :class:`knewimp.imputer.KnewImputer`
and gives the same result up to rounding, but each of the fast path's optimisations can be
switched back to the reference computation (:class:`Implementation`): the score by autograd of
the energy at every particle step, the DSM loss through a double backward, the full n x n kernel
with R assembled column by column, every row moved (observed rows receive a zero update), and the
particle steps under ``no_grad`` with ``torch.optim.Adam``. Never used by the harness.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from knewimp.imputer import KnewImputer
from knewimp.kernels import RBFDirection


@dataclass(frozen=True)
class Implementation:
    """Which optimisations are on; all False is the reference code's computation."""

    closed_form_score: bool = False  # True: the energy's score in closed form (no autograd per step)
    closed_form_dsm: bool = False    # True: DSM with the closed-form score (no double backward)
    blocked_kernel: bool = False     # True: kernel terms in row blocks, never the n x n matrix
    active_rows: bool = False        # True: direction and scores for the rows with a missing entry only
    manual_dsm: bool = False         # True (with closed_form_dsm): hand-written DSM gradient, one flat Adam


def naive_direction(X: torch.Tensor, S: torch.Tensor, bandwidth: float, entropy_weight: float) -> torch.Tensor:
    """G = -(1/n) (K S - lambda R) with the full kernel matrix K and R_ic = sum_j K_ij (x_ic - x_jc) / h^2."""
    h2 = bandwidth**2
    sq = X.square().sum(1)
    K = torch.exp(-(sq[:, None] + sq[None, :] - 2.0 * X @ X.T) / (2.0 * h2))
    R = -(K @ X)
    rowsum = K.sum(1)
    for c in range(X.shape[1]):
        R[:, c] = R[:, c] + X[:, c] * rowsum
    return -(K @ S - entropy_weight * R / h2) / X.shape[0]


def kernel_value(kernel: str, x: torch.Tensor, y: torch.Tensor, bandwidth: float = 0.5) -> torch.Tensor:
    """``k(x_i, y_j)`` for all pairs (n x m), straight from the paper's definitions (Table F.6):
    linear x.y; poly (x.y)^2; sigmoid tanh(x.y); cos (x/|x|).(y/|y|); sin sin(|x - y|^2);
    rbf exp(-|x - y|^2 / (2 h^2))."""
    dot = x @ y.T
    sqdist = (x[:, None, :] - y[None, :, :]).square().sum(-1)
    if kernel == "linear":
        return dot
    if kernel == "poly":
        return dot**2
    if kernel == "sigmoid":
        return torch.tanh(dot)
    if kernel == "cos":
        return (x / x.norm(dim=1, keepdim=True)) @ (y / y.norm(dim=1, keepdim=True)).T
    if kernel == "sin":
        return torch.sin(sqdist)
    if kernel == "rbf":
        return torch.exp(-sqdist / (2.0 * bandwidth**2))
    raise ValueError(f"unknown kernel {kernel!r}")


def naive_kernel_direction(X: torch.Tensor, S: torch.Tensor, kernel: str, entropy_weight: float,
                           bandwidth: float = 0.5) -> torch.Tensor:
    """G = -(1/n) sum_j [k(x_i, x_j) s_j - lambda grad_y k(x_i, y)|_{y = x_j}], the full kernel
    matrix and its gradient by autograd (one backward per row i): an oracle for tiny n."""
    n = X.shape[0]
    Y = X.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        K = kernel_value(kernel, X.detach(), Y, bandwidth)
        R = torch.stack([torch.autograd.grad(K[i].sum(), Y, retain_graph=True)[0].sum(0) for i in range(n)])
    return -(K.detach() @ S - entropy_weight * R) / n


class ReferenceKnewImputer(KnewImputer):
    """KnewImputer with the optimisations named by ``implementation`` (default: none)."""

    def __init__(self, implementation: Implementation = Implementation(), **params):
        super().__init__(**params)
        self.implementation = implementation

    @classmethod
    def _get_param_names(cls):
        # KnewImputer's parameters arrive through **params; name them for get_params / clone
        return sorted({*KnewImputer._get_param_names(), "implementation"})

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        impl = self.implementation
        Xf, net, gen = self._start(X, mask)
        x = Xf.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.step_size) if self.integrator == "adam" else None
        moving = np.flatnonzero(mask.any(axis=1)) if impl.active_rows else np.arange(X.shape[0])
        rows = torch.as_tensor(moving, device=x.device)
        observed = ~torch.as_tensor(mask, device=x.device)
        score = net.score if impl.closed_form_score else net.score_autograd
        blocked = RBFDirection(self.bandwidth, self.entropy_weight, self.block_size)
        self.timings_ = {"score_fit": 0.0, "particle_steps": 0.0}
        self.dsm_losses_ = []
        for outer in range(int(self.n_outer)):
            t0 = time.perf_counter()
            self.dsm_losses_.append(self._fit_score(net, x.detach(), gen, outer, closed_form=impl.closed_form_dsm,
                                                    manual=impl.manual_dsm))
            t1 = time.perf_counter()
            for step in range(int(self.n_steps)):
                with torch.no_grad():
                    S = score(x.detach()).detach()
                    if impl.blocked_kernel:
                        G = torch.zeros_like(S)
                        G.index_copy_(0, rows, blocked(x.detach(), S, rows))
                    else:
                        G = naive_direction(x.detach(), S, self.bandwidth, self.entropy_weight)
                        G[np.setdiff1d(np.arange(X.shape[0]), moving)] = 0.0
                    self._check_update(G, outer, step)
                    G.masked_fill_(observed, 0.0)
                if opt is None:
                    with torch.no_grad():
                        x.sub_(G, alpha=self.step_size)
                else:
                    opt.zero_grad()
                    x.grad = G
                    opt.step()
            self.timings_["score_fit"] += t1 - t0
            self.timings_["particle_steps"] += time.perf_counter() - t1
        return x.detach().cpu().numpy().astype(np.float64)
