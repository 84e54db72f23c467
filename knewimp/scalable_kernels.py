"""RBF kernel terms of the KnewImp particle update in O(n) per step: two approximations.

The exact direction (:class:`knewimp.kernels.RBFDirection`) for particle i is

    G_i = -(1/n) sum_j [ K_ij s_j - lambda K_ij (x_i - x_j) / h^2 ],   K_ij = exp(-||x_i - x_j||^2 / (2 h^2)),

O(n^2 d) per step. Both evaluators here return the same quantity from fewer kernel entries
(``KnewImputer(approx=...)``, the factor 1/n and everything else unchanged):

``"knn"`` (truncated kernel, deterministic). With the paper's bandwidth h = 0.5 on z-scored data
the RBF kernel is local: ``K_ij = exp(-2 ||x_i - x_j||^2)`` is below 1e-8 once
``||x_i - x_j||^2 > 9.2``, and two random rows of a 10-column z-scored table sit about 20 apart.
So the sum over j is kept over ``N_k(i)``, the k nearest particles of i (itself included, in
Euclidean distance over all columns),

    G_i ~= -(1/n) sum_{j in N_k(i)} [ K_ij s_j - lambda K_ij (x_i - x_j) / h^2 ],

dropping only the terms of the n - k farther particles, each smaller than the k-th nearest one's.
The neighbour lists are recomputed every ``refresh`` steps (the particles move), by one blocked
pass over the distances, O(n^2 d / refresh) per step amortised, memory O(block x n); between
refreshes a step costs O(n k d).

``"minibatch"`` (unbiased random estimate). Each step draws, from the imputer's torch generator,
a uniform subset B of m of the n particles, shared by all particles i, and estimates every
off-diagonal sum by its importance-weighted subset sum (P(j in B) = m/n):

    sum_{j != i} K_ij y_j ~= (n/m) sum_{j in B, j != i} K_ij y_j,     y_j in {s_j, x_j, 1},

while the diagonal term (K_ii = 1: s_i in the score sum, nothing in the kernel-gradient sum) is
kept exactly. The estimate is unbiased for G_i, costs O(n m d) per step, and its variance is
large when, as here, a particle's kernel mass sits on a few neighbours that B rarely holds:
``scripts/bench_scale.py`` measures the error of both against the exact direction.

Random Fourier features (``K ~= Phi Phi^T`` with ``Phi = sqrt(2/D) cos(X W + b)``) are not offered:
each estimated ``K_ij`` carries an error of order ``1/sqrt(D)`` whatever its true value, so a row
sum over n particles carries one of order ``sqrt(n/D)`` where the true off-diagonal sum is of
order 1 for this local kernel.
"""
from __future__ import annotations

import torch

from knewimp.kernels import auto_block_size

#: Approximations of the RBF kernel sums (``KnewImputer(approx=...)``); None is the exact kernel.
APPROXIMATIONS = ("knn", "minibatch")


def _assemble(Xb, KS, KX, rowsum, lam_over_h2: float, n: int, out: torch.Tensor) -> torch.Tensor:
    """``out = -(KS - lambda (x * rowsum - KX) / h^2) / n`` for a block of rows."""
    torch.mul(Xb, rowsum, out=out)
    return out.sub_(KX).mul_(lam_over_h2).sub_(KS).mul_(1.0 / n)


