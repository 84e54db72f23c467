"""RBF kernel terms of the KnewImp particle update without the O(n^2) sums: two approximations.

The exact direction (:class:`knewimp.kernels.RBFDirection`) for particle i is

    G_i = -(1/n) sum_j [ K_ij s_j - lambda K_ij (x_i - x_j) / h^2 ],   K_ij = exp(-||x_i - x_j||^2 / (2 h^2)),

O(n^2 d) per step. Both evaluators here return the same quantity from fewer kernel entries
(``KnewImputer(approx=...)``, the factor 1/n and everything else unchanged):

``"knn"`` (the k nearest exactly, the rest estimated). With the paper's bandwidth h = 0.5 on
z-scored data the RBF kernel is local: ``K_ij = exp(-2 ||x_i - x_j||^2)`` is below 1e-8 once
``||x_i - x_j||^2 > 9.2``. The sum over j is split at ``N_k(i)``, the k nearest particles of i
(itself included, in Euclidean distance over all columns), which carry its largest terms:

    sum_j K_ij y_j = sum_{j in N_k(i)} K_ij y_j + sum_{j not in N_k(i)} K_ij y_j,   y_j in {s_j, x_i - x_j}.

The first sum is computed exactly. The second is estimated from a uniform draw B of ``far`` = m
particles per step, shared by all i (P(j in B) = m/n), by ``(n/m) sum_{j in B, j not in N_k(i)}
K_ij y_j``: unbiased, so G_i is too, at O(n m d) per step. With ``far=0`` the second sum is
dropped (a truncated kernel, deterministic): harmless while the k nearest hold nearly all of a
particle's kernel mass ``sum_j K_ij``, but at a fixed density that mass, the number of particles
within about 2h, grows in proportion to n while k stays fixed, so the share dropped grows with n.
The kernel values themselves are always those of the current positions; only the lists are
recomputed every ``refresh`` steps (the particles move). Between refreshes a step costs O(n k d).

The lists come from one of two searches. ``probes=None``: exact, one blocked pass over all
distances, O(n^2 d) per refresh, memory O(block x n). ``probes=P`` (an inverted-file search):
the particles are grouped by k-means into ``C = ceil(sqrt(n))`` clusters (Lloyd iterations
warm-started from the previous refresh's centroids, the first ones drawn from the imputer's
generator), and a particle of cluster c looks for its k nearest among the members of the P
clusters whose centroids are nearest c's own (c's included; more clusters, in the same order,
while they hold fewer than k particles). About ``P n / C`` candidates per particle: O(P n^1.5 d)
per refresh instead of O(n^2 d), and exact when ``P >= C``. A near particle it misses sits past a
cluster boundary beyond P clusters; its term is then left to the far estimate, which stays
unbiased whatever the lists hold (stale or approximate lists cost variance, not bias).

``"minibatch"`` (unbiased random estimate). Each step draws, from the imputer's torch generator,
a uniform subset B of m of the n particles, shared by all particles i, and estimates every
off-diagonal sum by its importance-weighted subset sum (P(j in B) = m/n):

    sum_{j != i} K_ij y_j ~= (n/m) sum_{j in B, j != i} K_ij y_j,     y_j in {s_j, x_j, 1},

while the diagonal term (K_ii = 1: s_i in the score sum, nothing in the kernel-gradient sum) is
kept exactly. The estimate is unbiased for G_i, costs O(n m d) per step, and its variance is
large when, as here, a particle's kernel mass sits on a few neighbours that B rarely holds; the
"knn" estimator above is the same draw with those nearest terms taken out of it and computed
exactly. ``scripts/bench_scale.py`` measures both against the exact kernel.

``score_batch`` (``KnewImputer``, knewimp.score.fit_score) makes the other O(n) part of a run,
the DSM fit, independent of n: each epoch's Adam step takes the DSM loss over a fresh uniform draw
of b rows without replacement, an unbiased estimate of the all-rows loss and of its gradient, so
the fit keeps the paper's number of gradient steps at O(b) each. With b >= n it is the full fit.

Random Fourier features (``K ~= Phi Phi^T`` with ``Phi = sqrt(2/D) cos(X W + b)``) are not offered:
each estimated ``K_ij`` carries an error of order ``1/sqrt(D)`` whatever its true value, so a row
sum over n particles carries one of order ``sqrt(n/D)``, against a true sum (the particle's kernel
mass) that is of order 1 for a particle in a sparse region: keeping those particles' directions
needs D of order n, an O(n^2) step again, where the estimator above keeps every particle's
nearest terms exact.
"""
from __future__ import annotations

