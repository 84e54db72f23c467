"""The TabCSDI denoising network eps_theta(x_t, t, side information), channels-last.

Layout: a row of d features is a sequence of d tokens (TabCSDI's (batch, channels, 1, d) with
the features as the sequence axis). Every 1x1 convolution of the original is the same map as a
``Linear`` over the channel axis of a (batch, d, channels) tensor, which is what is used here:
it feeds the batch-first Transformer without permutes.

    h_0 = ReLU(W_in u)                         u: 2 channels [c*x, (1-c)*x_t] (CSDI-T) or x_t (MissDiff)
    block l:  y = h + P_l e(t);  y = TransformerEncoderLayer(y)   (attention across the d features)
              y = W_mid y + W_side s;  y = sigmoid(y_a) * tanh(y_b);  [r, k] = W_out y
              h = (h + r) / sqrt 2,  skip_l = k
    eps = W_2 ReLU(W_1 sum_l skip_l / sqrt L)  (W_2 zero-initialised)
    e(t) = SiLU(W_e2 SiLU(W_e1 table[t]))     (sinusoidal step table, CSDI)
    s = [feature-index positional code (pos_emb_dim), learned feature embedding (feat_emb_dim),
         conditioning mask (CSDI-T only)]

The side projection is split exactly: W_side s = W_const [pos, emb] + w_mask * mask, so the
constant part is a (d, 2C) table and the mask part a rank-one term (no side tensor per row).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import attend, softmax
from .schedule import position_encoding, sinusoidal_table


def _dropout(z: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout whose mask comes from ``generator`` (nn.Dropout reads the global RNG)."""
    if p <= 0.0:
        return z
    # the uniform draws become the 0/1 mask in place and the scaling is done in place on the
    # product (neither result is saved for the backward pass): the same values as
    # ``z * (u >= p) / (1 - p)`` without two temporaries the size of ``z``
    keep = torch.rand(z.shape, generator=generator, device=z.device, dtype=z.dtype).ge_(p)
    return (z * keep).div_(1.0 - p)


