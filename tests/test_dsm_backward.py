"""The hand-written DSM gradient and flat Adam (knewimp.dsm_backward) against autograd and torch.optim."""
import copy

import pytest
import torch

from knewimp.dsm_backward import ManualDSM
from knewimp.score import EnergyMLP, dsm_loss, fit_score


def _net(dim, hidden, seed):
    gen = torch.Generator().manual_seed(seed)
    net = EnergyMLP(dim, hidden, generator=gen)
    with torch.no_grad():
        for beta in net.betas:  # non-trivial slopes so that the beta terms are exercised
            beta.uniform_(0.3, 2.0, generator=gen)
    return net, gen


@pytest.mark.parametrize("hidden", [(16, 16), (16, 8, 12), (9,)])
@pytest.mark.parametrize("masks", ["joint", "masked", "conditional"])
def test_manual_gradient_equals_autograd(hidden, masks):
    net, gen = _net(3, hidden, 1)
    x = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    v = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    t = (torch.rand(30, 3, generator=gen) < 0.6).double()
    kw = {"joint": {}, "masked": {"loss_mask": t}, "conditional": {"noise_mask": t, "loss_mask": t}}[masks]
    loss = dsm_loss(net, x, v, 0.1, **kw)
    loss.backward()
    expected = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
    assert "out_bias" not in expected  # the output bias does not enter the score
    manual = ManualDSM(net)
    got = manual.loss_and_grad(x, v, 0.1, kw.get("noise_mask"), kw.get("loss_mask"))
    assert got == pytest.approx(loss.item(), rel=1e-13)
    for name, p in net.named_parameters():
        if name in expected:
            torch.testing.assert_close(manual.grad_of(p), expected[name], rtol=1e-11, atol=1e-12)


def test_flat_adam_is_torch_adam_bit_for_bit():
    """Given the same gradients, the flat Adam moves every parameter exactly as torch.optim.Adam."""
    net, gen = _net(4, (8, 8), 2)
    twin = copy.deepcopy(net)
    manual = ManualDSM(net, lr=1e-3)
    opt = torch.optim.Adam([p for name, p in twin.named_parameters() if name != "out_bias"], lr=1e-3)
    for _ in range(5):
        x = torch.randn(20, 4, generator=gen, dtype=torch.float64)
        v = torch.randn(20, 4, generator=gen, dtype=torch.float64)
        manual.loss_and_grad(x, v, 0.1)
        for (name, p), (_, q) in zip(net.named_parameters(), twin.named_parameters()):
            q.grad = None if name == "out_bias" else manual.grad_of(p).clone()
        manual._adam()
        opt.step()
    for p, q in zip(net.parameters(), twin.parameters()):
        assert torch.equal(p, q)


def test_fit_score_manual_and_autograd_agree():
    """Several epochs of both training paths from one start: the same losses and weights up to rounding."""
    nets = [_net(3, (16, 16), 3)[0] for _ in range(2)]
    start = [p.detach().clone() for p in nets[0].parameters()]
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    hist = [[], []]
    for net, h, manual in zip(nets, hist, (True, False)):
        fit_score(net, x, 20, 0.1, torch.Generator().manual_seed(5), history=h, manual=manual)
    torch.testing.assert_close(torch.tensor(hist[0]), torch.tensor(hist[1]), rtol=1e-12, atol=0)
    for p, q in zip(*(n.parameters() for n in nets)):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    assert not torch.equal(next(nets[0].parameters()), start[0])  # it trains


def test_frozen_score_equals_score():
    net, gen = _net(5, (16, 8, 12), 6)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    with torch.inference_mode():
        torch.testing.assert_close(net.frozen_score()(x), net.score(x), rtol=1e-12, atol=1e-12)
