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
_IMPUTE_CHUNK = 1 << 18  # draws x rows evaluated at once at imputation (memory bound)


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


class _MIWAE:
    """Encoder, decoder and the two estimators (bound and imputation) on torch tensors."""

    def __init__(self, p: int, latent: int, hidden: int, q_family: str, activation: str, generator, device):
        self.p, self.latent, self.q_family = p, latent, q_family
        n_q = 3 if q_family == "student_t" else 2
        self.encoder = _mlp(p, hidden, n_q * latent, activation, generator).to(device)
        self.decoder = _mlp(latent, hidden, 3 * p, activation, generator).to(device)

    def parameters(self):
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

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
        import torch.distributions as td

        dist = td.Normal(loc, scale, validate_args=False) if df is None else td.StudentT(df, loc, scale, validate_args=False)
        return dist.log_prob(z).sum(-1)

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
        import torch.distributions as td

        x0 = torch.where(m > 0, x, torch.zeros_like(x))
        loc, scale, df = self._q(x0)
        z = self._draw(loc, scale, df, n_draws, gen)
        mu, sigma, nu = self._decode(z)
        log_px = (td.StudentT(nu, mu, sigma, validate_args=False).log_prob(x0.expand_as(mu)) * m).sum(-1)
        log_pz = (-0.5 * z * z - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_px + log_pz - self._log_q(z, loc, scale, df), (mu, sigma, nu)

    def neg_bound(self, x, m, K: int, gen):
        """-mean_i log (1/K) sum_k w_ik: the training loss."""
        import torch

        log_w, _ = self.log_weights(x, m, K, gen)
        return -(torch.logsumexp(log_w, 0) - math.log(K)).mean()

    def impute(self, x, m, L: int, how: str, gen):
        import torch

        log_w, (mu, sigma, nu) = self.log_weights(x, m, L, gen)
        omega = torch.softmax(log_w, 0)
        if how == "mean":
            values = mu  # nu > 3, so the Student-t mean exists and equals its location
        else:
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
            chi2 = 2.0 * torch._standard_gamma(nu / 2.0, generator=gen)
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
        # torch.optim.Adam(foreach=True)'s arithmetic without its per-step bookkeeping
        opt = MultiTensorAdam(model.parameters(), lr=float(self.lr))
        K = int(self.K)
        self.n_batches_ = max(1, n // int(self.batch_size))
        bounds = np.empty(int(self.n_epochs))
        progress = Progress("miwae", int(self.n_epochs))
        for ep in range(int(self.n_epochs)):
            total = 0.0
            for idx in np.array_split(rng.permutation(n), self.n_batches_):
                idx_t = torch.as_tensor(idx, device=device)
                loss = model.neg_bound(x0[idx_t], m[idx_t], K, gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            bounds[ep] = total / n
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
