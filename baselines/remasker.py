"""ReMasker: imputation by re-masking with a masked autoencoder (Du, Melis & Wang, ICLR 2024).

Each row is scaled per column to [0, 1] with the observed values (x - min) / (max - min + 1e-8)
and read as a sequence of p scalar tokens. Token j is embedded as e_j = a * x_j + b + P_j (a
linear embedding to width E plus a fixed sin-cos position embedding P), and a learned CLS token
(position embedding 0) is prepended. Let O be a row's observed set. During training a random
subset R of O of size round(mask_ratio * |O|) is re-masked (at least one observed entry stays
visible) and V = O \\ R is visible. The encoder (``depth`` pre-norm transformer blocks, ``num_heads``
heads, MLP width mlp_ratio * E, GELU; final LayerNorm) attends only over CLS and V; missing
entries are never shown. The decoder (a linear map E -> E, then ``decoder_depth`` blocks over all
p + 1 positions) receives the encoded visible tokens and a learned mask token at every other
position, each plus the position embedding, and a linear head gives
x_hat_j = tanh(w . h_j + c) / 2 + 1/2 in (0, 1). The loss is

    L = sum_{j in R} (x_hat_j - x_j)^2 / |R|  +  sum_{j in V} (x_hat_j - x_j)^2 / |V|

(each sum over the batch's rows; a batch with no re-masked entry contributes only the second
term). AdamW (betas 0.9, 0.95, weight decay 0.01: the original parses 0.05 but never passes it)
with lr = base_lr * batch / 64, linear warm-up for ``warmup_epochs`` then a half-cosine decay to
``min_lr``, set per iteration at the fractional epoch. Imputation: V = O (the whole observed row
visible), predictions at the missing positions, mapped back to the input units.

Differences from the original code, all named: it keeps floor(p * (1 - mask_ratio)) tokens per
row, so a row with fewer observed values shows some missing entries (as zeros) to the encoder
and scores them in the loss; here only observed entries are ever visible or scored. By default
(``remask_rule="ratio"``) a fixed share of each row's observed entries is re-masked;
``remask_rule="count"`` takes the original's count instead: min(floor(p * (1 - mask_ratio)), |O|)
observed entries stay visible and the rest of O is re-masked (at 30% MCAR and mask ratio 0.5
that hides about a third of the observed entries, not half), still never showing a missing entry. As
in the original, the encoder runs on CLS and the visible tokens gathered from each row; rows hold
different numbers of them here, so a batch is padded to its largest count and the padding is
masked out as keys and dropped as outputs (the visible tokens' arithmetic is unchanged). Training
runs in float32 (the original uses mixed precision on GPU).
"""
from __future__ import annotations

import math

import numpy as np

from knewimp.base import BaseImputer, ImputationError, check_counts, resolve_device
from knewimp.progress import Progress

_LN_EPS = 1e-8  # the original's LayerNorm eps
_SCALE_EPS = 1e-8  # min-max denominator guard, as in the original
_PREDICT_CHUNK = 4096  # rows per forward pass at imputation


