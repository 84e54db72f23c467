"""Denoising score matching for :class:`knewimp.score.EnergyMLP` with hand-written gradients.

``fit_score`` runs one full-batch DSM step per epoch. Through autograd, the loss on the
closed-form score ``s(x) = -grad E(x)`` costs a graph of some sixty (n x H) elementwise kernels
and a per-parameter Adam. Written out, the same gradient needs about thirty, and Adam runs once
on one flat buffer holding every parameter. The arithmetic is the same up to rounding
(``tests/test_dsm_backward.py`` compares the gradients with autograd's, and the lockstep test with
the authors' code).

Notation (layers l = 1..L, ``W_l`` of shape (out, in), output weight ``w``, 1 x H_L):

    z_l = a_{l-1} W_l^T + b_l,  u_l = beta_l z_l,  s_l = sigmoid(u_l),  a_l = z_l s_l,
    p_l = s_l (1 - s_l),  d_l = swish'(z_l) = s_l + u_l p_l,  e_l = d d_l / d u_l = p_l (2 + u_l (1 - 2 s_l)).

With ``V_L = W_L * w^T`` (row k of W_L scaled by w_k) and ``V_l = W_l`` below it, the score is
``s = -(G_1 V_1)`` where ``G_L = d_L`` and ``G_{l-1} = (G_l V_l) * d_{l-1}``. Folding ``w`` into
``V_L`` saves two (n x H) products; the gradients of ``W_L`` and ``w`` come back from the one of
``V_L`` as ``dW_L = dV_L * w^T`` and ``dw = rowsum(dV_L * W_L)``.

Loss ``L = mean_i 1/2 ||r_i||^2`` with ``r = (s + v / sigma) * loss_mask`` (0/1 masks, so the
masked loss has the same derivative ``dL/ds = r / n``). Backward, first along the score chain
(``dV_l = G_l^T dh_{l-1}``, ``dG_l = dh_{l-1} V_l^T``, ``dh_l = dG_l * d_l``,
``dd_l = dG_l * h_l``), then down the forward chain:

    du_l = dd_l * e_l + da_l * z_l * p_l,   dz_l = du_l * beta_l + da_l * s_l,
    dbeta_l = colsum(du_l * z_l),   db_l = colsum(dz_l),   dW_l += dz_l^T a_{l-1},   da_{l-1} = dz_l W_l.

The output bias does not enter the score and gets no gradient; like ``torch.optim.Adam`` with
a ``None`` gradient, it is left out of the optimiser.
"""
from __future__ import annotations

import math

import torch

_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, the reference code's optimiser
_EPS = 1e-8


