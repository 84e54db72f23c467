"""MIWAE: deep latent variable model fitted on incomplete data (Mattei & Frellsen, ICML 2019).

Generative model, for a row x in R^p with observed part x_o (m_j = 1 where observed):

    z ~ N(0, I_D),    x_j | z ~ StudentT(mu_j(z), sigma_j(z), nu_j(z)) independently,

with the decoder an MLP D -> h -> h -> 3p giving mu, sigma = softplus(.) + 1e-3 and
nu = softplus(.) + 3. The encoder, an MLP p -> h -> h on the zero-filled row, gives
q(z | x_o): a Student-t (loc, scale = softplus, df = 3 + softplus; the UCI notebook) or a
Gaussian (loc, scale = softplus; the PyTorch tutorial and hyperimpute). Training maximises the
importance-weighted bound restricted to the observed entries, with K draws z_k ~ q(z | x_o):

    L_K(x_o) = E[ log (1/K) sum_k w_k ],    w_k = p(x_o | z_k) p(z_k) / q(z_k | x_o),
    log p(x_o | z) = sum_j m_j log StudentT(x_j; mu_j(z), sigma_j(z), nu_j(z)),

so values under the mask never enter the loss (the encoder sees them as 0). Draws are
reparameterised: a Student-t as loc + scale * eps * sqrt(nu / chi2_nu) with eps ~ N(0, 1) and
chi2_nu = 2 Gamma(nu / 2) (Gamma draws carry an implicit reparameterisation gradient). The
loss is -mean over the batch of log((1/K) sum_k w_k), by Adam on shuffled mini-batches
(``np.array_split`` of a permutation into floor(n / batch) parts, as in the original code).

Imputation by self-normalised importance sampling with L draws z_l ~ q(z | x_o) and weights
omega_l = softmax_l(log w_l):

    x_miss = sum_l omega_l E[x_miss | z_l] = sum_l omega_l mu_miss(z_l)     (imputation="mean")
    x_miss = sum_l omega_l x_l,  x_l ~ p(x_miss | z_l)                     (imputation="sample")

The first is the UCI notebook's estimate of E[x_miss | x_o] (L = 1000); the second is what the
PyTorch tutorial and hyperimpute's port compute (L = 10). Weights are orthogonal, biases zero
(the notebooks' Keras initialisation). The UCI notebook also adds a learned vector to the
encoder input at the observed entries; it is omitted here (the encoder sees the zero-filled row).

Computation. Training does not run autograd: ``_MIWAE.loss_and_grad`` evaluates the bound with
closed-form log-densities and writes its gradient, derived by hand (formulas in its docstring),
into one flat parameter buffer that a single multi-tensor Adam step updates. Same network,
loss, draws (same generator calls in the same order), optimiser and schedule as the autograd
form ``_MIWAE.neg_bound``, which the tests compare it with; only float32 rounding differs. The
loss is summed on the device and read once per epoch, not once per step.
"""
from __future__ import annotations

import math

import numpy as np

from knewimp.base import BaseImputer, ImputationError, check_counts, resolve_device
from knewimp.progress import Progress

Q_FAMILIES = ("student_t", "gaussian")
IMPUTATIONS = ("mean", "sample")
ACTIVATIONS = ("relu", "tanh")
_SCALE_FLOOR = 1e-3  # decoder scale = softplus + 1e-3, as in every version of the original code
_DF_FLOOR = 3.0  # degrees of freedom = softplus + 3 (decoder, and the Student-t encoder)
_IMPUTE_CHUNK = 1 << 16  # draws x rows at once at imputation: keeps the decoder's activations near cache size


def _mlp(n_in: int, n_hidden: int, n_out: int, activation: str, generator):
    import torch
    from torch import nn

    act = nn.ReLU if activation == "relu" else nn.Tanh
    layers = []
    for a, b in ((n_in, n_hidden), (n_hidden, n_hidden), (n_hidden, n_out)):
        layer = torch.nn.utils.skip_init(nn.Linear, a, b)  # no draw from the global RNG
        with torch.no_grad():
            torch.nn.init.orthogonal_(layer.weight, generator=generator)
            layer.bias.zero_()
        layers += [layer, act()]
    return nn.Sequential(*layers[:-1])