def _sincos(E: int, p: int) -> np.ndarray:
    """(p + 1, E) fixed position table: row 0 (CLS) zeros, row j + 1 = [sin(j w), cos(j w)]."""
    omega = 1.0 / 10000 ** (np.arange(E // 2, dtype=np.float64) / (E / 2.0))
    angles = np.arange(p, dtype=np.float64)[:, None] * omega[None, :]
    return np.concatenate([np.zeros((1, E)), np.concatenate([np.sin(angles), np.cos(angles)], axis=1)], axis=0)


def _build(p: int, E: int, depth: int, decoder_depth: int, heads: int, mlp_ratio: float, generator):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from knewimp.baselines.attention import softmax

    def linear(a, b):
        layer = torch.nn.utils.skip_init(nn.Linear, a, b)  # no draw from the global RNG
        with torch.no_grad():
            bound = math.sqrt(6.0 / (a + b))  # Xavier uniform, zero bias (the original's init)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.zero_()
        return layer

    head_dim = E // heads
    scale = head_dim ** -0.5

    class Block(nn.Module):
        """Pre-norm transformer block; ``bias`` (B, 1, 1, T), 0 or -inf, masks the attended keys."""

        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(E, eps=_LN_EPS), nn.LayerNorm(E, eps=_LN_EPS)
            self.qkv, self.proj = linear(E, 3 * E), linear(E, E)
            hidden = int(E * mlp_ratio)
            self.fc1, self.fc2 = linear(E, hidden), linear(hidden, E)

        def forward(self, x, bias=None):
            B, T, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            # explicit softmax attention (baselines/attention.py: at a row's few tokens torch's
            # fused and softmax kernels are the slow part of a CPU step); the key mask is one
            # additive term shared by all encoder blocks
            scores = (q @ k.transpose(-2, -1)) * scale
            if bias is not None:
                scores = scores + bias
            a = softmax(scores) @ v
            x = x + self.proj(a.transpose(1, 2).reshape(B, T, E))
            return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

    class MaskedAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = linear(1, E)  # a 1x1 convolution of one input channel
            self.register_buffer("pos", torch.as_tensor(_sincos(E, p), dtype=torch.float32))
            self.cls_token = nn.Parameter(torch.empty(E).normal_(0.0, 0.02, generator=generator))
            self.mask_token = nn.Parameter(torch.empty(E).normal_(0.0, 0.02, generator=generator))
            self.encoder = nn.ModuleList([Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(E, eps=_LN_EPS)
            self.decoder_embed = linear(E, E)
            self.decoder = nn.ModuleList([Block() for _ in range(decoder_depth)])
            self.decoder_norm = nn.LayerNorm(E, eps=_LN_EPS)
            self.head = linear(E, 1)

        def forward(self, x, visible):
            """x (B, p) in [0, 1]; visible (B, p) bool. Returns predictions (B, p) in (0, 1).

            The encoder runs on CLS and each row's visible tokens only, gathered to the front
            (rows with fewer visible tokens padded with masked keys whose outputs are dropped).
            A non-visible value is zeroed before embedding and never attended to by the encoder,
            so it cannot influence any output."""
            B = x.shape[0]
            keep = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), visible], dim=1)
            n_keep = keep.sum(1)
            K = int(n_keep.max())
            # positions of each row's kept tokens first, in order (CLS at 0), then the others
            order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)[:, :K]
            tokens = self.embed(torch.where(visible, x, torch.zeros_like(x))[..., None]) + self.pos[1:]
            h = torch.cat([(self.cls_token + self.pos[0]).expand(B, 1, E), tokens], dim=1)
            h = h.gather(1, order[..., None].expand(B, K, E))
            bias = None
            if bool((n_keep < K).any()):
                pad = torch.arange(K, device=x.device) >= n_keep[:, None]
                bias = torch.zeros(B, 1, 1, K, device=x.device).masked_fill_(pad[:, None, None, :], float("-inf"))
            for blk in self.encoder:
                h = blk(h, bias)
            h = self.decoder_embed(self.norm(h))
            # back to the p + 1 positions: the mask token wherever the encoder did not run
            h = torch.zeros(B, p + 1, E, device=x.device).scatter(1, order[..., None].expand(B, K, E), h)
            h = torch.where(keep[..., None], h, self.mask_token.expand_as(h)) + self.pos
            for blk in self.decoder:
                h = blk(h)
            out = self.head(self.decoder_norm(h))[:, 1:, 0]
            return torch.tanh(out) / 2 + 0.5

    return MaskedAutoencoder()


def remask_loss(pred, x, observed, visible):
    """The training loss of the module docstring: mean squared error over the re-masked entries
    R = observed & ~visible plus that over the visible ones V (a set with no entry adds nothing)."""
    sq = (pred - x) ** 2
    return sum((sq * part).sum() / part.sum() for part in (observed & ~visible, visible) if part.any())