class ManualDSM:
    """A fresh Adam (lr ``lr``) over ``net``'s parameters and the hand-written DSM gradient.

    The parameters (all but the output bias) are moved into one flat buffer, each
    ``nn.Parameter`` becoming a view of it, so that Adam is six kernels whatever the depth. The
    update is ``torch.optim.Adam``'s (single-tensor, non-capturable) formula, elementwise, so it
    gives what that optimiser gives for the same gradients.
    """

    def __init__(self, net, lr: float = 1e-3):
        self.net = net
        self.lr = float(lr)
        params = [*net.weights, *net.biases, *net.betas, net.out_weight]
        first = params[0]
        total = sum(p.numel() for p in params)
        self.flat = torch.empty(total, dtype=first.dtype, device=first.device)
        self.grad = torch.zeros_like(self.flat)
        self._grads = {}
        offset = 0
        with torch.no_grad():
            for p in params:
                view = self.flat[offset:offset + p.numel()].view_as(p)
                view.copy_(p)
                p.data = view
                self._grads[id(p)] = self.grad[offset:offset + p.numel()].view_as(p)
                offset += p.numel()
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.steps = 0

    def grad_of(self, p: torch.Tensor) -> torch.Tensor:
        return self._grads[id(p)]

    @torch.no_grad()
    def step(self, x: torch.Tensor, noise: torch.Tensor, sigma: float, noise_mask: torch.Tensor | None = None,
             loss_mask: torch.Tensor | None = None) -> float:
        """One DSM epoch: loss and gradient at ``x`` with noise ``v``, then one Adam step; the loss."""
        loss = self.loss_and_grad(x, noise, sigma, noise_mask, loss_mask)
        self._adam()
        return loss

    @torch.no_grad()
    def loss_and_grad(self, x: torch.Tensor, noise: torch.Tensor, sigma: float,
                      noise_mask: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None) -> float:
        """The DSM loss (as :func:`knewimp.score.dsm_loss`) and its gradient, written to ``self.grad``."""
        net = self.net
        Ws = list(net.weights)
        bs = list(net.biases)
        betas = list(net.betas)
        w = net.out_weight
        L = len(Ws)
        x_noisy = x + sigma * noise if noise_mask is None else x + sigma * (noise * noise_mask)

        # forward: what the score and the backward pass need, layer by layer
        acts, zs, ss, ps, ds, es, zps = [x_noisy], [], [], [], [], [], []
        for l in range(L):
            z = torch.addmm(bs[l], acts[-1], Ws[l].T)
            u = z * betas[l]
            s = torch.sigmoid(u)
            p = torch.addcmul(s, s, s, value=-1.0)
            ds.append(torch.addcmul(s, u, p))
            e = torch.addcmul(u, u, s, value=-2.0)
            es.append(e.add_(2.0).mul_(p))
            if l < L - 1:
                acts.append(z * s)
                zps.append(z * p)
            zs.append(z)
            ss.append(s)
        V = Ws[:-1] + [Ws[-1] * w.T]
        Gs = [None] * L
        hs = [None] * L
        Gs[L - 1] = ds[L - 1]
        for l in range(L - 1, 0, -1):
            hs[l - 1] = Gs[l] @ V[l]
            Gs[l - 1] = hs[l - 1] * ds[l - 1]
        out = Gs[0] @ V[0]                       # s = -out
        r = torch.sub(noise / sigma, out)        # s + v / sigma
        if loss_mask is not None:
            r.mul_(loss_mask)
        loss = 0.5 * r.square().sum(dim=1).mean()

        # backward along the score chain: dV_l and dd_l
        dh = r.mul_(-1.0 / x.shape[0])           # dL/d out
        dV = [None] * L
        dds = [None] * L
        for l in range(L):
            if l < L - 1:
                dV[l] = self.grad_of(Ws[l])
                torch.mm(Gs[l].T, dh, out=dV[l])
            else:
                dV[l] = Gs[l].T @ dh
            dG = dh @ V[l].T
            if l < L - 1:
                dds[l] = dG * hs[l]
                dh = dG.mul_(ds[l])
            else:
                dds[l] = dG
        gW_last = self.grad_of(Ws[-1])
        torch.mul(dV[-1], w.T, out=gW_last)
        torch.sum(dV[-1].mul_(Ws[-1]), dim=1, out=self.grad_of(w).view(-1))

        # backward down the forward chain
        da = None
        for l in range(L - 1, -1, -1):
            du = dds[l].mul_(es[l])
            if da is not None:
                du.addcmul_(da, zps[l])
                dz = torch.addcmul(da * ss[l], du, betas[l])
            else:
                dz = du * betas[l]
            torch.sum(du.mul_(zs[l]), dim=0, out=self.grad_of(betas[l]))
            torch.sum(dz, dim=0, out=self.grad_of(bs[l]))
            self.grad_of(Ws[l]).addmm_(dz.T, acts[l])
            da = dz @ Ws[l] if l > 0 else None
        return float(loss)

    def _adam(self) -> None:
        self.steps += 1
        beta1, beta2 = _BETAS
        step_size = self.lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.steps)
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(_EPS)
        self.flat.addcdiv_(self.exp_avg, denom, value=-step_size)
