"""MIRACLE: causally-aware imputation refinement (Kyono, Zhang, Bellot & van der Schaar, NeurIPS 2021).

Inputs. The data x (n x p, observed where m = 1) are seed-imputed (column mean or median) and
extended by one indicator r_k = m_{:, j_k} for each of the q columns j_1 < ... < j_q that have a
missing value: u = [x_seed, r] in R^D, D = p + q.

Network. For each input i = 1..D a sub-network predicts u_i from the features only:

    a_i = elu(u (W_i o S_i) + b_i),    g_i = elu(a_i V + c),    f_i(u) = g_i . w_i + e_i,

with W_i in R^{D x H} (H = ``n_hidden``), the mask S_i zeroing row i and every indicator row (so
f_i never sees u_i nor any r), V, c shared by all sub-networks, w_i, e_i per input.

Loss on a batch B (rho = alpha = 1, as in the original):

    L = (1/|B|) sum_b [ sum_{j<=p} m_bj (x_bj - f_j)^2 + sum_k BCE(r_bk, sigmoid(f_{p+k})) ]
        + reg_beta * sum_i sum_{j<=p, j!=i} ||W_i[j, :]||_2                       (group lasso)
        + rho/2 * h^2 + alpha * h,   h = tr(exp(A)) - D,  A_ji = ||W_i[j, :]||_2^2   (NOTEARS)
        + reg_m * sum_k (mean_b f_{j_k} - sum_b m_b,j_k x_b,j_k / pi_bk / sum_b 1/pi_bk)^2
        + reg_lambda * rho * sum_b sum_{j<=p} m_bj (x_bj - f_j)^2,

where pi_bk = (sigmoid(f_{p+k}) + 1.01) / 1.02 is the original code's propensity for the moment
term (its formula, kept as is). The exponential is computed exactly (the original truncates its
power series after 24 terms; the difference is below float32 resolution for these weights).

Refinement. Epochs s = 1..n_epochs (the original's ``max_steps`` = n_epochs + 1). From epoch
window + 1 on, before training, the missing entries of x are replaced by the mean of the last
``window`` reconstructions f(u); after each epoch's Adam steps the reconstruction of all rows is
appended to that window. The imputation is the mean of the last ``window`` reconstructions.

Mini-batches. By default every epoch visits every row once: contiguous blocks of a fresh
permutation, the last block partial, each block's observation mask taken from the same rows.
``legacy_batches=True`` reproduces the original code's loop instead: blocks 1..floor(n / batch)
of the permutation (block 0 is never used; the last, partial block is, and an empty one gives a
step on the regularisers alone, as TensorFlow does with an empty batch), with the mask rows
taken UNSHUFFLED (rows s*batch.. of the mask, not those of the data). With n < batch_size this
takes no gradient step at all: the imputation is then the average output of the untrained
network.

Initialisation as the original: W_i, b_i ~ 0.01 N(0, 1); V, c, w_i, e_i ~ N(0, 1) (the original
draws the per-input tensors with one fixed op seed, making them identical copies; here each is
an independent draw).
"""
from __future__ import annotations

import numpy as np

from knewimp.base import BaseImputer, ImputationError, check_counts, resolve_device
from knewimp.progress import Progress

SEED_IMPUTATIONS = ("mean", "median")
_RHO = 1.0  # augmented-Lagrangian weights, fixed in the original
_ALPHA = 1.0


