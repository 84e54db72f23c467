"""The baselines' multi-tensor optimiser steps give torch.optim's numbers bit for bit."""
import pytest
import torch

from knewimp.baselines.steps import MultiTensorAdam, MultiTensorRMSprop


def _model(seed):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.SELU(), torch.nn.Linear(16, 5))
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.5, 0.5, generator=g)
    spare = torch.nn.Parameter(torch.randn(3, generator=g))  # gets a gradient on some steps only
    return [*net.parameters(), spare], net, spare


def _train(make_opt, set_lr, seed=0, steps=40):
    params, net, spare = _model(seed)
    opt = make_opt(params)
    g = torch.Generator().manual_seed(seed + 1)
    for it in range(steps):
        set_lr(opt, 1e-2 * (1 + it % 3))
        x = torch.randn(32, 5, generator=g)
        loss = ((net(x) - x.flip(1)) ** 2).mean() + (spare.sum() ** 2 if it % 4 == 0 else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in params]


def _torch_lr(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr


def _lean_lr(opt, lr):
    opt.lr = lr


@pytest.mark.parametrize("ours, theirs", [
    (lambda ps: MultiTensorAdam(ps, lr=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True)),
    (lambda ps: MultiTensorAdam(ps, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01, decoupled=True),
     lambda ps: torch.optim.AdamW(ps, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.01, foreach=True)),
    (lambda ps: MultiTensorRMSprop(ps, lr=1e-2), lambda ps: torch.optim.RMSprop(ps, lr=1e-2, foreach=True)),
], ids=["adam", "adamw", "rmsprop"])
def test_the_same_parameters_bit_for_bit_as_torch_optim(ours, theirs):
    a = _train(ours, _lean_lr)
    b = _train(theirs, _torch_lr)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], _model(0)[0][0])  # it trained


def test_l2_weight_decay_is_refused_rather_than_approximated():
    with pytest.raises(ValueError, match="decoupled"):
        MultiTensorAdam([torch.nn.Parameter(torch.zeros(2))], lr=1e-3, weight_decay=0.1)