_HALF_LOG_PI = 0.5 * math.log(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _student_t_logpdf(x, loc, scale, df):
    """log of the Student-t density (torch.distributions.StudentT's, in closed form):
    -(df + 1)/2 log(1 + y^2/df) - log scale - log(df)/2 - log(pi)/2 - lgamma(df/2) + lgamma((df + 1)/2)
    with y = (x - loc) / scale."""
    import torch

    y = (x - loc) / scale
    return (-0.5 * (df + 1.0) * torch.log1p(y * y / df) - torch.log(scale) - 0.5 * torch.log(df) - _HALF_LOG_PI
            - torch.lgamma(0.5 * df) + torch.lgamma(0.5 * (df + 1.0)))


def _lgamma_half_step(x, derivative: bool = True):
    """(lgamma(x + 1/2) - lgamma(x), digamma(x + 1/2) - digamma(x)) for x >= 1.5, elementwise.

    The Student-t density needs only these differences (x = nu/2 >= 3/2 here). Shifting by four,
    F(x) = F(x + 4) - log prod_{i<4} (x + i + 1/2)/(x + i), and for y = x + 4 >= 5.5 the
    asymptotic series F(y) = log(y)/2 - 1/(8y) + 1/(192y^3) - 1/(640y^5) + 17/(14336y^7)
    (next term 31/(18432y^9) < 4e-10) gives F to float64 rounding; F' is its derivative. In
    float32 both are within a few 1e-6 relative of the exact values (tests/test_miwae.py), closer
    than the difference of two float32 lgamma (digamma) values, which cancels. The products are
    polynomials in q = x(x + 3): x(x+1)(x+2)(x+3) = q(q+2), (x+1/2)(x+3/2)(x+5/2)(x+7/2) =
    (q + x + 7/4)(q + x + 15/4). About 25 elementwise passes instead of two (four) special
    functions, which torch evaluates one element at a time."""
    import torch

    # in place where a temporary is not needed again: each pass over a large (p, K, B) block counts
    q = (x + 3.0).mul_(x)
    s = q + x
    a = s + 1.75
    b = s.add_(3.75)
    num = a * b
    den = (q + 2.0).mul_(q)
    y = x + 4.0
    w = y.reciprocal()
    w2 = w * w
    series = (w2 * (-17 / 14336)).add_(1 / 640).mul_(w2).add_(-1 / 192).mul_(w2).add_(0.125).mul_(w)
    F = torch.log(y).mul_(0.5).sub_(series).sub_(torch.log(num / den))
    if not derivative:
        return F, None
    # d/dx log(den) - d/dx log(num), den' = 2 (2x + 3)(q + 1), num' = (2x + 4)(a + b)
    shift = (2.0 * x + 3.0).mul_(q.add_(1.0)).mul_(2.0).div_(den)
    shift.sub_((2.0 * x + 4.0).mul_(a.add_(b)).div_(num))
    Fp = (w2 * (-17 / 2048)).add_(1 / 128).mul_(w2).add_(-1 / 64).mul_(w2).add_(0.125).mul_(w).add_(0.5).mul_(w)
    return F, Fp.add_(shift)


class _MIWAE:
    """Encoder, decoder, the bound and the imputation on torch tensors.

    The parameters live in one flat buffer (``flat``, its gradient ``grad``): each layer's weight
    and bias are views of it, so one Adam step over ``flat`` updates every layer.
    :meth:`neg_bound` is the bound written as plain tensor algebra for autograd (the reference);
    :meth:`loss_and_grad` computes the same loss and writes its exact gradient into ``grad``
    without autograd (derivation in its docstring), which is what training runs.
    """

    def __init__(self, p: int, latent: int, hidden: int, q_family: str, activation: str, generator, device):
        import torch
        from torch import nn

        self.p, self.latent, self.q_family, self.activation = p, latent, q_family, activation
        n_q = 3 if q_family == "student_t" else 2
        self.encoder = _mlp(p, hidden, n_q * latent, activation, generator).to(device)
        self.decoder = _mlp(latent, hidden, 3 * p, activation, generator).to(device)
        linears = [mod for net in (self.encoder, self.decoder) for mod in net if isinstance(mod, nn.Linear)]
        tensors = [t.detach() for lin in linears for t in (lin.weight, lin.bias)]
        self.flat = torch.cat([t.reshape(-1) for t in tensors])
        self.grad = torch.zeros_like(self.flat)
        self.flat.grad = self.grad
        views, grads, start = [], [], 0
        for t in tensors:
            views.append(self.flat[start:start + t.numel()].view(t.shape))
            grads.append(self.grad[start:start + t.numel()].view(t.shape))
            start += t.numel()
        for i, lin in enumerate(linears):  # the modules now read (and autograd differentiates) the flat buffer
            lin.weight, lin.bias = nn.Parameter(views[2 * i]), nn.Parameter(views[2 * i + 1])
        self._enc = [(views[2 * i], views[2 * i + 1], grads[2 * i], grads[2 * i + 1]) for i in range(3)]
        self._dec = [(views[2 * i], views[2 * i + 1], grads[2 * i], grads[2 * i + 1]) for i in range(3, 6)]

    def parameters(self):
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

    # ---------------------------------------------------------------- reference (autograd) form
    def _q(self, x0):
        import torch.nn.functional as F

        D = self.latent
        out = self.encoder(x0)
        loc, scale = out[:, :D], F.softplus(out[:, D:2 * D])
        df = _DF_FLOOR + F.softplus(out[:, 2 * D:]) if self.q_family == "student_t" else None
        return loc, scale, df

    def _draw(self, loc, scale, df, n_draws: int, gen):
        """``n_draws`` reparameterised draws from q, shape (n_draws, B, D)."""
        import torch

        shape = (n_draws,) + tuple(loc.shape)
        eps = torch.randn(shape, generator=gen, device=loc.device, dtype=loc.dtype)
        if df is None:
            return loc + scale * eps
        chi2 = 2.0 * torch._standard_gamma((df / 2.0).expand(shape), generator=gen)
        return loc + scale * eps * torch.sqrt(df / chi2)

    def _log_q(self, z, loc, scale, df):
        import torch

        if df is None:
            y = (z - loc) / scale
            return (-0.5 * y * y - torch.log(scale) - _HALF_LOG_2PI).sum(-1)
        return _student_t_logpdf(z, loc, scale, df).sum(-1)

    def _decode(self, z):
        import torch.nn.functional as F

        p = self.p
        out = self.decoder(z)
        return out[..., :p], F.softplus(out[..., p:2 * p]) + _SCALE_FLOOR, F.softplus(out[..., 2 * p:]) + _DF_FLOOR

    def log_weights(self, x, m, n_draws: int, gen):
        """(log w of shape (n_draws, B), decoder (mu, sigma, nu) of shape (n_draws, B, p)).

        Entries with m = 0 are replaced by 0 first: whatever they hold (NaN included) cannot
        reach the encoder or the likelihood."""
        import torch

        x0 = torch.where(m > 0, x, torch.zeros_like(x))
        loc, scale, df = self._q(x0)
        z = self._draw(loc, scale, df, n_draws, gen)
        mu, sigma, nu = self._decode(z)
        log_px = (_student_t_logpdf(x0.expand_as(mu), mu, sigma, nu) * m).sum(-1)
        log_pz = (-0.5 * z * z - _HALF_LOG_2PI).sum(-1)
        return log_px + log_pz - self._log_q(z, loc, scale, df), (mu, sigma, nu)

    def neg_bound(self, x, m, K: int, gen):
        """-mean_i log (1/K) sum_k w_ik: the training loss, differentiable by autograd."""
        import torch

        log_w, _ = self.log_weights(x, m, K, gen)
        return -(torch.logsumexp(log_w, 0) - math.log(K)).mean()

    # ------------------------------------------------------------------- hand-derived form
    def _forward(self, x0, m, n_draws: int, gen, need_grad: bool = True):
        """Encoder, draws, decoder and log w for rows x0 (zero under the mask), every
        intermediate kept for :meth:`loss_and_grad`. The decoder output is held transposed,
        (3p, n_draws * B), so that mu, sigma, nu and everything computed from them are
        contiguous (p, n_draws, B) blocks."""
        import torch
        import torch.nn.functional as F

        p, D, K, B = self.p, self.latent, n_draws, x0.shape[0]
        act_ = torch.relu_ if self.activation == "relu" else torch.tanh_
        s = {}
        (W1, b1, _, _), (W2, b2, _, _), (W3, b3, _, _) = self._enc
        s["he1"] = h1 = act_(torch.addmm(b1, x0, W1.t()))
        s["he2"] = h2 = act_(torch.addmm(b2, h1, W2.t()))
        s["eo"] = eo = torch.addmm(b3, h2, W3.t())  # (B, n_q D)
        loc, sp = eo[:, :D], F.softplus(eo[:, D:])
        scale = sp[:, :D]
        eps = torch.randn((K, B, D), generator=gen, device=x0.device, dtype=x0.dtype)
        if self.q_family == "student_t":
            df = sp[:, D:] + _DF_FLOOR
            alpha = (df / 2.0).expand(K, B, D)
            gamma = torch._standard_gamma(alpha, generator=gen)
            chi2 = 2.0 * gamma
            z = loc + scale * eps * torch.sqrt(df / chi2)
            y = (z - loc) / scale  # = eps sqrt(df / chi2)
            v = y * y / df
            l1q = torch.log1p(v)
            F_df, Fp_df = _lgamma_half_step(0.5 * df, need_grad)
            const = (F_df - torch.log(scale) - 0.5 * torch.log(df) - _HALF_LOG_PI).sum(-1)
            log_q = (-0.5 * (df + 1.0) * l1q).sum(-1) + const
            s.update(df=df, alpha=alpha, gamma=gamma, chi2=chi2, v=v, l1q=l1q, Fp_df=Fp_df)
        else:
            z = loc + scale * eps
            y = (z - loc) / scale
            log_q = (-0.5 * y * y).sum(-1) - torch.log(scale).sum(-1) - D * _HALF_LOG_2PI
        s.update(scale=scale, z=z, y=y)

        Z = z.view(K * B, D)
        (V1, c1, _, _), (V2, c2, _, _), (V3, c3, _, _) = self._dec
        s["hd1"] = g1 = act_(torch.addmm(c1, Z, V1.t()))
        s["hd2"] = g2 = act_(torch.addmm(c2, g1, V2.t()))
        s["out"] = out = torch.addmm(c3.unsqueeze(1), V3, g2.t())  # (3p, K B)
        mu = out[:p].view(p, K, B)
        spd = F.softplus(out[p:]).view(2 * p, K, B)
        sigma, nu = spd[:p].add_(_SCALE_FLOOR), spd[p:].add_(_DF_FLOOR)
        xt, mt = x0.t().unsqueeze(1), m.t().unsqueeze(1)  # (p, 1, B)
        r = (xt - mu).div_(sigma)
        r2 = r * r
        u = r2 / nu
        l1 = torch.log1p(u)
        F_nu, Fp_nu = _lgamma_half_step(0.5 * nu, need_grad)
        # log(pi)/2 per observed entry is subtracted per row, below
        lp = F_nu.sub_((0.5 * (nu + 1.0)).mul_(l1)).sub_(torch.log(sigma * nu.sqrt()))
        log_px = (lp.mul_(mt)).sum(0).sub_(mt.sum(0) * _HALF_LOG_PI)
        log_pz = (z * z).sum(-1).mul_(-0.5).sub_(D * _HALF_LOG_2PI)
        s.update(mu=mu, sigma=sigma, nu=nu, Fp_nu=Fp_nu, r=r, r2=r2, u=u, l1=l1, mt=mt)
        return log_px + log_pz - log_q, s

    def loss_and_grad(self, x0, m, K: int, gen):
        """The training loss -mean_b log (1/K) sum_k w_bk on rows x0 (zero under the mask), its
        gradient written into ``grad``; the same draws, in the same order, as :meth:`neg_bound`.

        With G_kb = d loss / d log w_kb = -softmax_k(log w)_kb / B, for each observed entry
        (r = (x - mu)/sigma, A = (nu + 1)/(nu + r^2)), the Student-t log-density gives

            d/d mu = A r / sigma,   d/d sigma = (A r^2 - 1) / sigma,
            d/d nu = (A r^2 / nu - log(1 + r^2/nu) - 1/nu - psi(nu/2) + psi((nu + 1)/2)) / 2,

        times softplus' = sigmoid for sigma and nu; then back through the decoder to z, plus
        -z G from log p(z). With z = loc + scale * t, t = eps sqrt(df / chi2), chi2 = 2 Gamma(df/2)
        and c = (d chi2 / d df) / chi2 (the implicit reparameterisation gradient of the Gamma draw),
        log q(z | x) depends on the encoder only through -log scale and, for the Student-t, through
        df (its t^2/df = eps^2/chi2 does not involve loc or scale):

            d z / d loc = 1,   d z / d scale = t,   d z / d df = scale t (1 - df c) / (2 df),
            d log q / d df = -log(1 + v)/2 + (df + 1) v c / (2 (1 + v)) - 1/(2 df)
                             - psi(df/2)/2 + psi((df + 1)/2)/2,   v = eps^2/chi2,

        summed over the K draws and multiplied by softplus' for scale and df. The Gaussian q is
        the case t = eps without df. tests/test_miwae.py compares this with autograd of
        :meth:`neg_bound`."""
        import torch

        p, D, B = self.p, self.latent, x0.shape[0]
        log_w, s = self._forward(x0, m, K, gen)
        lse = torch.logsumexp(log_w, 0)
        loss = (math.log(K) - lse).mean()
        G = torch.exp(log_w - lse).mul_(-1.0 / B)  # (K, B)

        # decoder output, (3p, K B): d/d mu, d/d sigma and d/d nu times softplus'
        sigma, nu, r = s["sigma"], s["nu"], s["r"]
        gm = G * s["mt"]  # (p, K, B)
        gms = gm / sigma
        Ar = (nu + 1.0).div_(nu + s["r2"]).mul_(r)
        c = (Ar * r).sub_(1.0)  # A r^2 - 1: d/d sigma times sigma, and d/d nu's A r^2/nu - 1/nu times nu
        out = s["out"]
        g_out = torch.empty_like(out)
        torch.mul(gms, Ar, out=g_out[:p].view(p, K, B))
        torch.mul(gms, c, out=g_out[p:2 * p].view(p, K, B))
        torch.mul(c.div_(nu).sub_(s["l1"]).add_(s["Fp_nu"]), gm.mul_(0.5), out=g_out[2 * p:].view(p, K, B))
        g_out[p:].mul_(torch.sigmoid(out[p:]))

        # decoder layers, then d loss / d z (log p(z) included)
        (V1, _, gV1, gc1), (V2, _, gV2, gc2), (V3, _, gV3, gc3) = self._dec
        h1, h2, z = s["hd1"], s["hd2"], s["z"]
        torch.mm(g_out, h2, out=gV3)
        torch.sum(g_out, 1, out=gc3)
        g = self._act_grad(g_out.t() @ V3, h2)
        torch.mm(g.t(), h1, out=gV2)
        torch.sum(g, 0, out=gc2)
        g = self._act_grad(g @ V2, h1)
        gV1.copy_((z.view(K * B, D).t() @ g).t())  # (D, KB) @ (KB, h): MKL is slow on (h, KB) @ (KB, D)
        torch.sum(g, 0, out=gc1)
        g_z = (V1.t() @ g.t()).t().reshape(K, B, D) - z * G.unsqueeze(-1)

        # encoder output, (B, n_q D): loc, scale (, df) through z and log q
        y, scale = s["y"], s["scale"]
        G_sum = G.sum(0).unsqueeze(-1)  # (B, 1)
        g_eo = torch.empty_like(s["eo"])
        torch.sum(g_z, 0, out=g_eo[:, :D])
        torch.add((g_z * y).sum(0), G_sum / scale, out=g_eo[:, D:2 * D])
        if self.q_family == "student_t":
            df, chi2, v = s["df"], s["chi2"], s["v"]
            c = torch._standard_gamma_grad(s["alpha"], s["gamma"]) / chi2
            per_draw = (g_z * scale * y * (1.0 - df * c) / (2.0 * df)
                        + G.unsqueeze(-1) * (0.5 * s["l1q"] - 0.5 * (df + 1.0) * v * c / (1.0 + v)))
            common = 0.5 * (s["Fp_df"] - 1.0 / df)
            torch.sub(per_draw.sum(0), G_sum * common, out=g_eo[:, 2 * D:])
        g_eo[:, D:].mul_(torch.sigmoid(s["eo"][:, D:]))

        # encoder layers
        (W1, _, gW1, gb1), (W2, _, gW2, gb2), (W3, _, gW3, gb3) = self._enc
        h1, h2 = s["he1"], s["he2"]
        torch.mm(g_eo.t(), h2, out=gW3)
        torch.sum(g_eo, 0, out=gb3)
        g = self._act_grad(g_eo @ W3, h2)
        torch.mm(g.t(), h1, out=gW2)
        torch.sum(g, 0, out=gb2)
        g = self._act_grad(g @ W2, h1)
        torch.mm(g.t(), x0, out=gW1)
        torch.sum(g, 0, out=gb1)
        return loss

    def _act_grad(self, grad, output):
        """d loss / d pre-activation from d loss / d output and the output."""
        import torch

        if self.activation == "relu":
            return torch.ops.aten.threshold_backward(grad, output, 0)
        return torch.ops.aten.tanh_backward(grad, output)

    def impute(self, x0, m, L: int, how: str, gen):
        """Self-normalised importance-sampling imputation (module docstring) of rows x0, (B, p)."""
        import torch

        log_w, s = self._forward(x0, m, L, gen, need_grad=False)
        omega = torch.softmax(log_w, 0)  # (L, B)
        if how == "mean":  # nu > 3, so the Student-t mean exists and equals its location
            return (s["mu"] * omega).sum(1).t()
        mu, sigma, nu = (s[k].permute(1, 2, 0) for k in ("mu", "sigma", "nu"))  # (L, B, p), as the draws
        eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
        chi2 = 2.0 * torch._standard_gamma(nu.contiguous() / 2.0, generator=gen)
        values = mu + sigma * eps * torch.sqrt(nu / chi2)
        return torch.einsum("lb,lbp->bp", omega, values)


class MIWAEImputer(BaseImputer):
    """Missing-data importance-weighted autoencoder.

    Parameters
    ----------
    n_epochs : int
        Passes over the shuffled rows.
    batch_size : int
        Target rows per mini-batch: the permutation is split into max(1, floor(n / batch_size))
        near-equal parts, so a batch has at least ``batch_size`` rows (all n if n < batch_size).
    latent_dim : int or None
        Dimension D of z; ``None`` means max(1, floor(p / 2)) (the UCI notebook's choice).
    n_hidden : int
        Width h of the two hidden layers of the encoder and of the decoder.
    K : int
        Importance samples in the training bound.
    L : int
        Importance samples at imputation.
    lr : float
        Adam learning rate.
    q_family : {"student_t", "gaussian"}
        Family of q(z | x_o).
    imputation : {"mean", "sample"}
        Weighted decoder means, or weighted draws from p(x_miss | z) (see the module docstring).
    activation : {"relu", "tanh"}
        Hidden activation (the notebooks use ReLU, the paper's experiments tanh).

    Fitted attributes: ``latent_dim_``, ``n_batches_`` (per epoch), ``bounds_`` (mean training
    loss -L_K per epoch), ``n_epochs_``.
    """

    def __init__(self, n_epochs: int = 601, batch_size: int = 64, latent_dim: int | None = None, n_hidden: int = 128,
                 K: int = 20, L: int = 1000, lr: float = 1e-3, q_family: str = "student_t", imputation: str = "mean",
                 activation: str = "relu", random_state: int | None = None, device: str = "auto",
                 standardize: bool = True, num_threads: int | None = 1):
        super().__init__(random_state=random_state, device=device)
        self.standardize = standardize
        self.num_threads = num_threads
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.n_hidden = n_hidden
        self.K = K
        self.L = L
        self.lr = lr
        self.q_family = q_family
        self.imputation = imputation
        self.activation = activation

    _optional_int_params = ("latent_dim",)  # None: floor(p / 2)

    def _validate_params(self) -> None:
        super()._validate_params()
        check_counts(n_epochs=self.n_epochs, batch_size=self.batch_size, n_hidden=self.n_hidden, K=self.K, L=self.L)
        if self.latent_dim is not None and int(self.latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1 or None (= floor(p / 2)), got {self.latent_dim!r}")
        if not float(self.lr) > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name, value, choices in (("q_family", self.q_family, Q_FAMILIES),
                                     ("imputation", self.imputation, IMPUTATIONS),
                                     ("activation", self.activation, ACTIVATIONS)):
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")

    def _model(self, p: int, gen, device):
        self.latent_dim_ = int(self.latent_dim) if self.latent_dim is not None else max(1, p // 2)
        return _MIWAE(p, self.latent_dim_, int(self.n_hidden), self.q_family, self.activation, gen, device)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        from knewimp.baselines.steps import MultiTensorAdam

        n, p = X.shape
        device = resolve_device(self.device)
        rng, init_gen, gen = self._torch_generators(device)
        dtype = torch.float32
        x0 = torch.as_tensor(np.nan_to_num(X), dtype=dtype, device=device)
        m = torch.as_tensor(~mask, dtype=dtype, device=device)

        model = self._model(p, init_gen, device)
        # torch.optim.Adam(foreach=True)'s arithmetic without its per-step bookkeeping, on the flat buffer
        opt = MultiTensorAdam([model.flat], lr=float(self.lr))
        K = int(self.K)
        self.n_batches_ = max(1, n // int(self.batch_size))
        bounds = np.empty(int(self.n_epochs))
        step_losses = torch.empty(self.n_batches_, dtype=torch.float64, device=device)
        progress = Progress("miwae", int(self.n_epochs))
        for ep in range(int(self.n_epochs)):
            batches = np.array_split(rng.permutation(n), self.n_batches_)
            sizes = torch.as_tensor([len(b) for b in batches], dtype=torch.float64, device=device)
            for i, idx in enumerate(batches):
                idx_t = torch.from_numpy(idx).to(device)
                step_losses[i] = model.loss_and_grad(x0[idx_t], m[idx_t], K, gen)  # no host sync per step
                opt.step()
            bounds[ep] = float((step_losses * sizes).sum()) / n
            if not np.isfinite(bounds[ep]):
                progress.close()
                raise ImputationError(f"MIWAE bound became non-finite at epoch {ep}")
            progress.update()
        progress.close()
        self.bounds_, self.n_epochs_ = bounds, int(self.n_epochs)

        L = int(self.L)
        rows = np.flatnonzero(mask.any(axis=1))
        out = np.nan_to_num(X)
        chunk = max(1, _IMPUTE_CHUNK // (L * max(p, self.latent_dim_)))
        with torch.no_grad():
            for start in range(0, len(rows), chunk):
                r = torch.as_tensor(rows[start:start + chunk], device=device)
                out[rows[start:start + chunk]] = model.impute(x0[r], m[r], L, self.imputation, gen).double().cpu().numpy()
        return out
