"""KnewImputer: imputation by a negative-entropy-regularised Wasserstein gradient flow (KnewImp).

The filled rows ``x_1..x_n`` are particles of an empirical distribution ``q``. KnewImp moves the
missing coordinates along the kernelised Wasserstein gradient flow of

    F(q) = -E_q[log p(x)] - lambda * H(q)        (negative-entropy regularised),

which, with an RBF kernel ``K_ij = exp(-||x_i - x_j||^2 / (2 h^2))`` and a learned score
``s = grad log p``, gives the direction (gradient of the functional) for particle i

    G_i = -(1/n) sum_j [ K_ij s(x_j) - lambda * K_ij (x_i - x_j) / h^2 ],

zeroed on observed coordinates. Algorithm (the authors' reference-code semantics, see
docs/knewimp.md):

1. fill each missing entry with its column's observed mean + ``init_noise`` * N(0, 1);
2. repeat ``n_outer`` times:
   a. fit the energy network by full-batch denoising score matching on ALL n rows of the
      current filled matrix, no mask (``score_epochs`` Adam steps, lr 1e-3, a fresh Adam each
      outer iteration, the network warm-started);
   b. ``n_steps`` particle steps ``x <- x - eta * G`` (``integrator="euler"``, the paper) or one
      Adam step with gradient G and lr eta (``integrator="adam"``, the code; its moments persist
      across all outer iterations).

lambda > 0 (default 10) pulls particles together; lambda = 0 is kernel-smoothed score ascent;
lambda < 0 is SVGD-like repulsion.

Options for the paper's own experiments (all off by default, and then without any cost):
``kernel`` replaces the RBF by one of the kernels of the paper's Table F.6 (knewimp.kernels);
``score_fit`` replaces the mask-free joint DSM by a masked one ("Joint off" of Table 2, see
knewimp.score.SCORE_FITS); ``record_every`` records the flow every k particle steps through
``callback`` (the convergence figures F.4-F.6).

Scaling past ~10,000 rows (off by default): ``approx`` replaces the exact O(n^2 d) RBF kernel sums of
each particle step by an approximation (knewimp.scalable_kernels, where the math is stated):
"knn" sums each particle's ``approx_size`` nearest particles exactly (lists refreshed every
``approx_refresh`` steps, searched exactly or, with ``approx_probes``, among that many k-means
clusters) and the rest without bias from ``approx_far`` random particles per step, O(n (k + m) d)
per step; "minibatch" an unbiased estimate from ``approx_size`` random particles per step. Random
draws come from the imputer's torch generator (the neighbour search from its own stream seeded from
it). ``score_batch`` fits the score on that many random rows per DSM epoch (an unbiased mini-batch
of the all-rows loss), so that no part of a run is O(n^2).
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from knewimp.base import BaseImputer, ImputationError, resolve_device
from knewimp.kernels import KERNELS, make_direction
from knewimp.progress import Progress
from knewimp.scalable_kernels import APPROXIMATIONS, make_approx_direction
from knewimp.score import SCORE_FITS, EnergyMLP, fit_score

INTEGRATORS = ("adam", "euler")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
_ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam defaults, used by the reference code
_ADAM_EPS = 1e-8


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class KnewImputer(BaseImputer):
    """KnewImp imputer (NeurIPS 2024), defaults = the authors' reference run script.

    Parameters
    ----------
    bandwidth : RBF kernel bandwidth h.
    entropy_weight : lambda, weight of the negative-entropy regulariser (see module docstring).
    n_outer : alternations of (score fitting, particle steps).
    score_epochs : full-batch DSM Adam steps per outer iteration.
    n_steps : particle steps per outer iteration.
    step_size : eta, the particle learning rate (Adam) or Euler step.
    hidden : hidden widths of the energy MLP.
    init_noise : std of the Gaussian noise added to the column-mean initial fill.
    dsm_sigma : noise level of denoising score matching.
    integrator : "adam" (reference code) or "euler" (the paper's forward Euler).
    dtype : "float64" (reference code) or "float32".
    block_size : rows per kernel block (memory O(block_size x n)); None picks ~32 MB blocks.
    kernel : kernel of the velocity field, one of :data:`knewimp.kernels.KERNELS`; "rbf" (default)
        is KnewImp's; the others have no parameter and ignore ``bandwidth``.
    score_fit : DSM loss of the score fit, one of :data:`knewimp.score.SCORE_FITS`: "joint"
        (default, KnewImp's mask-free DSM on the filled matrix), "masked" (only the observed
        entries' residual counts), "conditional" (CSDI-style pseudo-missing targets among the
        observed entries, drawn each epoch at the data's missing rate).
    approx : None (default: the exact kernel) or one of
        :data:`knewimp.scalable_kernels.APPROXIMATIONS`, O(n) per particle step (math stated there).
    approx_size : k nearest particles ("knn") or random particles per step ("minibatch").
    approx_refresh : "knn": particle steps between neighbour searches.
    approx_probes : "knn": None (exact neighbour search) or the number of k-means clusters searched.
    approx_far : "knn": random particles per step estimating, without bias, the kernel sums beyond
        the k nearest (0: those terms are dropped).
    score_batch : None (default: every row, the reference code) or the rows drawn at random for
        each DSM epoch's Adam step.
    record_every : None (default: nothing recorded) or k >= 1: at the start of each outer
        iteration's flow, after every k-th particle step and after its last step, the current
        filled matrix is recorded into ``trajectory_``.
    callback : with ``record_every``, called as ``callback(X_current)`` on a float64 copy of the
        current filled matrix (n x d, observed entries as given); its return value (a dict, e.g.
        MAE and WASS against a truth only the caller knows) is what gets recorded. None records
        the imputed values ``X_current[mask]`` themselves.
    random_state, device, standardize, num_threads : see :class:`knewimp.base.BaseImputer`
        (``standardize=True``: the flow runs in z-scores of the observed entries, since the
        bandwidth, step size and initial noise are in standardised units).

    Attributes set by ``fit_transform``: ``timings_`` (seconds for "score_fit" and
    "particle_steps", and "recording" with ``record_every``), ``dsm_losses_`` (last DSM loss of each outer iteration),
    ``dsm_history_`` (every epoch's DSM loss, one list per outer iteration) and ``trajectory_``
    (None without ``record_every``; else ``{"record_every": k, "flow": [...], "dsm_loss":
    dsm_history_}``, each flow entry ``{"outer", "step", "total_step"}`` (1-based outer
    iteration, steps done in it, steps done in all) plus the callback's dict or ``"imputed"``).
    """

    #: Constructor arguments the complete preset (configs/method/knewimp/paper.yaml) leaves out:
    #: at their defaults they change nothing, and naming them there would change the identity
    #: (and so the record file) of every KnewImp cell recorded before they existed. Presets that
    #: use them name them.
    config_optional = ("kernel", "score_fit", "record_every", "callback", "approx", "approx_size",
                       "approx_refresh", "approx_probes", "approx_far", "score_batch")

    def __init__(self, bandwidth: float = 0.5, entropy_weight: float = 10.0, n_outer: int = 2,
                 score_epochs: int = 200, n_steps: int = 500, step_size: float = 0.1,
                 hidden: Sequence[int] = (128, 128), init_noise: float = 0.1, dsm_sigma: float = 0.1,
                 integrator: str = "adam", dtype: str = "float64", block_size: int | None = None,
                 random_state: int | None = None, device: str = "auto", standardize: bool = True,
                 num_threads: int | None = 1, kernel: str = "rbf", score_fit: str = "joint",
                 record_every: int | None = None, callback=None, approx: str | None = None,
                 approx_size: int = 64, approx_refresh: int = 25, approx_probes: int | None = None,
                 approx_far: int = 0, score_batch: int | None = None):
        super().__init__(random_state=random_state, device=device)
        self.bandwidth = bandwidth
        self.entropy_weight = entropy_weight
        self.n_outer = n_outer
        self.score_epochs = score_epochs
        self.n_steps = n_steps
        self.step_size = step_size
        self.hidden = hidden
        self.init_noise = init_noise
        self.dsm_sigma = dsm_sigma
        self.integrator = integrator
        self.dtype = dtype
        self.block_size = block_size
        self.standardize = standardize
        self.num_threads = num_threads
        self.kernel = kernel
        self.score_fit = score_fit
        self.record_every = record_every
        self.callback = callback
        self.approx = approx
        self.approx_size = approx_size
        self.approx_refresh = approx_refresh
        self.approx_probes = approx_probes
        self.approx_far = approx_far
        self.score_batch = score_batch

    _optional_int_params = ("block_size", "record_every", "approx_probes", "score_batch")  # None: their default

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {self.integrator!r}; valid choices: {', '.join(INTEGRATORS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid choices: {', '.join(DTYPES)}")
        if not _is_real(self.bandwidth) or not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0, got {self.bandwidth!r}")
        if not _is_real(self.entropy_weight):
            raise ValueError(f"entropy_weight must be a real number, got {self.entropy_weight!r}")
        if not (all(_is_real(v) for v in (self.step_size, self.dsm_sigma, self.init_noise))
                and self.step_size > 0 and self.dsm_sigma > 0 and self.init_noise >= 0):
            raise ValueError(f"need step_size > 0, dsm_sigma > 0, init_noise >= 0; got "
                             f"{self.step_size!r}, {self.dsm_sigma!r}, {self.init_noise!r}")
        for name in ("n_outer", "score_epochs", "n_steps"):
            value = getattr(self, name)
            if not _is_real(value) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        try:
            widths = [int(h) for h in self.hidden]
        except (TypeError, ValueError):
            widths = []
        if not widths or min(widths) < 1:
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {self.hidden!r}")
        bs = self.block_size
        if bs is not None and (not _is_real(bs) or int(bs) != bs or bs < 1):
            raise ValueError(f"block_size must be a positive integer or None, got {bs!r}")
        self._validate_options()

    def _validate_options(self) -> None:
        """Refuse bad experiment options, naming the parameter, its value and the valid choices."""
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}")
        if self.score_fit not in SCORE_FITS:
            raise ValueError(f"score_fit must be one of {', '.join(SCORE_FITS)}; got {self.score_fit!r}")
        k = self.record_every
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise ValueError(f"record_every must be None or a positive integer; got {k!r}")
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback must be None or callable; got {self.callback!r}")
        self._validate_approx()

    def _validate_approx(self) -> None:
        for name in ("approx_probes", "score_batch"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name} must be None or a positive integer; got {value!r}")
        if self.approx is None:
            return
        if self.approx not in APPROXIMATIONS:
            raise ValueError(f"approx must be None or one of {', '.join(APPROXIMATIONS)}; got {self.approx!r}")
        if self.kernel != "rbf":
            raise ValueError(f"approx={self.approx!r} approximates the rbf kernel only; got kernel={self.kernel!r}")
        for name in ("approx_size", "approx_refresh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.approx_far < 0:
            raise ValueError(f"approx_far must be a non-negative integer; got {self.approx_far!r}")

    # ------------------------------------------------------------------ helpers
    def _initial_fill(self, X: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        col_mean = np.nanmean(X, axis=0)
        noise = rng.standard_normal(X.shape)
        filled = X.copy()
        filled[mask] = (col_mean[None, :] + self.init_noise * noise)[mask]
        return filled

    # ------------------------------------------------------------------ main loop
    def _start(self, X: np.ndarray, mask: np.ndarray):
        """(filled particles, energy network, torch generator) at the start of the flow."""
        device = resolve_device(self.device)
        rng = self._rng()
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(0, 2**63 - 1)))
        Xf = torch.as_tensor(self._initial_fill(X, mask, rng), dtype=DTYPES[self.dtype], device=device)
        hidden = tuple(int(h) for h in self.hidden)
        net = EnergyMLP(X.shape[1], hidden, generator=gen, dtype=DTYPES[self.dtype], device=device)
        return Xf, net, gen

    def _fit_score(self, net: EnergyMLP, Xf: torch.Tensor, gen: torch.Generator, outer: int, **kw) -> float:
        prog = Progress(f"knewimp score fit {outer + 1}/{self.n_outer}", int(self.score_epochs))
        try:
            loss = fit_score(net, Xf, self.score_epochs, self.dsm_sigma, gen, lr=1e-3, progress=prog, **kw)
        except FloatingPointError as exc:
            raise ImputationError(f"KnewImp score fitting diverged (outer iteration {outer + 1}): {exc}") from None
        prog.close()
        return loss

    def _check_update(self, G: torch.Tensor, outer: int, step: int) -> None:
        if not bool(torch.isfinite(G).all()):
            raise ImputationError(
                f"KnewImp particle update produced NaN/Inf at outer iteration {outer + 1}, "
                f"step {step + 1}/{self.n_steps} (step_size={self.step_size}, "
                f"bandwidth={self.bandwidth}, entropy_weight={self.entropy_weight}); "
                "the flow diverged, try a smaller step_size")

    # ------------------------------------------------------------------ main loop
    def _record(self, Xf: torch.Tensor, mask: np.ndarray, outer: int, step: int) -> None:
        """One ``trajectory_["flow"]`` entry: the callback's dict, or the imputed values."""
        t0 = time.perf_counter()
        current = Xf.detach().cpu().numpy().astype(np.float64)
        entry = {"outer": outer + 1, "step": step, "total_step": outer * int(self.n_steps) + step}
        if self.callback is None:
            entry["imputed"] = current[mask]
        else:
            entry.update(self.callback(current) or {})
        self.trajectory_["flow"].append(entry)
        self.timings_["recording"] += time.perf_counter() - t0

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self._validate_options()
        Xf, net, gen = self._start(X, mask)
        device, dtype = Xf.device, Xf.dtype
        # Only rows with a missing entry move; the flow is computed for those rows alone.
        rows = torch.as_tensor(np.flatnonzero(mask.any(axis=1)), device=device)
        observed_r = ~torch.as_tensor(mask, device=device).index_select(0, rows)
        if self.approx is None:
            direction = make_direction(self.kernel, self.bandwidth, self.entropy_weight, self.block_size)
        else:
            direction = make_approx_direction(self.approx, self.bandwidth, self.entropy_weight, int(self.approx_size),
                                              int(self.approx_refresh), gen, self.block_size, self.approx_probes,
                                              int(self.approx_far))
        score_kw = {} if self.score_batch is None else dict(batch=int(self.score_batch))
        if self.score_fit != "joint":
            score_kw.update(score_fit=self.score_fit, observed=~torch.as_tensor(mask, device=device),
                            target_rate=float(mask.mean()))
        every = self.record_every

        # Particle-optimiser state over the active rows, created once (persists across outer loops).
        adam_m = torch.zeros(tuple(observed_r.shape), dtype=dtype, device=device)
        adam_v = torch.zeros_like(adam_m)
        adam_t = 0
        beta1, beta2 = _ADAM_BETAS

        self.timings_ = {"score_fit": 0.0, "particle_steps": 0.0}
        if every is not None:
            self.timings_["recording"] = 0.0  # kept out of "particle_steps"
        self.dsm_losses_ = []
        self.dsm_history_ = []
        self.trajectory_ = None if every is None else {"record_every": int(every), "flow": [],
                                                       "dsm_loss": self.dsm_history_}
        recorded_before = 0.0
        for outer in range(int(self.n_outer)):
            t0 = time.perf_counter()
            self.dsm_history_.append([])
            self.dsm_losses_.append(self._fit_score(net, Xf, gen, outer, history=self.dsm_history_[-1], **score_kw))
            t1 = time.perf_counter()
            prog = Progress(f"knewimp particle steps {outer + 1}/{self.n_outer}", int(self.n_steps))
            with torch.inference_mode():
                # Rows without a missing entry never move, so their scores are fixed while the
                # network is fixed: compute all scores once, then refresh only the active rows.
                score = net.frozen_score()
                S = score(Xf)
                if every is not None:
                    self._record(Xf, mask, outer, 0)
                for step in range(int(self.n_steps)):
                    Xr = Xf.index_select(0, rows)
                    if step:
                        S.index_copy_(0, rows, score(Xr))
                    G = direction(Xf, S, rows)
                    self._check_update(G, outer, step)
                    G.masked_fill_(observed_r, 0.0)
                    if self.integrator == "euler":
                        Xr.sub_(G, alpha=self.step_size)
                    else:
                        # torch.optim.Adam's update, written out so it touches only the active rows
                        adam_t += 1
                        adam_m.lerp_(G, 1.0 - beta1)
                        adam_v.mul_(beta2).addcmul_(G, G, value=1.0 - beta2)
                        denom = (adam_v.sqrt() / math.sqrt(1.0 - beta2**adam_t)).add_(_ADAM_EPS)
                        Xr.addcdiv_(adam_m, denom, value=-self.step_size / (1.0 - beta1**adam_t))
                    Xf.index_copy_(0, rows, Xr)
                    if every is not None and ((step + 1) % every == 0 or step + 1 == self.n_steps):
                        self._record(Xf, mask, outer, step + 1)
                    prog.update()
            prog.close()
            self.timings_["score_fit"] += t1 - t0
            self.timings_["particle_steps"] += time.perf_counter() - t1
            if every is not None:
                self.timings_["particle_steps"] -= self.timings_["recording"] - recorded_before
                recorded_before = self.timings_["recording"]
            if not bool(torch.isfinite(Xf).all()):
                raise ImputationError(f"KnewImp imputations became NaN/Inf after outer iteration {outer + 1}")
        return Xf.detach().cpu().numpy().astype(np.float64)