class _FlatAdamW:
    """AdamW with ``MultiTensorAdam``'s arithmetic (torch.optim.AdamW's, foreach) on all parameters
    at once. The parameters and their gradients become views into one flat tensor each (autograd
    accumulates into an existing gradient in place), so a step is a few elementwise operations on
    that tensor instead of a few per parameter: for this network's 130-odd small tensors the
    per-tensor dispatch cost more than the arithmetic. Every parameter receives a gradient at every
    step, so all share one step count."""

    def __init__(self, params, lr: float, betas, eps: float = 1e-8, weight_decay: float = 0.0):
        import torch

        params = list(params)
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in params])
            self.grad = torch.zeros_like(self.flat)
            offset = 0
            for p in params:
                n = p.numel()
                p.data = self.flat[offset:offset + n].view_as(p)
                p.grad = self.grad[offset:offset + n].view_as(p)
                offset += n
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.lr, (self.beta1, self.beta2) = float(lr), (float(b) for b in betas)
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.steps = 0

    def zero_grad(self) -> None:
        self.grad.zero_()

    def step(self) -> None:
        import torch

        self.steps += 1
        lr, beta1, beta2, s = self.lr, self.beta1, self.beta2, float(self.steps)
        with torch.no_grad():
            if self.weight_decay != 0:
                self.flat.mul_(1 - lr * self.weight_decay)
            self.exp_avg.lerp_(self.grad, 1 - beta1)
            self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
            denom = self.exp_avg_sq.sqrt().div_((1 - beta2 ** s) ** 0.5).add_(self.eps)
            self.flat.addcdiv_(self.exp_avg, denom, value=(lr / (1 - beta1 ** s)) * -1)