class KNNDirection:
    """Direction G from each particle's ``k`` nearest particles, neighbour lists refreshed every
    ``refresh`` calls (see the module docstring)."""

    def __init__(self, bandwidth: float, entropy_weight: float, k: int, refresh: int, block_size: int | None = None):
        self.bandwidth, self.entropy_weight = float(bandwidth), float(entropy_weight)
        self.k, self.refresh, self.block_size = int(k), int(refresh), block_size
        self.calls = 0
        self.refreshes = 0
        self._idx: torch.Tensor | None = None

    def neighbours(self, X: torch.Tensor, Xr: torch.Tensor) -> torch.Tensor:
        """(len(Xr), k) indices into X of each row of Xr's k nearest rows of X (itself included)."""
        n = X.shape[0]
        m, k = Xr.shape[0], min(self.k, n)
        idx = torch.empty((m, k), dtype=torch.long, device=X.device)
        sqn = X.square().sum(dim=1)
        block = int(max(1, min(self.block_size or auto_block_size(m, n, X.element_size()), m)))
        for start in range(0, m, block):
            stop = min(start + block, m)
            # ||x_i - x_j||^2 minus |x_i|^2, which is constant along a row and leaves the order alone
            D = torch.addmm(sqn.unsqueeze(0), Xr[start:stop], X.T, alpha=-2.0)
            idx[start:stop] = D.topk(k, dim=1, largest=False, sorted=False).indices
        self.refreshes += 1
        return idx

    def __call__(self, X: torch.Tensor, S: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        n, d = X.shape
        Xr = X if rows is None else X.index_select(0, rows)
        m = Xr.shape[0]
        if self._idx is None or self._idx.shape[0] != m or self.calls % self.refresh == 0:
            self._idx = self.neighbours(X, Xr)
        self.calls += 1
        k = self._idx.shape[1]
        gamma = 1.0 / (2.0 * self.bandwidth**2)
        G = torch.empty((m, d), dtype=X.dtype, device=X.device)
        block = int(max(1, min(m, (8 * 2**20) // max(1, k * d * X.element_size()))))  # ~8 MB per gathered tensor
        for start in range(0, m, block):
            stop = min(start + block, m)
            nb = self._idx[start:stop]
            Xb = Xr[start:stop]
            diff = Xb.unsqueeze(1) - X[nb]                                  # (b, k, d): x_i - x_j
            K = diff.square().sum(dim=2).mul_(-gamma).exp_().unsqueeze(1)   # (b, 1, k)
            KS = torch.bmm(K, S[nb]).squeeze(1)
            R = torch.bmm(K, diff).squeeze(1)                               # sum_j K_ij (x_i - x_j)
            G[start:stop] = (KS - R * (self.entropy_weight / self.bandwidth**2)) * (-1.0 / n)
        return G


class MinibatchDirection:
    """Unbiased estimate of G from a random subset of ``m`` particles per call, drawn from
    ``generator``, with the diagonal term exact (see the module docstring)."""

    def __init__(self, bandwidth: float, entropy_weight: float, m: int, generator: torch.Generator,
                 block_size: int | None = None):
        self.bandwidth, self.entropy_weight = float(bandwidth), float(entropy_weight)
        self.m, self.generator, self.block_size = int(m), generator, block_size

    def __call__(self, X: torch.Tensor, S: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        n, d = X.shape
        rows = torch.arange(n, device=X.device) if rows is None else rows
        m_rows, size = int(rows.numel()), min(self.m, n)
        B = torch.randperm(n, generator=self.generator, device=self.generator.device)[:size].to(X.device)
        XB, SB = X.index_select(0, B), S.index_select(0, B)
        YB = torch.cat([SB, XB, torch.ones((size, 1), dtype=X.dtype, device=X.device)], dim=1)
        sqB = XB.square().sum(dim=1)
        gamma, scale = 1.0 / (2.0 * self.bandwidth**2), n / size
        Xr, Sr = X.index_select(0, rows), S.index_select(0, rows)
        G = torch.empty((m_rows, d), dtype=X.dtype, device=X.device)
        block = int(max(1, min(self.block_size or auto_block_size(m_rows, size, X.element_size()), m_rows)))
        for start in range(0, m_rows, block):
            stop = min(start + block, m_rows)
            Xb = Xr[start:stop]
            K = torch.addmm(sqB.unsqueeze(0), Xb, XB.T, beta=-gamma, alpha=2.0 * gamma)
            K.sub_(Xb.square().sum(dim=1, keepdim=True), alpha=gamma).exp_()
            K.masked_fill_(rows[start:stop].unsqueeze(1) == B.unsqueeze(0), 0.0)  # the diagonal is added exactly
            KY = (K @ YB).mul_(scale)
            KS = KY[:, :d] + Sr[start:stop]
            KX = KY[:, d:2 * d] + Xb
            rowsum = KY[:, 2 * d:] + 1.0
            _assemble(Xb, KS, KX, rowsum, self.entropy_weight / self.bandwidth**2, n, G[start:stop])
        return G


def make_approx_direction(approx: str, bandwidth: float, entropy_weight: float, size: int, refresh: int,
                          generator: torch.Generator, block_size: int | None = None):
    """The evaluator of approximation ``approx`` (one of :data:`APPROXIMATIONS`)."""
    if approx == "knn":
        return KNNDirection(bandwidth, entropy_weight, size, refresh, block_size)
    if approx == "minibatch":
        return MinibatchDirection(bandwidth, entropy_weight, size, generator, block_size)
    raise ValueError(f"approx must be one of None, {', '.join(APPROXIMATIONS)}; got {approx!r}")
