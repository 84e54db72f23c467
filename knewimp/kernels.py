"""Kernel terms of the KnewImp particle update, computed in row blocks.

The RBF kernel (KnewImp's own) is :class:`RBFDirection`; the five other kernels of the paper's
kernel ablation (linear, poly, sigmoid, cos, sin) are :class:`KernelDirection`, with the same
blocking and closed-form kernel gradients; :func:`make_direction` picks one by name.

For particles ``x_1..x_n`` (rows of the filled matrix), scores ``S`` (n x d) and the RBF kernel
``K_ij = exp(-||x_i - x_j||^2 / (2 h^2))``, one particle-update direction is

    R_i = sum_j K_ij (x_i - x_j) / h^2 = (x_i * sum_j K_ij - (K X)_i) / h^2
    G_i = -((K S)_i - lambda * R_i) / n.

Since ``(K S)_i - lambda (x_i (K 1)_i - (K X)_i) / h^2 = (K Z)_i - lambda x_i (K 1)_i / h^2`` with
``Z = S + lambda X / h^2``, everything the rows ``i`` of a block need comes from ONE thin matrix
product of the block's kernel rows with ``[Z | 1]`` (n x (d + 1)). The kernel block itself is
``exp(-gamma ||x_i - x_j||^2)`` with ``gamma = 1 / (2 h^2)``, its exponent one more matrix product
of augmented rows. Only rows that have a missing entry need ``G`` (the others are zeroed
anyway), so the direction is computed for a chosen subset of rows, in blocks of ``block_size``
rows: memory is O(block_size x n) instead of O(n^2). The RBF kernel is symmetric, so each pair of
selected rows is exponentiated once (:class:`RBFDirection`).
"""
from __future__ import annotations

import torch

DEFAULT_BLOCK_BYTES = 32 * 2**20  # one kernel block; ~L3-sized keeps exp + matmul cache-friendly
RBF_BLOCK_ROWS = 128  # RBF panels: a few MB each stay in cache between the product, exp_ and the two thin products


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
    block_size : rows per block, or None for :func:`auto_block_size` capped at
        :data:`RBF_BLOCK_ROWS`.

    The kernel is symmetric, so each pair of selected rows is evaluated once: with the selected
    rows first (order ``P``), block ``I`` of them takes the panel ``K[I, I_start:]`` (its own
    block, the selected rows after it and every unselected row), adds ``K_panel Z`` to its own
    rows and ``K_panel[:, later selected]^T Z_I`` to the later selected rows. With ``m`` of ``n``
    rows selected this takes about ``m n - m^2 / 2`` exponentials instead of ``m n``; the
    products stay ``m n (d + 1)`` multiply-adds.
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
        gamma = 1.0 / (2.0 * self.bandwidth**2)
        c = self.entropy_weight / self.bandwidth**2
        if rows is None:
            m, Xp, Sp = n, X, S
        else:
            m = int(rows.numel())
            perm = self._order(rows, n, X.device)
            Xp, Sp = X.index_select(0, perm), S.index_select(0, perm)
        block = self.block_size or min(RBF_BLOCK_ROWS, auto_block_size(m, n, X.element_size()))
        block = int(max(1, min(block, m)))

        # -gamma ||x_i - x_j||^2 = A_i . B_j with A_i = [2 gamma x_i, -gamma |x_i|^2, -gamma] and
        # B_j = [x_j, 1, |x_j|^2]: one product gives the kernel's exponent, ready for exp_.
        sqn = Xp.square().sum(dim=1)
        A = self._buffer("A", (m, d + 2), X)
        torch.mul(Xp[:m], 2.0 * gamma, out=A[:, :d])
        torch.mul(sqn[:m], -gamma, out=A[:, d])
        A[:, d + 1].fill_(-gamma)
        BT = self._buffer("BT", (d + 2, n), X)
        BT[:d].copy_(Xp.T)
        BT[d].fill_(1.0)
        BT[d + 1].copy_(sqn)
        # G = -(K S - c (x * K 1 - K X)) / n = (c x * K 1 - K Z) / n with Z = S + c X: one thin
        # product with Z^T = [Z | 1]^T, stored transposed (BLAS is faster on Y^T K^T than K Y).
        ZT = self._buffer("ZT", (d + 1, n), X)
        torch.add(Sp.T, Xp.T, alpha=c, out=ZT[:d])
        ZT[d].fill_(1.0)
        acc = self._buffer("acc", (d + 1, m), X).zero_()
        Kbuf = self._buffer("K", (block * n,), X)
        for start in range(0, m, block):
            stop = min(start + block, m)
            b = stop - start
            K = Kbuf[:b * (n - start)].view(b, n - start)
            torch.mm(A[start:stop], BT[:, start:], out=K)
            K.exp_()
            acc[:, start:stop].addmm_(ZT[:, start:], K.T)
            if stop < m:  # the same kernel entries, seen from the later selected rows
                acc[:, stop:].addmm_(ZT[:, start:stop], K[:, b:m - start])
        G = torch.mul(Xp[:m], acc[d].unsqueeze(1))
        return G.mul_(c).sub_(acc[:d].T).mul_(1.0 / n)

    def _order(self, rows: torch.Tensor, n: int, device) -> torch.Tensor:
        """``rows`` followed by the other rows (cached for the same ``rows``)."""
        key = self._buffers.get("order_key")
        if key is not None and key.shape == rows.shape and key.device == rows.device and torch.equal(key, rows):
            return self._buffers["order"]
        rest = torch.ones(n, dtype=torch.bool, device=device)
        rest[rows] = False
        order = torch.cat([rows, rest.nonzero().squeeze(1)])
        self._buffers["order_key"], self._buffers["order"] = rows.clone(), order
        return order


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
