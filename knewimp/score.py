"""Energy network and denoising score matching (DSM) for KnewImp.

The density model is an energy network ``E: R^d -> R`` and the score is
``s(x) = grad_x log p(x) = -grad_x E(x)``. The network is an MLP in which every hidden Linear
layer is followed by a Swish with a learnable slope per unit,

    z_l = a_{l-1} W_l^T + b_l,    a_l = z_l * sigmoid(beta_l * z_l),    E(x) = a_L w^T + c,

with ``a_0 = x`` and ``beta_l`` initialised to 1 (the authors' ``ToyMLP`` + ``Swish(dim)``).

Because the network is this simple, its input gradient has a closed form (backpropagation
written out once):

    g_L = w * swish'(z_L),    g_{l-1} = (g_l W_l) * swish'(z_{l-1}),    s(x) = -(g_1 W_1),
    swish'(z) = sigma + beta * z * sigma * (1 - sigma),   sigma = sigmoid(beta * z).

``score`` evaluates that expression with plain tensor ops: no autograd graph when called under
``torch.inference_mode`` (particle steps), and an ordinary, once-differentiable graph in the
parameters when called with autograd on (DSM training), which replaces the reference code's
double backward (``create_graph=True``) with a single backward pass. ``score_autograd`` is the
textbook ``-d sum(E) / dx`` kept for tests and benchmarks.

DSM (Vincent 2011), the loss the reference code minimises, on ALL rows of the current filled
matrix and with no mask:

    v ~ N(0, I),   x~ = x + sigma v,   L = mean_i 1/2 || s(x~_i) + v_i / sigma ||^2.

For the paper's "Joint off" ablation, ``fit_score`` also offers masked losses (``SCORE_FITS``):
"masked" keeps only the observed entries' residual (MissDiff's loss), "conditional" perturbs
and scores only pseudo-missing targets drawn among the observed entries (CSDI's training).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from knewimp.dsm_backward import ManualDSM


class EnergyMLP(nn.Module):
    """MLP energy ``E(x)`` with learnable-slope Swish activations; ``score(x) = -grad E(x)``.

    Parameters are initialised like ``torch.nn.Linear`` (uniform in +/- 1/sqrt(fan_in) for
    weights and biases) but drawn from ``generator`` so that nothing touches the global RNG.
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (128, 128), *, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
        super().__init__()
        widths = [int(dim)] + [int(h) for h in hidden]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.betas = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            self.weights.append(nn.Parameter(self._uniform((fan_out, fan_in), fan_in, generator, dtype, device)))
            self.biases.append(nn.Parameter(self._uniform((fan_out,), fan_in, generator, dtype, device)))
            self.betas.append(nn.Parameter(torch.ones(fan_out, dtype=dtype, device=device)))
        self.out_weight = nn.Parameter(self._uniform((1, widths[-1]), widths[-1], generator, dtype, device))
        self.out_bias = nn.Parameter(self._uniform((1,), widths[-1], generator, dtype, device))

    @staticmethod
    def _uniform(shape, fan_in, generator, dtype, device) -> torch.Tensor:
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=generator, dtype=dtype, device=device) * 2.0 - 1.0) * bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Energy ``E(x)``, shape (n, 1)."""
        a = x
        for W, b, beta in zip(self.weights, self.biases, self.betas):
            z = torch.nn.functional.linear(a, W, b)
            a = z * torch.sigmoid(beta * z)
        return torch.nn.functional.linear(a, self.out_weight, self.out_bias)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Closed-form ``s(x) = -grad_x E(x)``, shape (n, d); differentiable in the parameters."""
        derivs = []
        a = x
        for W, b, beta in zip(self.weights, self.biases, self.betas):
            z = torch.nn.functional.linear(a, W, b)
            sig = torch.sigmoid(beta * z)
            a = z * sig
            # swish'(z) = sig + beta * z * sig * (1 - sig) = sig + beta * a * (1 - sig)
            derivs.append(sig + beta * a * (1.0 - sig))
        g = self.out_weight * derivs[-1]
        for layer in range(len(self.weights) - 1, 0, -1):
            g = (g @ self.weights[layer]) * derivs[layer - 1]
        return -(g @ self.weights[0])

    def frozen_score(self):
        """``score`` for the network as it is now, as a function of ``x`` alone (no autograd).

        For the particle steps, where the network does not change: the output weight is folded
        into the last hidden layer's weight once (``(w * swish'(z_L)) W_L = swish'(z_L) (W_L * w^T)``)
        and the first layer's weight negated once, and ``swish'`` is computed from
        ``u = beta z`` as ``s + u s (1 - s)``, five elementwise kernels per layer instead of seven.
        Equal to ``score`` up to rounding.
        """
        Ws = [W.detach() for W in self.weights]
        bs = [b.detach() for b in self.biases]
        betas = [beta.detach() for beta in self.betas]
        V = Ws[:-1] + [Ws[-1] * self.out_weight.detach().T]
        V[0] = -V[0]
        last = len(Ws) - 1

        def score(x: torch.Tensor) -> torch.Tensor:
            derivs = []
            a = x
            for layer, (W, b, beta) in enumerate(zip(Ws, bs, betas)):
                z = torch.addmm(b, a, W.T)
                u = z * beta
                sig = torch.sigmoid(u)
                if layer < last:
                    a = z.mul_(sig)
                derivs.append(torch.addcmul(sig, u, sig.addcmul(sig, sig, value=-1.0)))
            g = derivs[-1]
            for layer in range(last, 0, -1):
                g = (g @ V[layer]).mul_(derivs[layer - 1])
            return g @ V[0]

        return score

    def score_autograd(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """Reference score by autograd, ``-d sum_i E(x_i) / dx`` (what the authors' code does)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            log_p = -self.forward(x).sum()
            return torch.autograd.grad(log_p, x, create_graph=create_graph)[0]


def dsm_loss(net: EnergyMLP, x: torch.Tensor, noise: torch.Tensor, sigma: float, closed_form: bool = True,
             noise_mask: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Denoising score matching loss ``mean_i 1/2 ||s(x_i + sigma v_i) + v_i / sigma||^2``.

    ``noise`` is ``v ~ N(0, I)`` with the shape of ``x``. ``closed_form=False`` differentiates
    the autograd score (double backward), as the reference implementation does.

    Masked variants (0/1 tensors shaped like ``x``): ``noise_mask`` t perturbs only its entries,
    ``x~ = x + sigma t * v``, and ``loss_mask`` w keeps only its entries of the residual,
    ``mean_i 1/2 ||w_i * (s(x~_i) + v_i / sigma)||^2``. Both None is the mask-free (joint) loss.
    """
    x_noisy = x + sigma * noise if noise_mask is None else x + sigma * (noise * noise_mask)
    s = net.score(x_noisy) if closed_form else net.score_autograd(x_noisy, create_graph=True)
    residual = s + noise / sigma
    if loss_mask is not None:
        residual = residual * loss_mask
    return 0.5 * residual.square().sum(dim=1).mean()


#: How the score is fitted: "joint" is KnewImp's mask-free DSM on the filled matrix; "masked"
#: keeps only the observed entries' residual (noise on every entry); "conditional" draws, each
#: epoch, pseudo-missing targets among the observed entries and perturbs and scores only those.
SCORE_FITS = ("joint", "masked", "conditional")


def fit_score(net: EnergyMLP, x: torch.Tensor, epochs: int, sigma: float, generator: torch.Generator,
              lr: float = 1e-3, closed_form: bool = True, progress=None, *, score_fit: str = "joint",
              observed: torch.Tensor | None = None, target_rate: float | None = None,
              history: list | None = None, manual: bool = True, batch: int | None = None) -> float:
    """Fit ``net`` by full-batch DSM on all rows of ``x`` with a fresh Adam; return the last loss.

    One Adam step per epoch on the whole matrix (the reference code's DataLoader has batch = n).
    ``batch`` b < n (the scalable option) takes each epoch's step on a fresh uniform draw of b rows
    without replacement instead (drawn from ``generator`` before the noise): an unbiased estimate
    of the full loss and its gradient at O(b) per epoch; None or b >= n is the full-batch fit.
    ``score_fit`` (:data:`SCORE_FITS`) chooses the loss; "masked" and "conditional" need
    ``observed`` (True where ``x`` holds a real value), "conditional" also ``target_rate``, the
    probability that an observed entry is a target in an epoch (CSDI-style self-supervision:
    ``t = observed * Bernoulli(target_rate)``, drawn from ``generator`` after the noise, and
    ``noise_mask = loss_mask = t``). Each epoch's loss is appended to ``history`` when given.
    ``manual`` (with ``closed_form``): the hand-written gradient and flat Adam of
    :class:`knewimp.dsm_backward.ManualDSM`; False: autograd through ``dsm_loss`` and
    ``torch.optim.Adam`` (the same numbers up to rounding).
    Raises ``FloatingPointError`` when the loss becomes NaN/Inf.
    """
    if score_fit not in SCORE_FITS:
        raise ValueError(f"unknown score_fit {score_fit!r}; valid choices: {', '.join(SCORE_FITS)}")
    if score_fit != "joint" and observed is None:
        raise ValueError(f"score_fit={score_fit!r} needs the observed-entry mask")
    x = x.detach()
    w = None if observed is None or score_fit == "joint" else observed.to(dtype=x.dtype)
    fast = ManualDSM(net, lr) if closed_form and manual else None
    optimizer = None if fast is not None else torch.optim.Adam(net.parameters(), lr=lr)
    loss_value = float("nan")
    n = x.shape[0]
    subsample = batch is not None and int(batch) < n
    xb, wb = x, w
    for epoch in range(int(epochs)):
        if subsample:
            pick = torch.randperm(n, generator=generator, device=generator.device)[:int(batch)].to(x.device)
            xb = x.index_select(0, pick)
            wb = None if w is None else w.index_select(0, pick)
        noise = torch.randn(xb.shape, generator=generator, dtype=x.dtype, device=x.device)
        noise_mask = loss_mask = None
        if score_fit == "masked":
            loss_mask = wb
        elif score_fit == "conditional":
            draw = torch.rand(xb.shape, generator=generator, dtype=x.dtype, device=x.device)
            noise_mask = loss_mask = wb * (draw < target_rate).to(x.dtype)
        if fast is not None:
            loss_value = fast.step(xb, noise, sigma, noise_mask=noise_mask, loss_mask=loss_mask)
        else:
            loss = dsm_loss(net, xb, noise, sigma, closed_form=closed_form, noise_mask=noise_mask, loss_mask=loss_mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"DSM loss became {loss_value} at epoch {epoch + 1}/{epochs}")
        if history is not None:
            history.append(loss_value)
        if progress is not None:
            progress.update()
    return loss_value
