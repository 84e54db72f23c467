"""Batch Sinkhorn imputation (Muzellec, Josse, Boyer & Cuturi, ICML 2020, Algorithm 1; "Sink").

The missing entries Z are free parameters. Two random batches of rows, each drawn without
replacement, should be indistinguishable in distribution, so each step minimises their
debiased Sinkhorn divergence

    S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2,
    OT_eps(a, b) = min_P <P, C> + eps KL(P | a x b),    C_ij = |x_i - y_j|^2 / 2,

with uniform weights, over Z (RMSprop). Z starts at the column means plus ``noise`` * N(0, 1).

The divergence follows the conventions of geomloss' ``SamplesLoss("sinkhorn", p=2, blur,
scaling)``, which the original code calls: the entropic strength is eps = blur^2, reached by
eps-scaling from the squared diameter of the two batches down to blur^2 by factors scaling^2,
with symmetric log-domain updates, one final extrapolation step that carries the gradient, and
OT_eps evaluated as the dual value <a, f> + <b, g> (envelope theorem: the potentials are
detached). The steps before the last are evaluated in base 2 (2^(log2(e) x) for exp(x)), and
the last one is differentiated in closed form (see ``_LastStep``): the same values up to
round-off, at a lower cost. The published default ``blur`` is picked from the
data: ``eps_mult`` (0.05) times the ``eps_quantile`` (median) of the halved pairwise squared
distances between mean-imputed rows (at most ``eps_max_points`` of them).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from knewimp.base import BaseImputer, ImputationError, as_float, check_counts, resolve_device
from knewimp.progress import Progress


def pick_blur(X_mean_filled: np.ndarray, quantile: float, mult: float, max_points: int, rng: np.random.Generator) -> float:
    """``mult`` times the ``quantile`` of the nonzero halved pairwise squared distances."""
    n = len(X_mean_filled)
    rows = X_mean_filled[rng.choice(n, min(max_points, n), replace=False)]
    sq = (rows * rows).sum(1)
    dists = np.maximum(sq[:, None] + sq[None, :] - 2 * rows @ rows.T, 0.0).ravel() / 2.0
    # identical rows are dropped (as in the reference); the expansion leaves round-off, not 0
    dists = dists[dists > 1e-12 * dists.max()]
    if dists.size == 0:
        raise ValueError("all mean-imputed rows are identical; set blur explicitly")
    # the k-th smallest with k = int(q * len), like the reference's kthvalue
    k = max(int(quantile * dists.size), 1)
    return float(np.partition(dists, k - 1)[k - 1] * mult)


def _half_sq_dists(a, b):
    """C[k, i, j] = |a[k, i] - b[k, j]|^2 / 2 for stacked point clouds."""
    # the explicit difference, not the |x|^2 + |y|^2 - 2xy expansion: exact zeros on the diagonal
    diff = a[:, :, None, :] - b[:, None, :, :]
    return diff.mul_(diff).sum(-1).div_(2)


# exp(x) < 1e-304 for x < -700 and 2^x < 1e-301 for x < -1000, where exp and exp2 leave their
# fast paths (subnormal and zero results cost several times a normal one). Each row of
# exp(t - max t) holds an exact 1, so its sum is the same double whether such terms are 0,
# subnormal or 1e-301: arguments are clamped there first.
_EXP_FLOOR, _EXP2_FLOOR = -700.0, -1000.0
_LOG2E, _LN2 = 1 / math.log(2), math.log(2)


def _log2sumexp2_(t, floor: float | None):
    """log2 sum_j 2^t_ij over the last dimension, shifted by the row maxima; overwrites ``t``;
    ``floor``: see above."""
    m = t.amax(-1, keepdim=True)
    t.sub_(m)
    if floor is not None:
        t.clamp_(min=floor)
    return t.exp2_().sum(-1).log2_().add_(m.squeeze(-1))


class _LastStep(torch.autograd.Function):
    """The last update and the divergence, S = mean(f_ba - f_aa) + mean(g_ab - g_bb) with
    f = -eps logsumexp_j(log w + (h_j - C_ij) / eps) per problem (``a``: the moving points of
    each problem, ``b`` its detached targets, ``C`` their costs, ``h`` the partner potentials).

    The gradient in closed form: dS/dC_ij = s P_ij / B for the plan P_ij = exp(t_ij - lse_i)
    (rows summing to 1; s = +1 for x->y and y->x, -1 for x->x and y->y) and dC_ij/da_i = a_i - b_j,
    so dS/da = s (a - P b) / B, one batched product instead of B x B x d differences."""

    @staticmethod
    def forward(ctx, a, b, C, h, eps, log_w):
        t = torch.sub(h[:, None, :], C).div_(eps).add_(log_w)
        m = t.amax(-1, keepdim=True)
        e = t.sub_(m).clamp_(min=_EXP_FLOOR).exp_()
        total = e.sum(-1)
        f_ba, g_ab, f_aa, g_bb = -eps * total.log().add_(m.squeeze(-1))
        ctx.save_for_backward(a, b, e, total)
        return (f_ba - f_aa).mean() + (g_ab - g_bb).mean()

    @staticmethod
    def backward(ctx, grad):
        a, b, e, total = ctx.saved_tensors
        plan = e.div_(total[..., None])
        sign = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=a.dtype, device=a.device)
        da = torch.baddbmm(a, plan, b, alpha=-1).mul_((sign * (grad / a.shape[1]))[:, None, None])
        return da, None, None, None, None, None


def eps_schedule(diameter: float, blur: float, scaling: float) -> list[float]:
    """geomloss' eps-scaling: diameter^2, exp(2 log diameter + 2k log scaling) for k = 0, 1, ...
    while above blur^2, then blur^2 (the first two coincide, as there)."""
    steps = np.arange(2 * math.log(diameter), 2 * math.log(blur), 2 * math.log(scaling))
    return [diameter**2, *(math.exp(e) for e in steps.tolist()), blur**2]


def sinkhorn_divergence(x, y, blur: float, scaling: float = 0.9):
    """Debiased Sinkhorn divergence between uniform point clouds ``x`` and ``y`` of equal size.

    With w = 1/B and softmin_eps(h)_i = -eps log sum_j w exp((h_j - C_ij) / eps), the four
    potentials f_ba (cost x->y), g_ab (y->x), f_aa (x->x), g_bb (y->y) start at softmin(0) at
    eps_0 and are updated, for each eps of :func:`eps_schedule`, all at once by
    f <- (f + softmin_eps(partner potential)) / 2 (f_ba with g_ab, f_aa and g_bb with themselves).
    A last update at blur^2, with the potentials detached, gives
    S = mean(f_ba - f_aa) + mean(g_ab - g_bb), differentiable in ``x`` and ``y`` through the costs.
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    B = len(x)
    log_w = -math.log(B)
    # One side of every cost detached (as geomloss does): by the envelope theorem the gradient
    # of the dual value w.r.t. x is sum_j P_ij dC(x_i, y_j)/dx_i, which the x-side alone gives;
    # letting it also flow through the other side would count it twice.
    xd, yd = x.detach(), y.detach()
    # the four problems (x->y, y->x, x->x, y->y) stacked, so each Sinkhorn step is one logsumexp
    a, b = torch.stack([xd, yd, xd, yd]), torch.stack([yd, xd, xd, yd])
    partner = torch.tensor([1, 0, 2, 3], device=x.device)

    with torch.no_grad():
        both = torch.cat([xd, yd])
        diameter = max(float((both.max(0).values - both.min(0).values).norm()), blur)
        eps_list = eps_schedule(diameter, blur, scaling)
        # y->x costs are the x->y costs transposed, to the bit ((u - v)^2 = (v - u)^2)
        C_xy, C_xx, C_yy = _half_sq_dists(a[[0, 2, 3]], b[[0, 2, 3]])
        Cd = torch.stack([C_xy, C_xy.T, C_xx, C_yy])
        # exp's argument is >= -(max C + range of the potentials) / eps, both about max C
        reach = 2 * float(Cd.max())
        t = torch.empty_like(Cd)  # one buffer for every step
        h = torch.zeros_like(Cd[:, 0, :])
        log2_w = torch.full_like(h, _LOG2E * log_w)
        pot = None
        for eps in eps_list[:1] + eps_list:
            # in base 2 (exp2 is cheaper than exp), one pass over the costs:
            # t_ij = log2(e) ((h_j - C_ij) / eps + log w) = hs_j - k C_ij, softmin = -eps ln 2 log2 sum 2^t
            k = _LOG2E / eps
            torch.sub(torch.add(log2_w, h, alpha=k)[:, None, :], Cd, alpha=k, out=t)
            lse2 = _log2sumexp2_(t, _EXP2_FLOOR if reach * k > -_EXP2_FLOOR else None)
            if pot is None:
                pot = lse2.mul_(-eps * _LN2)
            else:  # symmetric (averaged) updates
                pot = pot.add_(lse2, alpha=-eps * _LN2).div_(2)
            torch.index_select(pot, 0, partner, out=h)
    # the last update carries the gradient, through the costs only (potentials detached)
    eps = eps_list[-1]
    return _LastStep.apply(torch.stack([x, y, x, y]), b, Cd, h, eps, log_w)