def encoder_layer_train(layer: nn.TransformerEncoderLayer, x: torch.Tensor, p: float,
                        generator: torch.Generator | None) -> torch.Tensor:
    """``layer(x)`` in training mode (post-norm, GELU) with its four dropouts drawn from ``generator``.

    Same parameters and arithmetic as PyTorch's layer: attention-weight dropout, dropout on the
    attention output, inside the feed-forward block, and on its output.
    """
    attn = layer.self_attn
    B, L, C = x.shape
    H = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).view(B, L, 3, H, C // H).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    # in-place steps only where autograd keeps no copy of the overwritten tensor (matmul, scalar
    # division and addition save their inputs, not their outputs); x + y == y + x exactly
    w = softmax((q @ k.transpose(-1, -2)).div_(math.sqrt(C // H)))
    o = (_dropout(w, p, generator) @ v).transpose(1, 2).reshape(B, L, C)
    x = layer.norm1(_dropout(attn.out_proj(o), p, generator).add_(x))
    f = layer.linear2(_dropout(F.gelu(layer.linear1(x)), p, generator))
    return layer.norm2(_dropout(f, p, generator).add_(x))


def encoder_layer_eval(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` without dropout, attention through ``scaled_dot_product_attention``.

    Same result as PyTorch's own eval fast path, ~10% less CPU time on (rows, d <= 41, 64)
    inputs: the fast path's head split (_transform_bias_rescale_qkv) is a slow CPU kernel.
    """
    attn = layer.self_attn
    B, L, C = x.shape
    H = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).view(B, L, 3, H, C // H).permute(2, 0, 3, 1, 4)
    o = attend(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(B, L, C)
    x = layer.norm1(attn.out_proj(o).add_(x))
    return layer.norm2(layer.linear2(F.gelu(layer.linear1(x))).add_(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, side_dim: int, mask_channel: bool, step_emb_dim: int,
                 n_heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.dropout = float(dropout)
        self.mask_channel = bool(mask_channel)
        self.step_proj = nn.Linear(step_emb_dim, channels)
        # CSDI's one 1x1 conv over [pos, emb, mask] is kept as its two column blocks: a Linear on
        # the constant side channels and the mask channel's weight column (a rank-one term).
        self.side_proj = nn.Linear(side_dim, 2 * channels)
        self.mask_weight = nn.Parameter(torch.zeros(2 * channels)) if mask_channel else None
        self.mid_proj = nn.Linear(channels, 2 * channels)
        self.out_proj = nn.Linear(channels, 2 * channels)
        self.transformer = nn.TransformerEncoderLayer(channels, n_heads, dim_feedforward=ff_dim, dropout=dropout,
                                                      activation="gelu", batch_first=True)

    def forward(self, h, emb, side_const, mask, generator=None):
        y = h + self.step_proj(emb).unsqueeze(1)
        if self.training and self.dropout > 0:
            y = encoder_layer_train(self.transformer, y, self.dropout, generator)
        else:
            y = encoder_layer_eval(self.transformer, y)
        y = self.mid_proj(y).add_(self.side_proj(side_const))
        if self.mask_channel:
            y = torch.addcmul(y, mask.unsqueeze(-1), self.mask_weight)
        gate, filt = y.chunk(2, dim=-1)
        y = self.out_proj(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, dim=-1)
        return (h + residual).div_(math.sqrt(2.0)), skip

    def skip_at(self, h, emb, side_const, mask, flat: torch.Tensor) -> torch.Tensor:
        """The skip output k of :meth:`forward` (eval mode) at the flattened tokens ``flat`` only, (M, C).

        Attention reads the keys and values of every token, but everything after it (output
        projection, feed-forward, norms, gate, W_out) acts on each token alone, so it runs on the
        selected tokens; the residual half of W_out, unused after the last block, is not computed.
        """
        B, L, C = h.shape
        layer, attn = self.transformer, self.transformer.self_attn
        H = attn.num_heads
        y = h + self.step_proj(emb).unsqueeze(1)
        qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).view(B, L, 3, H, C // H).permute(2, 0, 3, 1, 4)
        o = attend(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(B * L, C)[flat]
        x = layer.norm1(attn.out_proj(o).add_(y.reshape(B * L, C)[flat]))
        x = layer.norm2(layer.linear2(F.gelu(layer.linear1(x))).add_(x))
        z = self.mid_proj(x).add_(self.side_proj(side_const)[flat % L])
        if self.mask_channel:
            z = torch.addcmul(z, mask.reshape(B * L)[flat].unsqueeze(-1), self.mask_weight)
        gate, filt = z.chunk(2, dim=-1)
        return F.linear(torch.sigmoid(gate) * torch.tanh(filt), self.out_proj.weight[C:], self.out_proj.bias[C:])


class DiffusionNet(nn.Module):
    """eps_theta for rows of ``n_features`` values; ``in_channels`` 2 (conditional) or 1 (unconditional)."""

    def __init__(self, n_features: int, n_steps: int, in_channels: int = 2, mask_channel: bool = True,
                 channels: int = 64, n_layers: int = 4, n_heads: int = 2, ff_dim: int = 64,
                 step_emb_dim: int = 128, pos_emb_dim: int = 32, feat_emb_dim: int = 16, dropout: float = 0.1,
                 shared_feature_embedding: bool = False):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels={channels} must be divisible by n_heads={n_heads}")
        self.n_layers = int(n_layers)
        self.register_buffer("step_table", sinusoidal_table(n_steps, step_emb_dim), persistent=False)
        self.register_buffer("pos_code", position_encoding(n_features, pos_emb_dim), persistent=False)
        self.n_features = int(n_features)
        # shared: one learned vector for every feature (TabCSDI's layout, whose feature axis is the
        # sequence axis); the features then differ only by their positional code
        self.feat_embed = nn.Embedding(1 if shared_feature_embedding else n_features, feat_emb_dim)
        self.step_proj1 = nn.Linear(step_emb_dim, step_emb_dim)
        self.step_proj2 = nn.Linear(step_emb_dim, step_emb_dim)
        self.input_proj = nn.Linear(in_channels, channels)
        self.blocks = nn.ModuleList(
            ResidualBlock(channels, pos_emb_dim + feat_emb_dim, mask_channel, step_emb_dim, n_heads, ff_dim, dropout)
            for _ in range(n_layers))
        self.out1 = nn.Linear(channels, channels)
        self.out2 = nn.Linear(channels, 1)

    def conv_like(self):
        """The layers that are 1x1 convolutions in CSDI (Kaiming-normal initialised there)."""
        yield self.input_proj
        for b in self.blocks:
            yield from (b.side_proj, b.mid_proj, b.out_proj)
        yield from (self.out1, self.out2)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's and CSDI's initialisations, every random draw from ``generator``."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    bound = 1.0 / math.sqrt(m.weight.shape[1])
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, nn.MultiheadAttention):
                nn.init.xavier_uniform_(m.in_proj_weight, generator=generator)
                nn.init.zeros_(m.in_proj_bias)
                nn.init.zeros_(m.out_proj.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, generator=generator)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.conv_like():
            nn.init.kaiming_normal_(m.weight, generator=generator)
        for b in self.blocks:
            if b.mask_channel:  # Kaiming-normal over the full (2C, side_dim + 1) conv weight, then split
                w = torch.empty(b.side_proj.weight.shape[0], b.side_proj.weight.shape[1] + 1)
                nn.init.kaiming_normal_(w, generator=generator)
                b.side_proj.weight.data.copy_(w[:, :-1])
                b.mask_weight.data.copy_(w[:, -1])
                bound = 1.0 / math.sqrt(w.shape[1])
                nn.init.uniform_(b.side_proj.bias, -bound, bound, generator=generator)
        nn.init.zeros_(self.out2.weight)

    def step_embedding(self, t: torch.Tensor) -> torch.Tensor:
        e = F.silu(self.step_proj1(self.step_table[t]))
        return F.silu(self.step_proj2(e))

    def side_constant(self) -> torch.Tensor:
        """(d, pos_emb_dim + feat_emb_dim): the row-independent side information."""
        return torch.cat([self.pos_code, self.feat_embed.weight.expand(self.n_features, -1)], dim=1)

    def forward(self, u: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None, wanted: torch.Tensor | None = None) -> torch.Tensor:
        """u: (B, d, in_channels); t: (B,) or (1,) step indices; mask: (B, d) float or None -> eps (B, d).

        ``wanted`` (B, d) bool, eval mode only: eps is computed at the wanted entries alone and is
        0 elsewhere. The head and everything after the last block's attention act on each token
        alone, so they run on the wanted tokens only (sampling needs eps at missing entries only).
        """
        emb = self.step_embedding(t)
        side = self.side_constant()
        h = F.relu(self.input_proj(u))
        skips = None
        n_full = self.n_layers - (wanted is not None)
        for block in self.blocks[:n_full]:
            h, skip = block(h, emb, side, mask, generator)
            skips = skip if skips is None else skips + skip
        if wanted is None:
            return self.out2(F.relu(self.out1(skips / math.sqrt(self.n_layers)))).squeeze(-1)
        if self.training:
            raise ValueError("DiffusionNet: `wanted` is for eval mode (sampling) only")
        B, L = wanted.shape
        flat = wanted.reshape(B * L).nonzero().squeeze(1)
        skip = self.blocks[-1].skip_at(h, emb, side, mask, flat)
        if skips is not None:
            skip = skips.reshape(B * L, -1)[flat] + skip
        eps = u.new_zeros(B * L)
        eps[flat] = self.out2(F.relu(self.out1(skip / math.sqrt(self.n_layers)))).squeeze(-1)
        return eps.view(B, L)
