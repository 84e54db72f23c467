"""GAIN: generative adversarial imputation nets (Yoon, Jordon & van der Schaar, ICML 2018).

Data are min-max scaled per column with the observed values (nanmin / nanmax); m = 1 where
observed. The generator G sees x_tilde = m * x + (1 - m) * z, z ~ U(0, 0.01), together with m
and proposes every entry; x_hat = m * x + (1 - m) * G(x_tilde, m). The discriminator D sees x_hat
and a hint h = m * b, b ~ Bernoulli(hint_rate), and guesses which entries were observed:

    L_D = -mean[ m log D + (1 - m) log(1 - D) ]
    L_G = -mean[ (1 - m) log D ] + alpha * mean[(m * x - m * G)^2] / mean[m]

Both networks are Linear(2d, h) - ReLU - Linear(h, h) - ReLU - Linear(h, d) - Sigmoid with
h = d, weights ~ N(0, 2 / fan_in) (the original code's ``xavier_init``) and zero biases. Each
iteration draws one batch of rows (without replacement) and takes one Adam step on D, then one
on G. The imputation is G on all rows with fresh z, mapped back to the input units; no rounding.
"""
from __future__ import annotations

import math

import numpy as np

from knewimp.base import BaseImputer, ImputationError, as_float, check_counts, resolve_device
from knewimp.progress import Progress

_LOG_EPS = 1e-8  # inside the logs, as in the original code


def _gain_mlp(d: int, generator):
    import torch
    from torch import nn

    layers = []
    for n_in, n_out in ((2 * d, d), (d, d), (d, d)):
        layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)  # no draw from the global RNG
        with torch.no_grad():
            layer.weight.normal_(0.0, math.sqrt(2.0 / n_in), generator=generator)
            layer.bias.zero_()
        layers += [layer, nn.ReLU()]
    layers[-1] = nn.Sigmoid()
    return nn.Sequential(*layers)