import math

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
    ``refresh`` calls, found exactly (``probes=None``) or among ``probes`` k-means clusters, plus,
    with ``far`` > 0, an unbiased estimate of the rest from ``far`` random particles per call
    (see the module docstring)."""

    KMEANS_ITERATIONS = (8, 2)  # Lloyd iterations at the first search, then warm-started at each refresh

    def __init__(self, bandwidth: float, entropy_weight: float, k: int, refresh: int, block_size: int | None = None,
                 probes: int | None = None, generator: torch.Generator | None = None, far: int = 0):
        self.bandwidth, self.entropy_weight = float(bandwidth), float(entropy_weight)
        self.k, self.refresh, self.block_size = int(k), int(refresh), block_size
        self.probes, self.generator = (None if probes is None else int(probes)), generator
        self.far = int(far)
        self.calls = 0
        self.refreshes = 0
        self._idx: torch.Tensor | None = None
        self._centroids: torch.Tensor | None = None

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

    def _kmeans(self, X: torch.Tensor, sqn: torch.Tensor) -> torch.Tensor:
        """Cluster of each row of X after Lloyd iterations warm-started from the last centroids."""
        n = X.shape[0]
        n_clusters = max(1, math.ceil(math.sqrt(n)))
        first = self._centroids is None or self._centroids.shape != (n_clusters, X.shape[1])
        if first:
            gen = self.generator
            pick = torch.randperm(n, generator=gen, device=gen.device if gen is not None else X.device)[:n_clusters]
            self._centroids = X.index_select(0, pick.to(X.device)).clone()
        C = self._centroids
        for _ in range(self.KMEANS_ITERATIONS[0 if first else 1]):
            assign = torch.addmm(C.square().sum(dim=1).unsqueeze(0), X, C.T, alpha=-2.0).argmin(dim=1)
            counts = torch.bincount(assign, minlength=n_clusters)
            sums = torch.zeros_like(C).index_add_(0, assign, X)
            filled = counts > 0  # an empty cluster keeps its centroid
            C[filled] = sums[filled] / counts[filled].unsqueeze(1).to(X.dtype)
        return torch.addmm(C.square().sum(dim=1).unsqueeze(0), X, C.T, alpha=-2.0).argmin(dim=1)

    def neighbours_ivf(self, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """As :meth:`neighbours` for the rows ``rows`` of X, searched among ``probes`` clusters."""
        n = X.shape[0]
        m, k = int(rows.numel()), min(self.k, n)
        sqn = X.square().sum(dim=1)
        assign = self._kmeans(X, sqn)
        n_clusters = self._centroids.shape[0]
        counts = torch.bincount(assign, minlength=n_clusters)
        order = torch.argsort(assign, stable=True)
        members = torch.split(order, counts.tolist())
        near = torch.cdist(self._centroids, self._centroids).argsort(dim=1)
        q_assign = assign.index_select(0, rows)
        q_counts = torch.bincount(q_assign, minlength=n_clusters).tolist()
        q_order = torch.split(torch.argsort(q_assign, stable=True), q_counts)
        idx = torch.empty((m, k), dtype=torch.long, device=X.device)
        for c in range(n_clusters):
            if not q_counts[c]:
                continue
            probe = torch.cat([torch.tensor([c], device=X.device), near[c][near[c] != c]])
            held = counts.index_select(0, probe).cumsum(0)
            used = max(self.probes, int(torch.searchsorted(held, k)) + 1)
            cand = torch.cat([members[j] for j in probe[:used].tolist()])
            q = rows.index_select(0, q_order[c])
            D = torch.addmm(sqn.index_select(0, cand).unsqueeze(0), X.index_select(0, q), X.index_select(0, cand).T,
                            alpha=-2.0)
            idx[q_order[c]] = cand[D.topk(k, dim=1, largest=False, sorted=False).indices]
        self.refreshes += 1
        return idx

    def __call__(self, X: torch.Tensor, S: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        n, d = X.shape
        Xr = X if rows is None else X.index_select(0, rows)
        m = Xr.shape[0]
        if self._idx is None or self._idx.shape[0] != m or self.calls % self.refresh == 0:
            if self.probes is None:
                self._idx = self.neighbours(X, Xr)
            else:
                all_rows = torch.arange(n, device=X.device) if rows is None else rows
                self._idx = self.neighbours_ivf(X, all_rows)
        self.calls += 1
        k = self._idx.shape[1]
        gamma = 1.0 / (2.0 * self.bandwidth**2)
        far = min(self.far, n)
        Y = torch.cat([X, S], dim=1)                        # one gather per neighbour: [x_j | s_j]
        sqn = X.square().sum(dim=1)
        sqr = sqn if rows is None else sqn.index_select(0, rows)
        if far:  # this step's random particles B for the kernel sums beyond each particle's k nearest
            gen = self.generator
            B = torch.randperm(n, generator=gen, device=gen.device if gen is not None else X.device)[:far].to(X.device)
            in_B = torch.zeros(n, dtype=X.dtype, device=X.device).index_fill_(0, B, 1.0)
            XB = X.index_select(0, B)
            YB = torch.cat([XB, S.index_select(0, B), torch.ones((far, 1), dtype=X.dtype, device=X.device)], dim=1)
            sqB, scale = XB.square().sum(dim=1), n / far
        G = torch.empty((m, d), dtype=X.dtype, device=X.device)
        block = int(max(1, min(m, (8 * 2**20) // max(1, k * 2 * d * X.element_size()))))  # ~8 MB per gather
        for start in range(0, m, block):
            stop = min(start + block, m)
            nb = self._idx[start:stop]
            Xb, sqb = Xr[start:stop], sqr[start:stop].unsqueeze(1)
            Ynb = Y[nb]                                                              # (b, k, 2d)
            dots = torch.bmm(Ynb[..., :d], Xb.unsqueeze(2)).squeeze(2)               # x_i . x_j
            W = (sqn[nb] + sqb - 2.0 * dots).mul_(-gamma).exp_()                     # K_ij, j in N_k(i)
            if far:
                # a near j drawn into B is already counted exactly: its far-sum term is taken back
                W.mul_(1.0 - scale * in_B[nb])
            WY = torch.bmm(W.unsqueeze(1), Ynb).squeeze(1)                           # [sum W x_j | sum W s_j]
            KX, KS, rowsum = WY[:, :d], WY[:, d:], W.sum(dim=1, keepdim=True)
            if far:
                KB = torch.addmm(sqB.unsqueeze(0), Xb, XB.T, beta=-gamma, alpha=2.0 * gamma)
                KY = KB.sub_(sqb, alpha=gamma).exp_() @ YB                           # (b, 2d + 1) over B
                KX = KX + scale * KY[:, :d]
                KS = KS + scale * KY[:, d:2 * d]
                rowsum = rowsum + scale * KY[:, 2 * d:]
            _assemble(Xb, KS, KX, rowsum, self.entropy_weight / self.bandwidth**2, n, G[start:stop])
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
                          generator: torch.Generator, block_size: int | None = None, probes: int | None = None,
                          far: int = 0):
    """The evaluator of approximation ``approx`` (one of :data:`APPROXIMATIONS`)."""
    if approx == "knn":
        # its own stream, seeded from the imputer's: the search leaves the DSM noise draws as they are
        own = torch.Generator(device=generator.device).manual_seed((generator.initial_seed() + 1) % 2**63)
        return KNNDirection(bandwidth, entropy_weight, size, refresh, block_size, probes, own, far)
    if approx == "minibatch":
        return MinibatchDirection(bandwidth, entropy_weight, size, generator, block_size)
    raise ValueError(f"approx must be one of None, {', '.join(APPROXIMATIONS)}; got {approx!r}")
