"""The paper's Fig. 1: optimisation vs diffusion vs KnewImp-style particles on a Dirichlet target.

Target: p = Dirichlet(alpha) on the simplex {x in R^3 : x_k > 0, sum x_k = 1}, alpha = (2.5, 2.5, 5),
log p(x) = sum_k (alpha_k - 1) log x_k + const, whose mode is
x* = (alpha - 1) / (sum alpha - 3) = (3/14, 3/14, 4/7) = (0.214, 0.214, 0.571).

H = 8 particles start at the same points, x0 = 0.05 + 0.85 u with u uniform on the simplex
(Dirichlet(1, 1, 1), seed :data:`SEED`): spread over the simplex, every coordinate at least 0.05 so
that no first step (gradients (alpha_k - 1) / x_k) jumps across it. They move by four rules:

1. mirror ascent (optimisation): exponentiated gradient, the entropic mirror map
   x <- x * exp(eta g(x)) / sum(x * exp(eta g(x))), g(x) = (alpha - 1) / x, eta = 5e-3, 100 steps
   (the paper's step and iteration count): every particle runs to the mode.
2. mirror Langevin (diffusion): the same map with noise in the dual (log) coordinates,
   y <- log x + eta g(x) + sqrt(2 eta) xi, xi ~ N(0, I_3), x <- softmax(y); eta = 5e-3, 100 steps,
   noise seed :data:`SEED` + 1. This discretises the mirror-Langevin diffusion without its metric
   correction (a picture of the paper's diffusion sampler, not an exact sampler of p); the
   particles scatter around the mode instead of reaching it.
3. KnewImp-style particles: the kernelised flow of F(q) = -E_q[log p] - lambda H(q) as
   :class:`knewimp.KnewImputer` computes it (its ``entropy_weight`` lambda), on the free
   coordinates z = (x_1, x_2) (x_3 = 1 - x_1 - x_2), where p has the exact score
   s(z)_k = (alpha_k - 1) / x_k - (alpha_3 - 1) / x_3:
   z_i <- z_i + eta (1/H) sum_j K_ij [s(z_j) - lambda (z_i - z_j) / h^2],
   K_ij = exp(-|z_i - z_j|^2 / (2 h^2)), lambda = 10, h = 0.1, eta = 5e-4, 1000 steps. With
   lambda > 0 the kernel term pulls the particles together while the smoothed score carries them
   to the mode: the diversity the diffusion keeps is removed.
4. the same flow with lambda = -1 (SVGD): the kernel term repels, and the particles spread over p
   like a sampler's; shown to make the sign of the entropy term visible.

Each panel states the particles' mean distance to the mode at the end; ``tables/dirichlet.md``
lists the same numbers.

    python -m knewimp.report.experiments.dirichlet [--out results]
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from knewimp.report.cli import experiment_main
from knewimp.harness.atomic import save_figure_atomic, write_text_atomic

ALPHA = np.array([2.5, 2.5, 5.0])
MODE = (ALPHA - 1) / (ALPHA.sum() - ALPHA.size)
N_PARTICLES = 8
SEED = 0
MIRROR_STEP, MIRROR_ITERS = 5e-3, 100
FLOW_STEP, FLOW_ITERS, BANDWIDTH = 5e-4, 1000, 0.1
ENTROPY_WEIGHT, SVGD_WEIGHT = 10.0, -1.0


def initial_points(n: int = N_PARTICLES, seed: int = SEED) -> np.ndarray:
    """n points 0.05 + 0.85 u, u uniform on the simplex (Dirichlet(1, 1, 1))."""
    return 0.05 + 0.85 * np.random.default_rng(seed).dirichlet(np.ones(3), size=n)


def grad_log_p(x: np.ndarray) -> np.ndarray:
    """Ambient gradient (alpha - 1) / x of log p at rows x."""
    return (ALPHA - 1) / x


def _softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mirror_ascent(x0: np.ndarray, step: float = MIRROR_STEP, iters: int = MIRROR_ITERS) -> np.ndarray:
    """Trajectory (iters + 1, n, 3) of exponentiated-gradient ascent on log p."""
    path = [x0]
    x = x0
    for _ in range(iters):
        x = _softmax(np.log(x) + step * grad_log_p(x))
        path.append(x)
    return np.stack(path)


def mirror_langevin(x0: np.ndarray, step: float = MIRROR_STEP, iters: int = MIRROR_ITERS,
                    seed: int = SEED + 1) -> np.ndarray:
    """Trajectory (iters + 1, n, 3) of the entropic-mirror Langevin steps of the module docstring."""
    rng = np.random.default_rng(seed)
    path = [x0]
    x = x0
    for _ in range(iters):
        x = _softmax(np.log(x) + step * grad_log_p(x) + np.sqrt(2 * step) * rng.standard_normal(x.shape))
        path.append(x)
    return np.stack(path)


def _score_free(z: np.ndarray) -> np.ndarray:
    """Score of p in the free coordinates z = (x_1, x_2)."""
    x3 = 1.0 - z.sum(axis=1, keepdims=True)
    return (ALPHA[:2] - 1) / z - (ALPHA[2] - 1) / x3


def kernel_flow(x0: np.ndarray, entropy_weight: float, bandwidth: float = BANDWIDTH, step: float = FLOW_STEP,
                iters: int = FLOW_ITERS) -> np.ndarray:
    """Trajectory (iters + 1, n, 3) of the kernelised flow of the module docstring (item 3)."""
    z = x0[:, :2].copy()
    path = [z]
    for _ in range(iters):
        diff = z[:, None, :] - z[None, :, :]                          # z_i - z_j
        K = np.exp(-(diff ** 2).sum(-1) / (2 * bandwidth ** 2))
        u = (K @ _score_free(z) - entropy_weight * (K[:, :, None] * diff).sum(1) / bandwidth ** 2) / len(z)
        z = z + step * u
        if not ((z > 0).all() and (z.sum(axis=1) < 1).all()):
            raise FloatingPointError("a particle left the simplex; take a smaller step")
        path.append(z)
    paths = np.stack(path)
    return np.concatenate([paths, 1.0 - paths.sum(axis=2, keepdims=True)], axis=2)


def runs() -> list[tuple[str, str, np.ndarray]]:
    """(title, settings, trajectory) of the four rules, from the same initial points."""
    x0 = initial_points()
    return [
        ("optimisation: mirror ascent", f"eta {MIRROR_STEP:g}, {MIRROR_ITERS} steps", mirror_ascent(x0)),
        ("diffusion: mirror Langevin", f"eta {MIRROR_STEP:g}, {MIRROR_ITERS} steps", mirror_langevin(x0)),
        (f"KnewImp-style flow, lambda = {ENTROPY_WEIGHT:g}",
         f"h {BANDWIDTH:g}, eta {FLOW_STEP:g}, {FLOW_ITERS} steps", kernel_flow(x0, ENTROPY_WEIGHT)),
        (f"same flow, lambda = {SVGD_WEIGHT:g} (SVGD)",
         f"h {BANDWIDTH:g}, eta {FLOW_STEP:g}, {FLOW_ITERS} steps", kernel_flow(x0, SVGD_WEIGHT)),
    ]


def distance_to_mode(x: np.ndarray) -> float:
    """Mean Euclidean distance of rows x to the mode."""
    return float(np.linalg.norm(x - MODE, axis=1).mean())


def _to_plane(x: np.ndarray) -> np.ndarray:
    """Barycentric -> 2-D: vertices e1 (0, 0), e2 (1, 0), e3 (1/2, sqrt(3)/2)."""
    return x @ np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def figure(results: list[tuple[str, str, np.ndarray]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    # log-density on a barycentric grid, as background contours
    g = np.linspace(0.005, 0.99, 120)
    a, b = np.meshgrid(g, g)
    keep = a + b < 0.995
    grid = np.column_stack([a[keep], b[keep], 1 - a[keep] - b[keep]])
    logp = ((ALPHA - 1) * np.log(grid)).sum(axis=1)
    xy = _to_plane(grid)
    tri = Triangulation(xy[:, 0], xy[:, 1])
    mode_xy = _to_plane(MODE[None])[0]
    fig, axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 3.4))
    for ax, (title, settings, traj) in zip(axes, results):
        ax.tricontour(tri, logp, levels=np.linspace(logp.max() - 6, logp.max(), 9)[:-1], colors="0.6", linestyles="solid",
                      linewidths=0.6)
        ax.plot(*_to_plane(np.eye(3)[[0, 1, 2, 0]]).T, color="k", lw=0.8)
        for k, (dx, dy) in enumerate([(-0.04, -0.05), (0.04, -0.05), (0.0, 0.03)]):
            vx, vy = _to_plane(np.eye(3)[[k]])[0]
            ax.text(vx + dx, vy + dy, f"x{k + 1}", ha="center", fontsize=8)
        for i in range(traj.shape[1]):
            line = _to_plane(traj[:, i])
            ax.plot(line[:, 0], line[:, 1], color="C0", lw=0.6, alpha=0.6)
        start, end = _to_plane(traj[0]), _to_plane(traj[-1])
        ax.scatter(start[:, 0], start[:, 1], s=14, facecolors="none", edgecolors="C0", lw=0.8)
        ax.scatter(*mode_xy, marker="*", s=160, color="gold", edgecolors="k", lw=0.6, zorder=3)
        ax.scatter(end[:, 0], end[:, 1], s=14, color="C3", zorder=4)
        ax.set_title(f"{title}\n{settings}\nmean distance to mode {distance_to_mode(traj[-1]):.3f}", fontsize=8)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle("Dirichlet(2.5, 2.5, 5), contours of log p: 8 particles from the same start (open circles) "
                 "to their end points (red); the mode (star)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure_atomic(fig, path, dpi=130)
    plt.close(fig)
    return path


def table(results: list[tuple[str, str, np.ndarray]], path: Path) -> Path:
    lines = ["# Fig. 1: Dirichlet(2.5, 2.5, 5), 8 particles", "",
             f"Mode {tuple(round(float(v), 3) for v in MODE)}. Mean Euclidean distance of the particles to the mode "
             "at the start and the end; rules and settings in `knewimp/report/experiments/dirichlet.py`, derived by "
             "`python -m knewimp.report.experiments.dirichlet`.", "",
             "| rule | settings | start | end |", "|---|---|---|---|"]
    for title, settings, traj in results:
        lines.append(f"| {title} | {settings} | {distance_to_mode(traj[0]):.4f} | {distance_to_mode(traj[-1]):.4f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def build(out: str | Path, log=print) -> list[Path]:
    out = Path(out)
    results = runs()
    written = [figure(results, out / "figures" / "dirichlet.png"), table(results, out / "tables" / "dirichlet.md")]
    for p in written:
        log(p)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return experiment_main(argv, __doc__, [
        ("--out", "results", "writes <out>/figures/dirichlet.png and <out>/tables/dirichlet.md")], build)


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """Fig. 1, computed (no records)."""
    return build(out, log=log)


if __name__ == "__main__":
    raise SystemExit(main())
