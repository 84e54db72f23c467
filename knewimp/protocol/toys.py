"""The four 2-D toy distributions of the paper's Table F.1, as protocol datasets.

Each toy is a fixed matrix of N = 1000 rows and D = 2 columns, drawn once from its own seeded
stream (:data:`TOY_SEED`, the toy's index), so ``load_dataset("toy_<name>")`` returns the same
matrix on every call and machine; a cell's seed then only draws the mask and the method's
randomness, as for the UCI datasets. The harness z-scores it like any dataset (the paper does not
say how it scaled the toys; its main pipeline z-scores).

- ``toy_gaussian``: x ~ N(0, I_2).
- ``toy_student_t``: x = mu + L z / sqrt(g / nu) with z ~ N(0, I_2), g ~ chi^2_nu, L L^T = Sigma:
  the multivariate Student-t with location mu = 0, scale Sigma = [[1, .5], [.5, 1]] and
  nu = :data:`STUDENT_T_DF` = 5 degrees of freedom. The paper does not state nu; 5 is the
  smallest integer with a finite fourth moment, so z-scoring is stable while the tails are
  visibly heavier than the Gaussian's (excess kurtosis 6 / (nu - 4) = 6 per coordinate).
- ``toy_mixture``: the equal-weight mixture of N([1, 2], 0.5 I), N([-1, -2], [[.5, .1], [.1, .5]])
  and N([2, -2], 0.3 I); the component of each row is drawn uniformly.
- ``toy_skewed``: x = exp(e) elementwise with e ~ N(0, I_2) (independent log-normal coordinates).
"""
from __future__ import annotations

import numpy as np

from knewimp.vocab import TOY_DATASETS

#: Rows of every toy (the paper's N).
N_ROWS = 1000
#: Root of every toy's random stream; toy k draws from SeedSequence([TOY_SEED, k]).
TOY_SEED = 20241210
#: Degrees of freedom of the Student-t toy (not stated in the paper; see the module docstring).
STUDENT_T_DF = 5

_T_SCALE = np.array([[1.0, 0.5], [0.5, 1.0]])
_MIX_MEANS = np.array([[1.0, 2.0], [-1.0, -2.0], [2.0, -2.0]])
_MIX_COVS = np.array([0.5 * np.eye(2), [[0.5, 0.1], [0.1, 0.5]], 0.3 * np.eye(2)])

#: Display names, as the paper's Table F.1 prints them.
TITLES = {"toy_gaussian": "Gaussian", "toy_student_t": "Student's-t", "toy_mixture": "Gaussian Mixture",
          "toy_skewed": "Skewed-Gaussian"}


def _gaussian(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal((n, 2))


def _student_t(rng: np.random.Generator, n: int) -> np.ndarray:
    z = rng.standard_normal((n, 2)) @ np.linalg.cholesky(_T_SCALE).T
    g = rng.chisquare(STUDENT_T_DF, size=(n, 1))
    return z / np.sqrt(g / STUDENT_T_DF)


def _mixture(rng: np.random.Generator, n: int) -> np.ndarray:
    comp = rng.integers(0, len(_MIX_MEANS), size=n)
    chol = np.linalg.cholesky(_MIX_COVS)                       # (3, 2, 2)
    z = rng.standard_normal((n, 2))
    return _MIX_MEANS[comp] + np.einsum("nij,nj->ni", chol[comp], z)


def _skewed(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.standard_normal((n, 2)))


_DRAW = {"toy_gaussian": _gaussian, "toy_student_t": _student_t, "toy_mixture": _mixture,
         "toy_skewed": _skewed}
if tuple(_DRAW) != TOY_DATASETS:  # the generators and the vocabulary name the same toys, in order
    raise ImportError(f"toy generators {list(_DRAW)} differ from knewimp.vocab.TOY_DATASETS {list(TOY_DATASETS)}")


def is_toy(name: str) -> bool:
    return name in _DRAW


def make_toy(name: str, n: int = N_ROWS) -> np.ndarray:
    """The (n, 2) float64 matrix of toy ``name``, drawn from SeedSequence([TOY_SEED, index of the
    toy]): the same matrix on every call."""
    if name not in _DRAW:
        raise ValueError(f"unknown toy {name!r}; valid choices: {', '.join(TOY_DATASETS)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    rng = np.random.default_rng(np.random.SeedSequence([TOY_SEED, TOY_DATASETS.index(name)]))
    return np.ascontiguousarray(_DRAW[name](rng, n), dtype=np.float64)
