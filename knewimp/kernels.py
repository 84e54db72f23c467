"""RBF kernel terms of the KnewImp particle update, computed in row blocks.

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
