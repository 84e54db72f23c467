"""Follow one CSDI-T / MissDiff reverse chain step by step: does it stay in range or diverge?

Trains the method with a preset (optionally fewer epochs) on a dataset at MCAR 30% exactly as
``fit_transform`` does, then runs the batched reverse chain and prints, every ``--every`` steps
and over the MISSING entries of all samples: the spread of the current sample x_t (std, max |x|),
and how well the predicted noise follows x_t (correlation). At near-pure-noise levels
(abar_t ~ 0) the right prediction is eps ~ x_t; a correlation that falls while the std grows is
the runaway that ends in a diverged imputation (see docs/diffusion.md).

    python scripts/trace_diffusion.py --dataset pk --method csdi_t --preset published --epochs 100 --samples 4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_diffusion import data, preset_params  # noqa: E402

from knewimp.baselines.diffusion.core import standardise, torch_threads  # noqa: E402
from knewimp.baselines.diffusion.sample import ancestral_sample, default_chunk  # noqa: E402
from knewimp.baselines.diffusion.schedule import make_schedule  # noqa: E402
from knewimp.baselines.diffusion.train import train  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="pk")
    ap.add_argument("--method", default="csdi_t", choices=["csdi_t", "missdiff"])
    ap.add_argument("--preset", default="published")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    ap.add_argument("--samples", type=int, default=4, help="samples per row in the traced chain")
    ap.add_argument("--every", type=int, default=5, help="print every k-th reverse step")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    cls, params = preset_params(args.method, args.preset)
    if args.epochs:
        params["epochs"] = args.epochs
    imp = cls(**params, random_state=args.seed, device="cpu")
    X, Xm, mask = data(args.dataset, "mcar", 0.3, args.seed)
    Z, mu, sd = standardise(Xm)
    observed = torch.as_tensor(~mask)
    n, d = Z.shape
    sch = make_schedule(imp.n_steps, imp.beta_start, imp.beta_end, imp.schedule)
    g = torch.Generator().manual_seed(args.seed)
    S = args.samples
    missing = (~observed).repeat(S, 1)
    print(f"{args.method} {args.preset} on {args.dataset} {n}x{d}: {params['epochs']} epochs, T = {sch.n_steps}, "
          f"last abar {float(sch.alpha_bars[-1]):.1e}; {S} samples")

    def monitor(t, x, eps):
        if t % args.every and 2 < t < sch.n_steps - 1:
            return
        xm, em = x[missing], eps[missing]
        corr = float(torch.corrcoef(torch.stack([xm, em]))[0, 1])
        print(f"t={t:4d} abar={float(sch.alpha_bars[t]):.1e} std(x_t)={float(xm.std()):10.3g} "
              f"max|x_t|={float(xm.abs().max()):10.3g} corr(eps_hat, x_t)={corr:6.3f}", flush=True)

    with torch_threads(imp.num_threads):
        net = imp.build_network(d, g)
        losses = train(net, imp.batch_loss(net, Z, observed, sch), n, params["epochs"], imp.batch_size, imp.lr,
                       imp.weight_decay, list(imp.lr_milestones), imp.lr_gamma, g)
        print(f"training loss: first epoch {losses[0]:.3f}, last {losses[-1]:.3f}")
        net.eval()
        eps_fn, replace = imp.sampling_hooks(net, Z, observed, sch, g)
        x0 = ancestral_sample(eps_fn, S * n, d, sch, g, default_chunk(d), replace, monitor=monitor)
    med = np.median(x0.view(S, n, d).numpy(), axis=0)
    out = np.where(mask, med * sd + mu, Xm)
    print(f"MAE of the median of {S} samples: {float(np.abs(out - X)[mask].mean()):.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