class _MIRACLENet:
    """All D sub-networks at once: first layers as one (D, D, H) tensor, masked."""

    def __init__(self, p: int, q: int, hidden: int, generator, device):
        import torch

        D = p + q
        self.p, self.q, self.D = p, q, D

        def normal(*shape, scale=1.0):
            t = torch.empty(shape).normal_(0.0, 1.0, generator=generator) * scale
            return t.to(device).requires_grad_()

        self.W0 = normal(D, D, hidden, scale=0.01)  # W0[i, j] = weights from input j into sub-network i
        self.b0 = normal(D, hidden, scale=0.01)
        self.V, self.c = normal(hidden, hidden), normal(hidden)
        self.w_out, self.e_out = normal(D, hidden), normal(D)
        allowed = torch.ones(D, D, dtype=torch.bool)
        allowed[:, p:] = False  # no sub-network sees an indicator
        allowed.fill_diagonal_(False)  # nor its own input
        self.allowed = allowed.to(device)  # allowed[i, j]: input j feeds sub-network i

    def parameters(self):
        return [self.W0, self.b0, self.V, self.c, self.w_out, self.e_out]

    def first_layer(self):
        return self.W0 * self.allowed[:, :, None]

    def __call__(self, u):
        import torch.nn.functional as F
        import torch

        a = F.elu(torch.einsum("bj,ijh->bih", u, self.first_layer()) + self.b0)
        g = F.elu(a @ self.V + self.c)
        return (g * self.w_out).sum(-1) + self.e_out

    def regularisers(self, reg_beta: float):
        """reg_beta * group lasso + rho/2 h^2 + alpha h (the terms that do not depend on data)."""
        import torch

        sumsq = (self.first_layer() ** 2).sum(-1)  # (D, D): A^T of the module docstring
        # the square root only where the weight may be non-zero: no infinite gradient at 0
        lasso = torch.sqrt(torch.where(self.allowed, sumsq, torch.ones_like(sumsq)))[self.allowed].sum()
        h = torch.linalg.matrix_exp(sumsq).diagonal().sum() - self.D
        return reg_beta * lasso + 0.5 * _RHO * h * h + _ALPHA * h

    def regularisers_and_grad(self, reg_beta: float):
        """:meth:`regularisers` and its gradient with respect to ``W0``, without autograd.

        With S = sumsq (S_ij = ||W0[i, j, :]||^2 where allowed, 0 elsewhere) and E = exp(S),
        d tr(exp S) / dS = E^T (so one matrix exponential, not the block exponential of its
        autograd derivative), d sqrt(S_ij) / dS_ij = 1 / (2 sqrt(S_ij)), and dS_ij / dW0[i, j, :]
        = 2 W0[i, j, :] where allowed (0 elsewhere):

            d reg / d W0[i, j, :] = 2 W0[i, j, :] (reg_beta / (2 sqrt(S_ij)) + (rho h + alpha) E_ji)."""
        import torch

        with torch.no_grad():
            Wm = self.first_layer()
            sumsq = (Wm * Wm).sum(-1)
            root = torch.sqrt(torch.where(self.allowed, sumsq, torch.ones_like(sumsq)))
            lasso = root[self.allowed].sum()
            E = torch.linalg.matrix_exp(sumsq)
            h = E.diagonal().sum() - self.D
            value = reg_beta * lasso + 0.5 * _RHO * h * h + _ALPHA * h
            coef = (0.5 * reg_beta) / root + (_RHO * h + _ALPHA) * E.t()
            return value, (2.0 * Wm) * coef.unsqueeze(-1)


