"""Multi-tensor Adam, AdamW and RMSprop steps without ``torch.optim``'s per-step bookkeeping.

For the small networks of these baselines, ``torch.optim``'s foreach optimisers spend much of a
step outside arithmetic: regrouping the tensors by device and dtype, reading every parameter's
step count back from a tensor, hooks and profiler records. These classes keep their state in
lists and issue the same ``torch._foreach_*`` kernels, in the same order, with the same scalars
(PyTorch's multi-tensor implementations, ``maximize``, ``amsgrad``, momentum and centring off),
so a run gives the numbers ``torch.optim`` gives on the same torch (``tests/test_steps.py``
compares them bit for bit; ``scripts/bench_speedup.py`` compares whole runs against the committed
code). A parameter without a gradient is skipped and its step count not advanced, as there.
"""
from __future__ import annotations

import torch


class _MultiTensor:
    def __init__(self, params, lr: float):
        self.params = list(params)
        self.lr = float(lr)
        self.steps = [0] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _live(self) -> list[int]:
        return [i for i, p in enumerate(self.params) if p.grad is not None]


class MultiTensorAdam(_MultiTensor):
    """``torch.optim.Adam(..., foreach=True)`` (``weight_decay=0``), or ``torch.optim.AdamW`` with
    ``decoupled=True`` (decoupled weight decay); ``lr`` may be changed between steps."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled: bool = False):
        super().__init__(params, lr)
        if weight_decay and not decoupled:
            raise ValueError("only decoupled weight decay (AdamW) is implemented")
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        live = self._live()
        if len(live) == len(self.params):
            params, exp_avgs, exp_avg_sqs = self.params, self.exp_avgs, self.exp_avg_sqs
        else:
            params = [self.params[i] for i in live]
            exp_avgs, exp_avg_sqs = [self.exp_avgs[i] for i in live], [self.exp_avg_sqs[i] for i in live]
        grads = [p.grad for p in params]
        for i in live:
            self.steps[i] += 1
        lr, beta1, beta2 = self.lr, self.beta1, self.beta2
        if self.weight_decay != 0:
            torch._foreach_mul_(params, 1 - lr * self.weight_decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        # torch.optim reads each step count back as a float: the same powers
        steps = [float(self.steps[i]) for i in live]
        step_size = [(lr / (1 - beta1 ** s)) * -1 for s in steps]
        bias_correction2_sqrt = [(1 - beta2 ** s) ** 0.5 for s in steps]
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)


class MultiTensorRMSprop(_MultiTensor):
    """``torch.optim.RMSprop(..., foreach=True)`` with its defaults (alpha 0.99, eps 1e-8, no
    momentum, not centred, no weight decay)."""

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr)
        self.alpha, self.eps = float(alpha), float(eps)
        self.square_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        live = self._live()
        if len(live) == len(self.params):
            params, square_avgs = self.params, self.square_avgs
        else:
            params, square_avgs = [self.params[i] for i in live], [self.square_avgs[i] for i in live]
        grads = [p.grad for p in params]
        torch._foreach_mul_(square_avgs, self.alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - self.alpha)
        avg = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(avg, self.eps)
        torch._foreach_addcdiv_(params, grads, avg, value=-self.lr)
