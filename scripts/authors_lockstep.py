"""Lockstep comparison of KnewImputer with the authors' released code, step by step.

Both codes run the whole algorithm from ONE state: the authors' run is recorded (initial network
weights, initial fill, every DSM noise draw with the row order of their shuffled batch, DSM
losses, particle positions, scores and directions at every particle step), and ours is driven
with the same initial weights, initial fill and noise and recorded at the same points. Nothing in
either algorithm is changed: the recordings come from subclasses / wrappers around the objects
each code creates (their optimiser, trainer, dataset and energy model; our network factory,
initial fill, DSM fit and direction evaluator), and the noise is handed to our ``fit_score``
by replaying ``torch.randn``.

With float64 and identical inputs the two trajectories agree to rounding for as long as the flow
does not amplify rounding; the report gives, per outer iteration, the largest relative
difference of the DSM losses and the largest absolute differences of positions, scores and
directions at each particle step, so where they part shows which stage differs.

    python scripts/authors_lockstep.py --dataset qb --mechanism mnar --epochs 200 --steps 500
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import authors_ref  # noqa: E402

import knewimp.imputer as kimp  # noqa: E402
import knewimp.kernels as kker  # noqa: E402
from knewimp.score import EnergyMLP  # noqa: E402


@dataclass
class Trace:
    """What one code did, in our row order; lists are per outer iteration, then per step."""

    init_state: dict = field(default_factory=dict)   # authors' ToyMLP state dict at construction
    init_fill: np.ndarray | None = None              # filled matrix before the first DSM epoch
    noise: list = field(default_factory=list)        # [outer][epoch] v ~ N(0, I), our row order
    dsm_loss: list = field(default_factory=list)     # [outer][epoch]
    X: list = field(default_factory=list)            # [outer][step] positions before the step
    S: list = field(default_factory=list)            # [outer][step] scores at those positions
    G: list = field(default_factory=list)            # [outer][step] direction, zero on observed
    next: list = field(default_factory=list)         # fed runs: [outer][step] positions after the step
    out: np.ndarray | None = None


def _kept(t: int, steps: int, every: int) -> bool:
    """Whether particle step t (0-based) of ``steps`` is recorded."""
    return t % every == 0 or t == steps - 1


@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def run_authors(ref, x_miss: np.ndarray, seed: int, epochs: int, steps: int, n_outer: int = 2,
                every: int = 1) -> Trace:
    """Their ``fit_transform`` on ``x_miss``, recorded (particle steps 1, 1 + every, ..., and the
    last of each outer iteration); seeded as their run script seeds it."""
    tr = Trace()
    count = {"score": 0, "step": 0}
    n = x_miss.shape[0]
    st, stt = ref.score_tuple, ref.score_trainer
    batch_rows: list = []

    class RecEnergy(st.Energy):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            # built right after the ToyMLP it wraps, before any training: its initial weights
            tr.init_state = {key: v.detach().clone() for key, v in self.net.state_dict().items()}
            inner = self.functorch_score

            def score(x):
                s = inner(x)
                if _kept(count["score"], steps, every):
                    tr.S[-1].append(s.detach().clone().numpy())
                count["score"] += 1
                return s

            self.functorch_score = score

    class RecDataset(st.MyDataset):
        def __getitem__(self, item):
            batch_rows.append(int(item))
            return super().__getitem__(item)

    class RecTrainer(stt.Trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)  # one Trainer per outer iteration
            count.update(score=0, step=0)
            for lst in (tr.noise, tr.dsm_loss, tr.X, tr.S, tr.G):
                lst.append([])

        def get_random_noise(self, x, n_slices=None):
            v = super().get_random_noise(x, n_slices)
            perm = np.array(batch_rows[-n:])
            ours = np.empty(v.shape)
            ours[perm] = v.detach().numpy()  # batch row k is data row perm[k]
            tr.noise[-1].append(ours)
            return v

        def dsm_loss(self, x, v, sigma=0.1):
            loss = super().dsm_loss(x, v, sigma)
            tr.dsm_loss[-1].append(float(loss.detach()))
            return loss

    class RecAdam(torch.optim.Adam):
        def __init__(self, params, *a, **k):
            params = list(params)
            tr.init_fill = params[0].detach().clone().numpy()
            super().__init__(params, *a, **k)

        def step(self, closure=None):
            p = self.param_groups[0]["params"][0]
            if _kept(count["step"], steps, every):
                tr.X[-1].append(p.detach().clone().numpy())
                tr.G[-1].append(p.grad.detach().clone().numpy())
            count["step"] += 1
            return super().step(closure)

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(st, "Energy", RecEnergy))
        stack.enter_context(_patched(st, "MyDataset", RecDataset))
        stack.enter_context(_patched(ref.wgf_imp, "Trainer", functools.partial(RecTrainer, device=ref.device)))
        stack.enter_context(authors_ref.float64())
        ref.utils.enable_reproducible_results(seed)
        imp = authors_ref.make_imputer(ref, score_net_epoch=epochs, sampling_step=steps, niter=n_outer,
                                       opt=RecAdam)
        x_true = np.where(np.isnan(x_miss), 0.0, x_miss)  # their code scores against it; unused here
        out, _ = imp.fit_transform(x_miss.copy(), verbose=False, X_true=x_true)
    tr.out = out.detach().numpy().copy()
    return tr


def copy_authors_weights(net: EnergyMLP, state: dict) -> None:
    """Load the authors' ToyMLP state (net.{0,3,...}.weight/bias, net.{1,4,...}.beta) into ``net``."""
    layers = len(net.weights)
    with torch.no_grad():
        for i in range(layers):
            net.weights[i].copy_(state[f"net.{3 * i}.weight"])
            net.biases[i].copy_(state[f"net.{3 * i}.bias"])
            net.betas[i].copy_(state[f"net.{3 * i + 1}.beta"])
        net.out_weight.copy_(state[f"net.{3 * layers}.weight"])
        net.out_bias.copy_(state[f"net.{3 * layers}.bias"])


