"""Kernel terms of the KnewImp particle update, computed in row blocks.

The RBF kernel (KnewImp's own) is :class:`RBFDirection`; the five other kernels of the paper's
kernel ablation (linear, poly, sigmoid, cos, sin) are :class:`KernelDirection`, with the same
blocking and closed-form kernel gradients; :func:`make_direction` picks one by name.

For particles ``x_1..x_n`` (rows of the filled matrix), scores ``S`` (n x d) and the RBF kernel
``K_ij = exp(-||x_i - x_j||^2 / (2 h^2))``, one particle-update direction is

    R_i = sum_j K_ij (x_i - x_j) / h^2 = (x_i * sum_j K_ij - (K X)_i) / h^2
    G_i = -((K S)_i - lambda * R_i) / n.

Everything the rows ``i`` of a block need comes from ONE matrix product of the block's kernel
rows with ``Y = [S | X | 1]`` (n x (2d + 1)): ``K_B Y = [K_B S | K_B X | K_B 1]``. The kernel
block itself is ``exp(-gamma * (|x_i|^2 + |x_j|^2 - 2 x_i . x_j))`` with ``gamma = 1 / (2 h^2)``,
one more matrix product. Only rows that have a missing entry need ``G`` (the others are zeroed
anyway), so the direction is computed for a chosen subset of rows, in blocks of ``block_size``
rows: memory is O(block_size x n) instead of O(n^2), arithmetic is unchanged.
"""
from __future__ import annotations

import torch

DEFAULT_BLOCK_BYTES = 32 * 2**20  # one kernel block; ~L3-sized keeps exp + matmul cache-friendly