class GAINImputer(BaseImputer):
    """Generative adversarial imputation.

    Parameters
    ----------
    n_iter : int
        Training iterations (each: one discriminator step, then one generator step).
    batch_size : int
        Rows per iteration (capped at n; the value used is ``batch_size_``).
    hint_rate : float
        Probability that a hint entry reveals the mask to the discriminator.
    alpha : float
        Weight of the reconstruction loss on observed entries in the generator loss.
    lr : float
        Adam learning rate of both networks.

    The data are min-max scaled inside (see the module docstring), so the method is
    equivariant to a per-column affine change of units and has no ``standardize`` parameter.
    ``random_state``, ``device``, ``num_threads``: see :class:`knewimp.base.BaseImputer`.

    Fitted attributes (what actually ran): ``n_iter_``, ``batch_size_``, ``hint_rate_``,
    ``alpha_``, ``lr_``, ``d_losses_``, ``g_losses_``, ``reconstruction_mse_``, ``column_mean_mse_``, ``saturated_``.
    A diverged run (see ``_check_reconstruction``) raises
    :class:`knewimp.base.ImputationError` (diverged; the harness records it as failed).
    """

    def __init__(self, n_iter: int = 10_000, batch_size: int = 128, hint_rate: float = 0.9, alpha: float = 100.0,
                 lr: float = 1e-3, random_state: int | None = None, device: str = "auto",
                 num_threads: int | None = 1):
        super().__init__(random_state=random_state, device=device)
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.hint_rate = hint_rate
        self.alpha = alpha
        self.lr = lr
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        super()._validate_params()
        check_counts(n_iter=self.n_iter, batch_size=self.batch_size)
        if not 0.0 <= as_float(self.hint_rate) <= 1.0:
            raise ValueError(f"hint_rate must be in [0, 1], got {self.hint_rate!r}")
        if not as_float(self.alpha) >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not as_float(self.lr) > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        from knewimp.baselines.steps import MultiTensorAdam

        n, d = X.shape
        device = resolve_device(self.device)
        rng = self._rng()
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**63 - 1)))
        init_gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))

        lo = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - lo + 1e-6
        dtype = torch.float32
        data = torch.as_tensor(np.nan_to_num((X - lo) / span), dtype=dtype, device=device)
        m_all = torch.as_tensor(~mask, dtype=dtype, device=device)

        G = _gain_mlp(d, init_gen).to(device)
        D = _gain_mlp(d, init_gen).to(device)
        # torch.optim.Adam(foreach=True)'s arithmetic without its per-step bookkeeping
        opt_g = MultiTensorAdam(G.parameters(), lr=float(self.lr))
        opt_d = MultiTensorAdam(D.parameters(), lr=float(self.lr))
        B = min(int(self.batch_size), n)
        alpha, hint_rate = float(self.alpha), float(self.hint_rate)
        self.n_iter_, self.batch_size_, self.hint_rate_, self.alpha_, self.lr_ = 0, B, hint_rate, alpha, float(self.lr)
        d_losses = np.empty(int(self.n_iter))
        g_losses = np.empty(int(self.n_iter))

        progress = Progress("gain", int(self.n_iter))
        for it in range(int(self.n_iter)):
            idx = torch.as_tensor(rng.choice(n, B, replace=False), device=device)
            x, m = data[idx], m_all[idx]
            z = torch.rand(B, d, generator=gen, device=device, dtype=dtype) * 0.01
            h = m * (torch.rand(B, d, generator=gen, device=device, dtype=dtype) < hint_rate).to(dtype)
            mx, one_m = m * x, 1 - m  # each computed once, used by both steps
            x_tilde = mx + one_m * z

            # one generator pass serves both steps: the discriminator's step leaves G unchanged,
            # so the generator's step would recompute the same values
            g_out = G(torch.cat([x_tilde, m], dim=1))
            d_prob = D(torch.cat([mx + one_m * g_out.detach(), h], dim=1))
            d_loss = -torch.mean(m * torch.log(d_prob + _LOG_EPS) + one_m * torch.log(1 - d_prob + _LOG_EPS))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()

            d_prob = D(torch.cat([mx + one_m * g_out, h], dim=1))
            adv = -torch.mean(one_m * torch.log(d_prob + _LOG_EPS))
            rec = torch.mean((mx - m * g_out) ** 2) / torch.mean(m)
            g_loss = adv + alpha * rec
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()

            d_losses[it], g_losses[it] = d_loss.item(), g_loss.item()
            if not (np.isfinite(d_losses[it]) and np.isfinite(g_losses[it])):
                progress.close()
                raise ImputationError(f"GAIN losses became non-finite at iteration {it}")
            self.n_iter_ += 1
            progress.update()
        progress.close()
        self.d_losses_, self.g_losses_ = d_losses, g_losses

        with torch.no_grad():
            z = torch.rand(n, d, generator=gen, device=device, dtype=dtype) * 0.01
            x_tilde = m_all * data + (1 - m_all) * z
            out = G(torch.cat([x_tilde, m_all], dim=1)).double().cpu().numpy()
        self._check_reconstruction(out, data.double().cpu().numpy(), ~mask)
        return out * span + lo

    def _check_reconstruction(self, out: np.ndarray, scaled: np.ndarray, observed: np.ndarray) -> None:
        """Fail a generator that diverged: its outputs pinned at the sigmoid's bounds and fitting the
        observed entries worse than their column means.

        The sigmoid keeps a diverged GAIN inside the data's range, so no range rule sees it. Either
        sign alone is not enough: an under-trained generator also fits worse than the means (its
        outputs sit near 0.5, unsaturated), and a well-trained one may saturate on a column whose
        values sit at its minimum. Sets ``reconstruction_mse_`` (its MSE on the observed entries,
        min-max units), ``column_mean_mse_`` (the same for the column means) and ``saturated_``
        (the fraction of outputs within 1e-6 of 0 or 1).
        """
        col_mean = np.nanmean(np.where(observed, scaled, np.nan), axis=0)
        self.reconstruction_mse_ = float(np.mean((out - scaled)[observed] ** 2))
        self.column_mean_mse_ = float(np.mean((col_mean - scaled)[observed] ** 2))
        self.saturated_ = float(np.mean(np.minimum(out, 1 - out) < 1e-6))
        if self.saturated_ >= 0.5 and not self.reconstruction_mse_ <= self.column_mean_mse_:
            raise ImputationError(
                f"GAIN diverged: {self.saturated_:.0%} of its generator's outputs sit at the sigmoid's bounds and "
                f"it reproduces the observed entries with MSE {self.reconstruction_mse_:.4g}, worse than their "
                f"column means ({self.column_mean_mse_:.4g}); lower lr")