def run_ours(x_miss: np.ndarray, theirs: Trace, epochs: int, steps: int, n_outer: int = 2,
             every: int = 1, fed: bool = False, imputer_cls=kimp.KnewImputer, **params) -> Trace:
    """Our ``fit_transform`` from the authors' initial weights, fill and DSM noise, recorded.

    ``fed=True`` (needs ``theirs`` recorded at every step): before each particle step and each
    DSM fit, our particles are set to the authors' positions at that point, so every step of ours
    starts where theirs did and ``Trace.next`` holds where our step took them; rounding then
    cannot accumulate along the trajectory and the comparison is one step of each code at a time.
    """
    if fed and every != 1:
        raise ValueError("fed=True needs every step of the authors' run (every=1)")
    tr = Trace(init_state=theirs.init_state, init_fill=theirs.init_fill)
    noise = iter([v for per_outer in theirs.noise for v in per_outer])
    real_randn, real_factory = torch.randn, kimp.EnergyMLP
    real_direction, real_fit = kker.RBFDirection, kimp.fit_score
    state = {"outer": -1, "step": 0, "calls": 0, "steps_phase": False, "Xf": None}
    n = x_miss.shape[0]

    def randn(*args, **kwargs):
        if kwargs.get("generator") is None:
            return real_randn(*args, **kwargs)
        out = torch.as_tensor(next(noise), dtype=kwargs.get("dtype"), device=kwargs.get("device"))
        shape = args[0] if len(args) == 1 else args
        assert tuple(out.shape) == tuple(shape), (out.shape, shape)
        return out

    def feed_score(inner):
        """Wraps the score function: in the particle phase, set the particles to the authors' first."""
        def score(x):
            if state["steps_phase"]:
                o, t = state["outer"], state["calls"]
                state["calls"] += 1
                target = torch.as_tensor(theirs.X[o][t], dtype=x.dtype)
                Xf = state["Xf"]
                if t > 0:  # our step t-1 has just been written back into Xf
                    tr.next[-1].append(Xf.detach().clone().numpy())
                Xf.copy_(target)
                if x.shape[0] != n or x.data_ptr() != Xf.data_ptr():
                    x.copy_(target.index_select(0, torch.as_tensor(active_rows)))
            return inner(x)
        return score

    active_rows = np.flatnonzero(np.isnan(x_miss).any(axis=1))

    def factory(*args, **kwargs):
        net = real_factory(*args, **kwargs)
        copy_authors_weights(net, theirs.init_state)
        if fed:
            frozen = net.frozen_score  # the particle steps' score function, made once per outer iteration
            net.frozen_score = lambda: feed_score(frozen())
        return net

    class RecDirection(real_direction):
        def __call__(self, X, S, rows=None):
            G = super().__call__(X, S, rows)
            t = state["step"]
            state["step"] += 1
            if not _kept(t, steps, every):
                return G
            Xn = X.detach().clone().numpy()
            tr.X[-1].append(Xn)
            tr.S[-1].append(S.detach().clone().numpy())
            full = np.zeros_like(Xn)
            full[slice(None) if rows is None else rows.numpy()] = G.detach().numpy()
            full[~np.isnan(x_miss)] = 0.0
            tr.G[-1].append(full)
            return G

    class Recorder(imputer_cls):
        def _initial_fill(self, X, mask, rng):
            return theirs.init_fill.copy()

    def fit_score(net, x, *args, **kwargs):
        # one list per outer iteration, opened when its DSM fit starts
        state.update(outer=state["outer"] + 1, step=0, calls=0, steps_phase=False, Xf=x)
        if fed and state["outer"] > 0:
            tr.next[-1].append(x.detach().clone().numpy())
            x.copy_(torch.as_tensor(theirs.X[state["outer"]][0], dtype=x.dtype))
        for lst in (tr.dsm_loss, tr.X, tr.S, tr.G, tr.next):
            lst.append([])
        history = kwargs.pop("history", None)
        history = [] if history is None else history
        loss = real_fit(net, x, *args, history=history, **kwargs)
        tr.dsm_loss[-1].extend(history)
        state["steps_phase"] = True
        return loss

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(torch, "randn", randn))
        stack.enter_context(_patched(kimp, "EnergyMLP", factory))
        stack.enter_context(_patched(kker, "RBFDirection", RecDirection))
        stack.enter_context(_patched(kimp, "fit_score", fit_score))
        imp = Recorder(n_outer=n_outer, score_epochs=epochs, n_steps=steps, random_state=0, device="cpu", standardize=False,
                       **params)
        tr.out = imp.fit_transform(x_miss.copy())
    if fed:
        tr.next[-1].append(tr.out.copy())
    return tr


