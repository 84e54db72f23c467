"""TDM: Transformed Distribution Matching imputation (Zhao et al., ICML 2023).

The missing entries Z are free parameters. Two random batches of rows, each drawn without
replacement, should look like samples from the same distribution once mapped through an
invertible network f (a RealNVP, :mod:`knewimp.baselines.realnvp`). Each iteration minimises the exact
optimal-transport cost between the mapped batches, with uniform weights,

    L(Z, f) = min_{P in U(1/B, 1/B)} sum_ij P_ij C(f(x_i), f(x'_j)),

over both Z and f (two optimisers, same loss; POT's ``emd2`` gives the gradient through the
cost matrix, which is the optimal plan). Published cost: C = Euclidean distance (not squared).
Z starts at the column means plus ``noise`` * N(0, 1). The imputation is Z after ``n_iter``
steps (transductive).
"""
from __future__ import annotations

import numpy as np

from knewimp.base import BaseImputer, ImputationError, as_float, check_counts, resolve_device
from knewimp.progress import Progress

COSTS = ("euclidean", "sqeuclidean", "sqeuclidean_maxnorm")
OPTIMIZERS = ("rmsprop", "adam")


class TDMImputer(BaseImputer):
    """Transformed distribution matching with a RealNVP projector.

    Parameters
    ----------
    n_iter : int
        Gradient steps (one pair of batches each).
    batch_size : int
        Rows per batch; capped at n // 2 (the fitted value is ``batch_size_``).
    depth : int
        Number of RealNVP coupling blocks.
    width : int or None
        Hidden width of every coupling subnet; ``None`` means 2 * d (published).
    cost : {"euclidean", "sqeuclidean", "sqeuclidean_maxnorm"}
        Ground cost between mapped points; ``sqeuclidean_maxnorm`` is the squared distance
        divided by its largest entry in the batch (the KnewImp group's choice).
    optimizer : {"rmsprop", "adam"}
        Optimiser used for both the imputations and the projector.
    lr : float
        Learning rate of both optimisers.
    noise : float
        Standard deviation of the noise added to the column means at initialisation.
    clamp : float
        Soft clamp of the coupling log-scales.
    random_state, device, standardize, num_threads
        See :class:`knewimp.base.BaseImputer` (``standardize=True``: the transport runs in
        z-scores of the observed entries; ``noise`` and ``lr`` are in those units).

    Needs POT (``pip install POT``, or ``knewimp[bench]``) for its exact transport cost.

    Fitted attributes: ``n_iter_``, ``batch_size_``, ``width_``, ``losses_`` (per step),
    ``projector_`` (the trained RealNVP).
    """

    def __init__(self, n_iter: int = 10_000, batch_size: int = 64, depth: int = 3, width: int | None = None,
                 cost: str = "euclidean", optimizer: str = "rmsprop", lr: float = 1e-2, noise: float = 0.1,
                 clamp: float = 2.0, random_state: int | None = None, device: str = "auto",
                 standardize: bool = True, num_threads: int | None = 1):
        super().__init__(random_state=random_state, device=device)
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.depth = depth
        self.width = width
        self.cost = cost
        self.optimizer = optimizer
        self.lr = lr
        self.noise = noise
        self.clamp = clamp
        self.standardize = standardize
        self.num_threads = num_threads

    _optional_int_params = ("width",)  # None: 2 * d

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.cost not in COSTS:
            raise ValueError(f"unknown cost {self.cost!r}; valid choices: {', '.join(COSTS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid choices: {', '.join(OPTIMIZERS)}")
        check_counts(n_iter=self.n_iter, batch_size=self.batch_size, depth=self.depth)
        if self.width is not None and not as_float(self.width) >= 1:
            raise ValueError(f"width must be >= 1 or None (= 2 * d), got {self.width!r}")
        if not as_float(self.lr) > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not as_float(self.noise) >= 0 or not as_float(self.clamp) > 0:
            raise ValueError(f"need noise >= 0 and clamp > 0, got noise={self.noise!r}, clamp={self.clamp!r}")

    def _cost_matrix(self, a, b):
        import torch

        if self.cost == "euclidean":
            # the direct (non-matmul) kernel: exact zeros for shared rows, finite gradient there
            return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
        sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        if self.cost == "sqeuclidean":
            return sq
        return sq / sq.max()

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        try:
            import ot
        except ImportError:
            raise ImportError("TDMImputer needs POT for its exact transport cost: pip install POT "
                              "(or knewimp[bench])") from None
        import torch

        from knewimp.baselines.realnvp import RealNVP
        from knewimp.baselines.steps import MultiTensorAdam, MultiTensorRMSprop

        n, d = X.shape
        if d < 2:
            raise ValueError(f"TDM needs at least 2 columns (its coupling blocks split them), got {d}")
        if n < 4:
            raise ValueError(f"TDM needs at least 4 rows (two batches of n // 2), got {n}")
        device = resolve_device(self.device)
        rng = self._rng()
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        self.batch_size_ = min(int(self.batch_size), n // 2)
        self.width_ = int(self.width) if self.width is not None else 2 * d

        means = np.nanmean(X, axis=0)
        init = np.where(mask, means + float(self.noise) * rng.standard_normal(X.shape), X)
        dtype = torch.float32
        X_obs = torch.as_tensor(np.nan_to_num(X), dtype=dtype, device=device)
        M = torch.as_tensor(mask, device=device)
        Z = torch.nn.Parameter(torch.as_tensor(init, dtype=dtype, device=device))
        projector = RealNVP(d, int(self.depth), self.width_, float(self.clamp), gen).to(device)

        opt_cls = MultiTensorRMSprop if self.optimizer == "rmsprop" else MultiTensorAdam
        # one multi-tensor update of Z and the projector's many small tensors per step: the
        # arithmetic of torch.optim's foreach optimisers (elementwise, so also that of one
        # optimiser per tensor group at the same lr), without its per-step bookkeeping
        opt = opt_cls([Z, *projector.parameters()], lr=float(self.lr))
        B = self.batch_size_
        w = torch.full((B,), 1.0 / B, dtype=torch.float64, device=device)
        losses = np.empty(int(self.n_iter))
        progress = Progress("tdm", int(self.n_iter))
        for it in range(int(self.n_iter)):
            idx = np.concatenate([rng.choice(n, B, replace=False), rng.choice(n, B, replace=False)])
            idx_t = torch.as_tensor(idx, device=device)
            # observed entries come from the data, so only Z's missing entries receive gradient
            rows = torch.where(M[idx_t], Z[idx_t], X_obs[idx_t])
            mapped = projector(rows)
            C = self._cost_matrix(mapped[:B], mapped[B:]).double()
            loss = ot.emd2(w, w, C)
            if not torch.isfinite(loss):
                progress.close()
                raise ImputationError(f"TDM loss became {loss.item()} at iteration {it}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[it] = loss.item()
            progress.update()
        progress.close()
        self.n_iter_ = int(self.n_iter)
        self.losses_ = losses
        self.projector_ = projector
        return Z.detach().cpu().double().numpy()