def auto_block_size(n_rows: int, n: int, itemsize: int = 8, budget_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Rows per kernel block so that one (block x n) buffer stays within ``budget_bytes``."""
    return int(max(1, min(n_rows, budget_bytes // max(1, n * itemsize))))


class RBFDirection:
    """Blocked evaluator of ``G = -(K S - lambda R) / n`` for selected rows, reusing its buffers.

    Parameters
    ----------
    bandwidth : h of the RBF kernel.
    entropy_weight : lambda; positive values pull particles together (KnewImp), negative
        values push them apart (SVGD-like), 0 is kernel-smoothed score ascent.
    block_size : rows per block, or None for :func:`auto_block_size`.
    """

    def __init__(self, bandwidth: float, entropy_weight: float, block_size: int | None = None):
        if bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0, got {bandwidth!r}")
        self.bandwidth = float(bandwidth)
        self.entropy_weight = float(entropy_weight)
        self.block_size = block_size
        self._buffers: dict = {}

    def _buffer(self, name: str, shape, like: torch.Tensor) -> torch.Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != torch.Size(shape) or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._buffers[name] = buf
        return buf

    def __call__(self, X: torch.Tensor, S: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Direction ``G`` for ``rows`` (all rows when None): shape (len(rows), d)."""
        n, d = X.shape
        m = n if rows is None else int(rows.numel())
        block = self.block_size or auto_block_size(m, n, X.element_size())
        block = int(max(1, min(block, m)))
        gamma = 1.0 / (2.0 * self.bandwidth**2)
        inv_h2 = 1.0 / self.bandwidth**2

        # Y^T = [S | X | 1]^T, stored transposed: BLAS computes the skinny product Y^T K_B^T faster
        # than K_B Y, and the result is read back transposed for free.
        YT = self._buffer("YT", (2 * d + 1, n), X)
        YT[:d].copy_(S.T)
        YT[d:2 * d].copy_(X.T)
        YT[2 * d].fill_(1.0)
        sqn = X.square().sum(dim=1)
        Xr = X if rows is None else X.index_select(0, rows)
        sqr = sqn if rows is None else sqn.index_select(0, rows)

        G = torch.empty((m, d), dtype=X.dtype, device=X.device)
        Kbuf = self._buffer("K", (block, n), X)
        KYbuf = self._buffer("KY", (2 * d + 1, block), X)
        for start in range(0, m, block):
            stop = min(start + block, m)
            b = stop - start
            Xb = Xr[start:stop]
            K = Kbuf[:b]
            # -gamma * ||x_i - x_j||^2 = 2 gamma x_i.x_j - gamma |x_j|^2 - gamma |x_i|^2, then exp in place
            torch.addmm(sqn.unsqueeze(0), Xb, X.T, beta=-gamma, alpha=2.0 * gamma, out=K)
            K.sub_(sqr[start:stop].unsqueeze(1), alpha=gamma).exp_()
            KY = KYbuf[:, :b]
            torch.mm(YT, K.T, out=KY)
            KS, KX, rowsum = KY[:d].T, KY[d:2 * d].T, KY[2 * d].unsqueeze(1)
            # G = -(KS - lambda (x * rowsum - KX) / h^2) / n
            Gb = G[start:stop]
            torch.mul(Xb, rowsum, out=Gb)
            Gb.sub_(KX).mul_(self.entropy_weight * inv_h2).sub_(KS).mul_(1.0 / n)
        return G


#: Kernels of the velocity field (paper Tables F.6 / F.7); rbf is KnewImp's own.
KERNELS = ("rbf", "linear", "poly", "sigmoid", "cos", "sin")


class KernelDirection:
    """Blocked ``G = -(K S - lambda R) / n`` for the non-RBF kernels of the paper's Table F.6.

    For a kernel ``k`` on whole rows, ``R_i = sum_j grad_y k(x_i, y)|_{y = x_j}`` (the RBF case
    is :class:`RBFDirection`, where this sum is ``sum_j K_ij (x_i - x_j) / h^2``). With
    ``P_ij = x_i . x_j``, ``D_ij = ||x_i - x_j||^2`` and ``r_j = ||x_j||``, each kernel has a
    closed-form gradient, and ``R`` is assembled from row blocks of n x n matrices:

    - linear   ``k = P``:                 ``grad_y k = x``,                       ``R_i = n x_i``
    - poly     ``k = P^2``:               ``grad_y k = 2 P x``,                   ``R_i = 2 x_i sum_j P_ij``
    - sigmoid  ``k = tanh(P)``:           ``grad_y k = (1 - tanh(P)^2) x``,       ``R_i = x_i sum_j (1 - K_ij^2)``
    - cos      ``k = P / (r_x r_y)``:     ``grad_y k = x / (r_x r_y) - k y / r_y^2``,
      ``R_i = (x_i / r_i) sum_j 1 / r_j - sum_j K_ij x_j / r_j^2``
    - sin      ``k = sin(D)``:            ``grad_y k = 2 cos(D) (y - x)``,
      ``R_i = 2 sum_j C_ij x_j - 2 x_i sum_j C_ij`` with ``C = cos(D)``.

    None of these kernels has a parameter (the paper defines none; poly is of degree 2), so the
    RBF bandwidth plays no role here. The cost per step is O(n^2 d), as for the RBF, and memory
    O(block_size x n).
    """

    def __init__(self, kernel: str, entropy_weight: float, block_size: int | None = None):
        if kernel not in KERNELS or kernel == "rbf":
            raise ValueError(f"unknown kernel {kernel!r}; valid choices: {', '.join(KERNELS[1:])} (rbf: RBFDirection)")
        self.kernel = kernel
        self.entropy_weight = float(entropy_weight)
        self.block_size = block_size

    def __call__(self, X: torch.Tensor, S: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Direction ``G`` for ``rows`` (all rows when None): shape (len(rows), d)."""
        n, d = X.shape
        m = n if rows is None else int(rows.numel())
        # two (block x n) matrices are alive at once (the kernel and its gradient weights)
        block = self.block_size or auto_block_size(m, n, X.element_size(), DEFAULT_BLOCK_BYTES // 2)
        block = int(max(1, min(block, m)))
        Xr = X if rows is None else X.index_select(0, rows)
        kernel, lam = self.kernel, self.entropy_weight
        if kernel == "cos":
            norm = X.norm(dim=1)
            inv_norm_sum = norm.reciprocal().sum()
            X_over_r2 = X / norm.square().unsqueeze(1)
            norm_r = norm if rows is None else norm.index_select(0, rows)
        elif kernel == "sin":
            sqn = X.square().sum(dim=1)
            sqr = sqn if rows is None else sqn.index_select(0, rows)
        G = torch.empty((m, d), dtype=X.dtype, device=X.device)
        for start in range(0, m, block):
            stop = min(start + block, m)
            Xb = Xr[start:stop]
            P = Xb @ X.T
            if kernel == "linear":
                KS, R = P @ S, Xb * float(n)
            elif kernel == "poly":
                KS, R = P.square() @ S, Xb * (2.0 * P.sum(dim=1, keepdim=True))
            elif kernel == "sigmoid":
                K = P.tanh_()
                KS = K @ S
                R = Xb * (1.0 - K.square()).sum(dim=1, keepdim=True)
            elif kernel == "cos":
                K = P.div_(norm_r[start:stop].unsqueeze(1)).div_(norm.unsqueeze(0))
                KS = K @ S
                R = Xb * (inv_norm_sum / norm_r[start:stop]).unsqueeze(1) - K @ X_over_r2
            else:  # sin
                D = P.mul_(-2.0).add_(sqn.unsqueeze(0)).add_(sqr[start:stop].unsqueeze(1))
                KS = torch.sin(D) @ S
                C = D.cos_()
                R = 2.0 * (C @ X) - 2.0 * Xb * C.sum(dim=1, keepdim=True)
            G[start:stop] = (KS - lam * R) * (-1.0 / n)
        return G


def make_direction(kernel: str, bandwidth: float, entropy_weight: float, block_size: int | None = None):
    """The blocked direction evaluator of ``kernel`` (see :data:`KERNELS`)."""
    if kernel == "rbf":
        return RBFDirection(bandwidth, entropy_weight, block_size)
    return KernelDirection(kernel, entropy_weight, block_size)