def one_step_gaps(theirs: Trace, ours: Trace, missing: np.ndarray) -> list[list[float]]:
    """For a ``fed`` run: max |our step from X_t - their X_{t+1}| on missing entries, per outer/step."""
    gaps = []
    for o, per_outer in enumerate(ours.next):
        targets = theirs.X[o][1:] + [theirs.X[o + 1][0] if o + 1 < len(theirs.X) else theirs.out]
        gaps.append([float(np.abs(a - b)[missing].max()) for a, b in zip(per_outer, targets)])
    return gaps


def compare(theirs: Trace, ours: Trace, missing: np.ndarray) -> list[dict]:
    """Per outer iteration and step: max relative DSM-loss gap, max |dX|, |dS| (missing rows), |dG|."""
    rows = missing.any(axis=1)
    report = []
    for o in range(len(theirs.dsm_loss)):
        lt, lo = np.array(theirs.dsm_loss[o]), np.array(ours.dsm_loss[o])
        entry = {"outer": o, "dsm_rel": float(np.max(np.abs(lt - lo) / np.abs(lt))) if len(lt) else 0.0,
                 "dsm_theirs": lt, "dsm_ours": lo, "steps": []}
        for t in range(len(theirs.X[o])):
            entry["steps"].append({
                "dX": float(np.abs(theirs.X[o][t] - ours.X[o][t])[missing].max()),
                "dS": float(np.abs(theirs.S[o][t] - ours.S[o][t])[rows].max()),
                "S": float(np.abs(theirs.S[o][t])[rows].max()),
                "dG": float(np.abs(theirs.G[o][t] - ours.G[o][t]).max()),
                "G": float(np.abs(theirs.G[o][t]).max()),
            })
        report.append(entry)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--authors-repo", default=None)
    ap.add_argument("--dataset", default="bt")
    ap.add_argument("--mechanism", default="mnar")
    ap.add_argument("--cell-seed", type=int, default=0, help="amputation seed of the harness cell")
    ap.add_argument("--seed", type=int, default=0, help="their run-script seed")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--every", type=int, default=1, help="record (and print) every k-th particle step")
    ap.add_argument("--fed", action="store_true",
                    help="set our particles to the authors' positions before every step (one-step gaps)")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from knewimp.protocol.cell_input import make_cell_input
    from knewimp.protocol.metrics import mae

    ref = authors_ref.load(args.authors_repo)
    X, mask = make_cell_input(args.dataset, args.mechanism, 0.3, args.cell_seed, args.data_dir)
    x_miss = np.where(mask, np.nan, X)
    theirs = run_authors(ref, x_miss, args.seed, args.epochs, args.steps, every=args.every)
    ours = run_ours(x_miss, theirs, args.epochs, args.steps, every=args.every, fed=args.fed)
    for entry in compare(theirs, ours, mask):
        print(f"outer {entry['outer'] + 1}: DSM loss max rel diff {entry['dsm_rel']:.2e} "
              f"(last loss theirs {entry['dsm_theirs'][-1]:.6f}, ours {entry['dsm_ours'][-1]:.6f})")
        kept = [t for t in range(args.steps) if _kept(t, args.steps, args.every)]
        for t, s in zip(kept, entry["steps"]):
            print(f"  step {t + 1:4d}: |dX| {s['dX']:.2e}  |dS| {s['dS']:.2e} (|S| {s['S']:.2e})  "
                  f"|dG| {s['dG']:.2e} (|G| {s['G']:.2e})")
    if args.fed:
        for o, gaps in enumerate(one_step_gaps(theirs, ours, mask)):
            print(f"outer {o + 1}: one-step position gap, max over steps {max(gaps):.2e}, "
                  f"median {np.median(gaps):.2e}")
    print(f"final |dX| on missing entries {np.abs(theirs.out - ours.out)[mask].max():.3e}; "
          f"MAE theirs {mae(X, theirs.out, mask):.6f}, ours {mae(X, ours.out, mask):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
