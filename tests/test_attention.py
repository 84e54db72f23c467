import pytest
import torch
import torch.nn.functional as F

from knewimp.baselines.attention import SHORT_ATTEND, SHORT_KEYS, attend, softmax


@pytest.mark.parametrize("T", [3, 12, SHORT_KEYS - 1, SHORT_KEYS, 24])
def test_softmax_is_torch_softmax_in_value_and_gradient(T):
    """Both forms are the same function, padded (-inf) keys included."""
    g = torch.Generator().manual_seed(T)
    s = 3 * torch.randn(8, 4, T, T, generator=g)
    s[..., T - 2:] = float("-inf")
    s.requires_grad_(True)
    upstream = torch.randn(8, 4, T, T, generator=g)
    y0, y1 = torch.softmax(s, -1), softmax(s)
    (d0,), (d1,) = torch.autograd.grad(y0, s, upstream), torch.autograd.grad(y1, s, upstream)
    assert torch.allclose(y0, y1, rtol=0, atol=1e-6) and torch.allclose(d0, d1, rtol=0, atol=1e-5)
    assert bool((y1[..., T - 2:] == 0).all()) and bool((d1[..., T - 2:] == 0).all())


@pytest.mark.parametrize("L", [4, SHORT_ATTEND, SHORT_KEYS - 1, SHORT_KEYS, 30])
def test_attend_is_scaled_dot_product_attention(L):
    g = torch.Generator().manual_seed(L)
    q, k, v = (torch.randn(16, 2, L, 32, generator=g) for _ in range(3))
    assert torch.allclose(attend(q, k, v), F.scaled_dot_product_attention(q, k, v), rtol=0, atol=1e-5)


def test_short_form_is_used_below_the_threshold_only():
    """The two forms differ in rounding only; which one ran is told by bitwise equality with torch."""
    g = torch.Generator().manual_seed(0)
    short = torch.randn(64, 4, SHORT_KEYS - 1, SHORT_KEYS - 1, generator=g)
    long = torch.randn(64, 4, SHORT_KEYS, SHORT_KEYS, generator=g)
    assert torch.equal(softmax(long), torch.softmax(long, -1))
    assert not torch.equal(softmax(short), torch.softmax(short, -1))


def test_attend_takes_the_short_form_between_its_thresholds_only():
    g = torch.Generator().manual_seed(1)
    for L, short in ((SHORT_ATTEND - 1, False), (SHORT_ATTEND, True), (SHORT_KEYS - 1, True), (SHORT_KEYS, False)):
        q, k, v = (torch.randn(64, 2, L, 8, generator=g) for _ in range(3))
        assert torch.equal(attend(q, k, v), F.scaled_dot_product_attention(q, k, v)) is not short, L