class ReMaskerImputer(BaseImputer):
    """Masked-autoencoder imputation with re-masking of observed entries.

    Parameters
    ----------
    n_epochs : int
        Passes over the shuffled rows.
    batch_size : int
        Rows per step (the last batch of an epoch may be smaller).
    embed_dim : int
        Token width E of the encoder and the decoder (divisible by ``num_heads``, even).
    depth, decoder_depth : int
        Transformer blocks in the encoder and in the decoder.
    num_heads : int
        Attention heads of every block.
    mlp_ratio : float
        Hidden width of each block's MLP, as a multiple of E.
    mask_ratio : float in [0, 1)
        Fraction of each row's observed entries re-masked during training.
    remask_rule : {"ratio", "count"}
        ``ratio``: round(mask_ratio * |O|) observed entries re-masked per row (the default);
        ``count``: the original's floor(p * (1 - mask_ratio)) visible tokens, observed ones only.
    base_lr : float
        Peak learning rate is base_lr * batch_size / 64.
    min_lr : float
        Floor of the cosine decay.
    warmup_epochs : int
        Epochs of linear warm-up (0: none).
    weight_decay : float
        AdamW's decoupled weight decay.

    Fitted attributes: ``lr_`` (peak), ``losses_`` (mean loss per epoch), ``n_epochs_``.
    """

    def __init__(self, n_epochs: int = 600, batch_size: int = 64, embed_dim: int = 32, depth: int = 6,
                 decoder_depth: int = 4, num_heads: int = 4, mlp_ratio: float = 4.0, mask_ratio: float = 0.5,
                 base_lr: float = 1e-3, min_lr: float = 1e-5, warmup_epochs: int = 40, weight_decay: float = 0.01,
                 random_state: int | None = None, device: str = "auto",
                 num_threads: int | None = 1, remask_rule: str = "ratio"):
        super().__init__(random_state=random_state, device=device)
        self.remask_rule = remask_rule
        self.num_threads = num_threads
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.decoder_depth = decoder_depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.mask_ratio = mask_ratio
        self.base_lr = base_lr
        self.min_lr = min_lr
        self.warmup_epochs = warmup_epochs
        self.weight_decay = weight_decay

    #: Arguments added after records existed: the complete preset may omit them (their default
    #: keeps what those records ran), so no committed record changes its identity.
    config_optional = ("remask_rule",)
    REMASK_RULES = ("ratio", "count")

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.remask_rule not in self.REMASK_RULES:
            raise ValueError(f"remask_rule must be one of {', '.join(self.REMASK_RULES)}, got {self.remask_rule!r}")
        check_counts(n_epochs=self.n_epochs, batch_size=self.batch_size, embed_dim=self.embed_dim, depth=self.depth,
                     decoder_depth=self.decoder_depth, num_heads=self.num_heads)
        E, heads = int(self.embed_dim), int(self.num_heads)
        if E % heads or E % 2:
            raise ValueError(f"embed_dim must be even and divisible by num_heads={heads}, got {self.embed_dim!r}")
        if not float(self.mlp_ratio) > 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        if not 0.0 <= float(self.mask_ratio) < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio!r}")
        if not float(self.base_lr) > 0:
            raise ValueError(f"base_lr must be > 0, got {self.base_lr!r}")
        if not 0.0 <= float(self.min_lr) <= float(self.base_lr) * int(self.batch_size) / 64:
            raise ValueError(f"min_lr must be in [0, peak lr = base_lr * batch_size / 64], got {self.min_lr!r}")
        if int(self.warmup_epochs) < 0 or int(self.warmup_epochs) > int(self.n_epochs):
            raise ValueError(f"warmup_epochs must be in [0, n_epochs], got {self.warmup_epochs!r}")
        if not float(self.weight_decay) >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def _lr_at(self, epoch: float) -> float:
        """Linear warm-up to the peak, then a half cosine to ``min_lr``, at a fractional epoch."""
        warm, total, low = int(self.warmup_epochs), int(self.n_epochs), float(self.min_lr)
        if epoch < warm:
            return self.lr_ * epoch / warm
        return low + (self.lr_ - low) * 0.5 * (1.0 + math.cos(math.pi * (epoch - warm) / max(total - warm, 1)))

    def _remask(self, observed, gen):
        """Visible set: each row's observed entries minus round(mask_ratio * |O|) of them chosen
        at random (never all of them); with ``remask_rule="count"``, min(floor(p * (1 -
        mask_ratio)), |O|) of them stay visible. Missing entries are never visible."""
        import torch

        n_obs = observed.sum(1, keepdim=True)
        if self.remask_rule == "count":
            keep = math.floor(observed.shape[1] * (1.0 - float(self.mask_ratio)))
            n_hide = (n_obs - keep).clamp(min=0)
        else:
            n_hide = torch.minimum(torch.round(float(self.mask_ratio) * n_obs), n_obs - 1).clamp(min=0)
        # random rank of each observed entry within its row; missing entries rank last
        noise = torch.rand(observed.shape, generator=gen, device=observed.device)
        noise = torch.where(observed, noise, torch.full_like(noise, 2.0))
        rank = noise.argsort(1).argsort(1)
        return observed & (rank >= n_hide)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        n, p = X.shape
        device = resolve_device(self.device)
        rng, init_gen, gen = self._torch_generators(device)

        lo = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - lo + _SCALE_EPS
        data = torch.as_tensor(np.nan_to_num((X - lo) / span), dtype=torch.float32, device=device)
        observed = torch.as_tensor(~mask, device=device)

        model = _build(p, int(self.embed_dim), int(self.depth), int(self.decoder_depth), int(self.num_heads),
                       float(self.mlp_ratio), init_gen).to(device)
        B = int(self.batch_size)
        self.lr_ = float(self.base_lr) * B / 64
        # torch.optim.AdamW(foreach=True)'s arithmetic without its per-step bookkeeping
        opt = _FlatAdamW(model.parameters(), lr=self.lr_, betas=(0.9, 0.95), weight_decay=float(self.weight_decay))
        n_batches = math.ceil(n / B)
        losses = np.empty(int(self.n_epochs))
        model.train()
        progress = Progress("remasker", int(self.n_epochs))
        for epoch in range(int(self.n_epochs)):
            total = 0.0
            perm = rng.permutation(n)
            for it in range(n_batches):
                opt.lr = self._lr_at(epoch + it / n_batches)
                idx = torch.as_tensor(perm[it * B:(it + 1) * B], device=device)
                x, obs = data[idx], observed[idx]
                visible = self._remask(obs, gen)
                loss = remask_loss(model(x, visible), x, obs, visible)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            losses[epoch] = total / n_batches
            if not np.isfinite(losses[epoch]):
                progress.close()
                raise ImputationError(f"ReMasker loss became non-finite at epoch {epoch}")
            progress.update()
        progress.close()
        self.losses_, self.n_epochs_ = losses, int(self.n_epochs)

        model.eval()
        out = np.empty((n, p))
        with torch.inference_mode():
            for start in range(0, n, _PREDICT_CHUNK):
                sl = slice(start, start + _PREDICT_CHUNK)
                out[sl] = model(data[sl], observed[sl]).double().cpu().numpy()
        return out * span + lo