class MIRACLEImputer(BaseImputer):
    """Refinement of a seed imputation by a causally regularised network.

    Parameters
    ----------
    n_epochs : int
        Refinement epochs (the original's ``max_steps`` minus 1).
    batch_size : int
        Rows per Adam step.
    lr : float
        Adam learning rate.
    n_hidden : int
        Width H of each sub-network's first layer and of the shared layer.
    reg_lambda, reg_beta, reg_m : float
        Weights of the summed supervised loss, the group lasso and the moment term.
    window : int
        Reconstructions averaged, both for the running refinement and for the output.
    seed_imputation : {"mean", "median"}
        Initial fill of the missing entries.
    legacy_batches : bool
        Use the original code's mini-batch loop (see the module docstring): first block of
        every epoch skipped, no step at all when n < batch_size, mask rows not shuffled with
        the data. Off by default; for reproducing what the original code computed.

    Fitted attributes: ``n_steps_`` (Adam steps taken), ``losses_`` (mean loss per epoch,
    NaN for an epoch without a step), ``n_indicators_``.
    """

    def __init__(self, n_epochs: int = 399, batch_size: int = 32, lr: float = 1e-3, n_hidden: int = 32,
                 reg_lambda: float = 1.0, reg_beta: float = 1.0, reg_m: float = 1.0, window: int = 10,
                 seed_imputation: str = "mean", legacy_batches: bool = False, random_state: int | None = None,
                 device: str = "auto",
                 standardize: bool = True, num_threads: int | None = 1):
        super().__init__(random_state=random_state, device=device)
        self.standardize = standardize
        self.num_threads = num_threads
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_hidden = n_hidden
        self.reg_lambda = reg_lambda
        self.reg_beta = reg_beta
        self.reg_m = reg_m
        self.window = window
        self.seed_imputation = seed_imputation
        self.legacy_batches = legacy_batches

    def _validate_params(self) -> None:
        super()._validate_params()
        check_counts(n_epochs=self.n_epochs, batch_size=self.batch_size, n_hidden=self.n_hidden, window=self.window)
        if not float(self.lr) > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name in ("reg_lambda", "reg_beta", "reg_m"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.seed_imputation not in SEED_IMPUTATIONS:
            raise ValueError(f"unknown seed_imputation {self.seed_imputation!r}; "
                             f"valid choices: {', '.join(SEED_IMPUTATIONS)}")
        if not isinstance(self.legacy_batches, (bool, np.bool_)):
            raise ValueError(f"legacy_batches must be True or False, got {self.legacy_batches!r}")

    def _batches(self, n: int, rng: np.random.Generator):
        """(data rows, mask rows) of each step of one epoch."""
        B = int(self.batch_size)
        perm = rng.permutation(n)
        if not self.legacy_batches:
            return [(perm[s:s + B], perm[s:s + B]) for s in range(0, n, B)]
        rows = np.arange(n)
        return [(perm[s * B:(s + 1) * B], rows[s * B:(s + 1) * B]) for s in range(1, n // B + 1)]

    def _loss(self, net: _MIRACLENet, u, m, missing_cols):
        """Data terms of the loss on one batch (u: inputs, m: observation mask of the features)."""
        import torch
        import torch.nn.functional as F

        p = net.p
        out = net(u)
        sq = (m * u[:, :p] - m * out[:, :p]) ** 2
        bce = F.binary_cross_entropy_with_logits(out[:, p:], u[:, p:], reduction="none")
        per_row = torch.cat([sq, bce], dim=1).sum(1).mean()
        weight = 1.0 / ((torch.sigmoid(out[:, p:]) + 1.01) / 1.02)  # (B, q)
        x_obs = (u[:, missing_cols] * m[:, missing_cols])
        moment = ((out[:, missing_cols].mean(0) - (x_obs * weight).sum(0) / weight.sum(0)) ** 2).sum()
        return per_row + float(self.reg_m) * moment + float(self.reg_lambda) * _RHO * sq.sum()

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        from knewimp.baselines.steps import MultiTensorAdam

        self._validate_params()
        n, p = X.shape
        device = resolve_device(self.device)
        rng = self._rng()
        init_gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        dtype = torch.float32

        missing_cols = np.flatnonzero(mask.any(axis=0))
        q = len(missing_cols)
        self.n_indicators_ = q
        seed = np.nanmean(X, axis=0) if self.seed_imputation == "mean" else np.nanmedian(X, axis=0)
        filled = np.where(mask, seed, X)
        indicators = (~mask[:, missing_cols]).astype(np.float64)
        u = torch.as_tensor(np.concatenate([filled, indicators], axis=1), dtype=dtype, device=device)
        m = torch.as_tensor(~mask, dtype=dtype, device=device)
        miss = torch.as_tensor(mask, device=device)
        cols = torch.as_tensor(missing_cols, device=device)

        net = _MIRACLENet(p, q, int(self.n_hidden), init_gen, device)
        # torch.optim.Adam(foreach=True)'s arithmetic without its per-step bookkeeping
        opt = MultiTensorAdam(net.parameters(), lr=float(self.lr))
        reg_beta, window = float(self.reg_beta), int(self.window)
        recent: list = []
        losses = np.full(int(self.n_epochs), np.nan)
        self.n_steps_ = 0
        progress = Progress("miracle", int(self.n_epochs))
        for epoch in range(1, int(self.n_epochs) + 1):
            if epoch > window:
                refined = torch.stack(recent).mean(0)[:, :p]
                u = torch.cat([torch.where(miss, refined, u[:, :p]), u[:, p:]], dim=1)
            total, steps = torch.zeros((), dtype=torch.float64, device=device), 0
            for data_rows, mask_rows in self._batches(n, rng):
                # the data terms by autograd, the regularisers' gradient in closed form, added to W0's
                loss, g_W0 = net.regularisers_and_grad(reg_beta)
                opt.zero_grad()
                if len(data_rows):
                    idx = torch.from_numpy(data_rows).to(device)
                    rows_m = torch.from_numpy(mask_rows).to(device) if self.legacy_batches else idx
                    data = self._loss(net, u[idx], m[rows_m], cols)
                    data.backward()
                    net.W0.grad.add_(g_W0)
                    loss = loss + data.detach()
                else:  # a step on the regularisers alone: only W0 has a gradient
                    net.W0.grad = g_W0
                opt.step()
                total, steps = total + loss, steps + 1  # read once per epoch: no host sync per step
            self.n_steps_ += steps
            if steps:
                losses[epoch - 1] = total.item() / steps
                if not np.isfinite(losses[epoch - 1]):
                    progress.close()
                    raise ImputationError(f"MIRACLE loss became non-finite at epoch {epoch}")
            with torch.no_grad():
                recent = (recent + [net(u)])[-window:]
            progress.update()
        progress.close()
        self.losses_ = losses
        return torch.stack(recent).mean(0)[:, :p].double().cpu().numpy()
