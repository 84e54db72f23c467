"""Softmax attention for short sequences on CPU.

A row of a table is a short sequence (its features, or its visible entries): a few to a few
dozen keys. Below ``SHORT_KEYS`` keys, torch's CPU softmax over the last dimension runs a scalar
loop per row, several times slower than the same arithmetic written as whole-tensor operations,
which is what :func:`softmax` does there. :func:`attend` (attention without gradient, as in
sampling) does the same from ``SHORT_ATTEND`` keys on; with fewer keys the products of the
short form lose what its softmax gains, and ``scaled_dot_product_attention`` is faster. From
``SHORT_KEYS`` keys on, or on another device, torch's kernels are used.

The function is the same either way; the rounding of the sums differs in the last bits.
``scripts/bench_attention.py`` times both forms over the number of keys.
"""
from __future__ import annotations

import functools
import math

import torch

#: Fewest keys at which torch's own softmax kernel is the faster form on CPU.
SHORT_KEYS = 16
#: Fewest keys at which the short form of the whole attention beats ``scaled_dot_product_attention``.
SHORT_ATTEND = 8


@functools.lru_cache(maxsize=None)
def _short_softmax():
    class ShortSoftmax(torch.autograd.Function):
        """y = exp(s - max_j s_j) / sum_j exp(s - max_j s_j);  ds = y * (g - sum_j g_j y_j)."""

        @staticmethod
        def forward(ctx, s):
            e = (s - s.amax(-1, keepdim=True)).exp_()
            y = e.div_(e.sum(-1, keepdim=True))
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            gy = g * y
            return gy.sub_(y * gy.sum(-1, keepdim=True))

    return ShortSoftmax.apply


def _short(n_keys: int, device: torch.device, fewest: int = 0) -> bool:
    return fewest <= n_keys < SHORT_KEYS and device.type == "cpu"


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """``torch.softmax(scores, -1)`` (differentiable), by the faster form for the number of keys.
    A key scored ``-inf`` gets weight 0, as in torch's."""
    return _short_softmax()(scores) if _short(scores.shape[-1], scores.device) else torch.softmax(scores, dim=-1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``scaled_dot_product_attention(q, k, v)`` without mask or dropout: softmax(q k^T / sqrt(D)) v
    over (..., L, D) inputs, by the faster form for the number of keys."""
    if not _short(k.shape[-2], k.device, SHORT_ATTEND):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return softmax((q @ k.transpose(-1, -2)).div_(math.sqrt(q.shape[-1]))) @ v