class SinkhornImputer(BaseImputer):
    """Muzellec et al.'s batch Sinkhorn imputer ("one parameter equals one imputed value").

    Parameters
    ----------
    n_iter : int
        Gradient steps (one pair of batches each).
    batch_size : int
        Rows per batch; if above n // 2 it becomes the largest power of two <= n // 2, as in
        the reference code (the value used is ``batch_size_``).
    lr : float
        RMSprop learning rate.
    noise : float
        Standard deviation of the noise added to the column means at initialisation.
    blur : float or None
        geomloss-style blur (eps = blur^2); ``None`` picks it from the data (see module).
    eps_quantile, eps_mult, eps_max_points
        The data-driven choice of ``blur`` (published: 0.5, 0.05, 2000).
    scaling : float
        eps-scaling factor of the Sinkhorn iterations.
    random_state, device, standardize, num_threads
        See :class:`knewimp.base.BaseImputer` (``standardize=True``: the divergence is computed
        in z-scores of the observed entries; ``lr`` and ``noise`` are in those units).

    Fitted attributes: ``n_iter_``, ``batch_size_``, ``blur_``, ``losses_``.
    """

    def __init__(self, n_iter: int = 2000, batch_size: int = 128, lr: float = 1e-2, noise: float = 0.1,
                 blur: float | None = None, eps_quantile: float = 0.5, eps_mult: float = 0.05,
                 eps_max_points: int = 2000, scaling: float = 0.9, random_state: int | None = None,
                 device: str = "auto", standardize: bool = True, num_threads: int | None = 1):
        super().__init__(random_state=random_state, device=device)
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.lr = lr
        self.noise = noise
        self.blur = blur
        self.eps_quantile = eps_quantile
        self.eps_mult = eps_mult
        self.eps_max_points = eps_max_points
        self.scaling = scaling
        self.standardize = standardize
        self.num_threads = num_threads

    _optional_real_params = ("blur",)  # None: picked from the data

    def _validate_params(self) -> None:
        super()._validate_params()
        check_counts(n_iter=self.n_iter, batch_size=self.batch_size, eps_max_points=self.eps_max_points)
        if self.blur is not None and not as_float(self.blur) > 0:
            raise ValueError(f"blur must be > 0 or None (picked from the data), got {self.blur!r}")
        if not 0 < as_float(self.eps_quantile) <= 1:
            raise ValueError(f"eps_quantile must be in (0, 1], got {self.eps_quantile!r}")
        if not 0 < as_float(self.scaling) < 1:
            raise ValueError(f"scaling must be in (0, 1), got {self.scaling!r}")
        if not as_float(self.lr) > 0 or not as_float(self.eps_mult) > 0:
            raise ValueError(f"lr and eps_mult must be > 0, got lr={self.lr!r}, eps_mult={self.eps_mult!r}")
        if not as_float(self.noise) >= 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        n, d = X.shape
        if n < 4:
            raise ValueError(f"Sinkhorn imputation needs at least 4 rows (two batches), got {n}")
        device = resolve_device(self.device)
        rng = self._rng()
        means = np.nanmean(X, axis=0)
        filled = np.where(mask, means, X)
        self.blur_ = float(self.blur) if self.blur is not None else pick_blur(
            filled, float(self.eps_quantile), float(self.eps_mult), int(self.eps_max_points), rng)
        B = int(self.batch_size)
        if B > n // 2:
            B = 2 ** int(math.log2(n // 2))
        self.batch_size_ = B

        dtype = torch.float64  # as the reference code
        init = np.where(mask, means + float(self.noise) * rng.standard_normal(X.shape), X)
        X_obs = torch.as_tensor(filled, dtype=dtype, device=device)
        M = torch.as_tensor(mask, device=device)
        Z = torch.as_tensor(init, dtype=dtype, device=device).requires_grad_()
        # torch.optim.RMSprop's single-tensor step (alpha 0.99, eps 1e-8), without its bookkeeping
        square_avg = torch.zeros_like(Z)
        lr, alpha = float(self.lr), 0.99
        losses = np.empty(int(self.n_iter))
        progress = Progress("sinkhorn", int(self.n_iter))
        for it in range(int(self.n_iter)):
            idx = np.concatenate([rng.choice(n, B, replace=False), rng.choice(n, B, replace=False)])
            idx_t = torch.as_tensor(idx, device=device)
            rows = torch.where(M[idx_t], Z[idx_t], X_obs[idx_t])
            loss = sinkhorn_divergence(rows[:B], rows[B:], self.blur_, float(self.scaling))
            losses[it] = loss.item()
            if not math.isfinite(losses[it]):
                progress.close()
                raise ImputationError(f"Sinkhorn loss became {losses[it]} at iteration {it}")
            Z.grad = None
            loss.backward()
            with torch.no_grad():
                g = Z.grad
                square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)
                Z.addcdiv_(g, square_avg.sqrt().add_(1e-8), value=-lr)
            progress.update()
        progress.close()
        self.n_iter_ = int(self.n_iter)
        self.losses_ = losses
        return Z.detach().cpu().numpy()
