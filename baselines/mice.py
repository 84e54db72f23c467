"""MICE: multiple imputation by chained equations (scikit-learn's IterativeImputer).

Each chain starts from the column means and cycles over the columns with missing values in
ascending order of missingness; column j is regressed on all other columns with Bayesian ridge,

    x_j ~ N(w^T x_{-j}, 1 / alpha),   w ~ N(0, I / lambda),

fitted on the rows where x_j is observed, and its missing entries are replaced by the posterior
predictive mean (``sample_posterior=False``) or by a draw from the posterior predictive
(``sample_posterior=True``). A deterministic chain stops early once the largest change between
rounds, relative to the largest absolute observed value, falls below ``tol``; a sampling chain
runs all ``max_iter`` rounds. The result is the average of the ``n_chains`` completions,

    x_hat = (1 / K) sum_k x_hat^(k),

which is how the KnewImp group ran it (5 sampling chains, ``fit`` then ``transform``).
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from knewimp.base import BaseImputer, as_float, check_counts
from knewimp.progress import Progress

logger = logging.getLogger(__name__)


class MICEImputer(BaseImputer):
    """Average of ``n_chains`` IterativeImputer(BayesianRidge) chains.

    Parameters
    ----------
    n_chains : int
        Number of chains whose completions are averaged (each with its own random state, drawn
        from ``random_state``, so different seeds give different chains).
    max_iter : int
        Maximum number of imputation rounds per chain.
    sample_posterior : bool
        Draw imputations from the Bayesian-ridge posterior predictive instead of using its mean.
        With ``True`` scikit-learn ignores ``tol`` and runs all ``max_iter`` rounds.
    tol : float
        Early-stopping tolerance of a deterministic chain.
    random_state, device, standardize
        See :class:`knewimp.base.BaseImputer`. ``standardize=True`` runs the chains on z-scores
        of the observed entries: Bayesian ridge's priors and the stopping test (relative to the
        largest absolute value of the whole matrix) depend on the columns' units.

    Fitted attributes: ``n_iter_`` (rounds run by each chain), ``converged_`` (per chain; for
    sampling chains always ``False`` since no stopping test is made), ``chain_states_``.
    """

    cpu_only = True

    def __init__(self, n_chains: int = 5, max_iter: int = 100, sample_posterior: bool = True,
                 tol: float = 1e-3, random_state: int | None = None, device: str = "auto",
                 standardize: bool = True):
        super().__init__(random_state=random_state, device=device)
        self.n_chains = n_chains
        self.max_iter = max_iter
        self.sample_posterior = sample_posterior
        self.tol = tol
        self.standardize = standardize

    def _validate_params(self) -> None:
        super()._validate_params()
        check_counts(n_chains=self.n_chains, max_iter=self.max_iter)
        if not as_float(self.tol) > 0:
            raise ValueError(f"tol must be > 0, got {self.tol!r}")
        if not isinstance(self.sample_posterior, (bool, np.bool_)):
            raise ValueError(f"sample_posterior must be True or False, got {self.sample_posterior!r}")

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer
        from sklearn.linear_model import BayesianRidge

        # Distinct, seed-derived states per chain (the group used 0..4 for every seed, which
        # would make all seeds share their chains).
        states = self._rng().integers(0, 2**31 - 1, size=int(self.n_chains))
        self.chain_states_ = states.tolist()
        self.n_iter_, self.converged_ = [], []
        total = np.zeros_like(X)
        progress = Progress("mice chains", int(self.n_chains))
        for state in states:
            chain = IterativeImputer(
                estimator=BayesianRidge(), sample_posterior=bool(self.sample_posterior),
                max_iter=int(self.max_iter), tol=float(self.tol), initial_strategy="mean",
                imputation_order="ascending", random_state=int(state), keep_empty_features=True,
            )
            with warnings.catch_warnings(record=True) as caught:
                # Only the "early stopping criterion not reached" notice of a deterministic chain
                # is expected here; it is recorded in converged_ rather than printed.
                warnings.filterwarnings("always", category=ConvergenceWarning,
                                        message=r"\[IterativeImputer\] Early stopping")
                chain.fit(X)
            for w in caught:
                if not (issubclass(w.category, ConvergenceWarning) and "Early stopping" in str(w.message)):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            not_converged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
            self.n_iter_.append(int(chain.n_iter_))
            self.converged_.append(bool(not self.sample_posterior and not not_converged))
            if not self.sample_posterior and not_converged:
                logger.info("MICE chain stopped at max_iter=%d before reaching tol=%g", self.max_iter, self.tol)
            total += chain.transform(X)
            progress.update()
        progress.close()
        return total / len(states)


class MixedMICEImputer(BaseImputer):
    """Chained equations for a table with categorical columns, each column with a model of its kind
    (scikit-learn): Bayesian ridge for a numerical column, multinomial logistic regression (a
    classifier) for a categorical one.

    Categorical columns hold level codes (0..L-1, NaN missing) and are named by
    ``categorical_features`` (set by :class:`knewimp.categorical.MixedTypeImputer`); as predictors
    they enter one-hot. Numerical columns are modelled in z-scores of their observed entries and
    mapped back. The chain starts from column means and modes and cycles over the columns with
    missing entries in ascending order of missingness, for at most ``max_iter`` rounds; a
    deterministic chain (``sample_posterior=False``: posterior mean, most probable level) stops
    once no level changes and the largest numerical change, relative to the largest observed
    |z|, is below ``tol``. ``sample_posterior=True`` draws from the posterior predictive and the
    class probabilities instead, and runs every round. With no categorical column this is one
    IterativeImputer-style Bayesian-ridge chain.

    Fitted attributes: ``n_iter_`` (rounds run), ``converged_``.
    """

    cpu_only = True
    #: Set by MixedTypeImputer from the table, never by a preset.
    config_optional = ("categorical_features",)

    def __init__(self, max_iter: int = 10, tol: float = 1e-3, sample_posterior: bool = False,
                 categorical_features: list[int] | None = None, random_state: int | None = None,
                 device: str = "auto"):
        super().__init__(random_state=random_state, device=device)
        self.max_iter = max_iter
        self.tol = tol
        self.sample_posterior = sample_posterior
        self.categorical_features = categorical_features

    def _validate_params(self) -> None:
        from knewimp.baselines.mean import check_categorical_features

        super()._validate_params()
        check_counts(max_iter=self.max_iter)
        if not as_float(self.tol) > 0:
            raise ValueError(f"tol must be > 0, got {self.tol!r}")
        if not isinstance(self.sample_posterior, (bool, np.bool_)):
            raise ValueError(f"sample_posterior must be True or False, got {self.sample_posterior!r}")
        if self.categorical_features is not None:
            check_categorical_features(self.categorical_features, 10**9)

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import BayesianRidge, LogisticRegression

        from knewimp.baselines.mean import check_categorical_features, column_modes

        d = X.shape[1]
        cats = set(check_categorical_features(self.categorical_features, d))
        num = np.array([j not in cats for j in range(d)])
        levels = {j: np.unique(X[~mask[:, j], j]) for j in cats}
        mu = np.nanmean(X, axis=0)
        sd = np.nanstd(X, axis=0)
        sd = np.where(num & (sd > 0), sd, 1.0)
        mu = np.where(num, mu, 0.0)
        Z = np.where(mask, 0.0, (X - mu) / sd)
        for j, mode in column_modes(X, sorted(cats)).items():
            Z[mask[:, j], j] = mode
        scale = max(1.0, float(np.abs(Z[:, num][~mask[:, num]]).max())) if num.any() else 1.0
        rng = self._rng()
        order = [j for j in np.argsort(mask.sum(axis=0), kind="stable") if mask[:, j].any()]

        def design(exclude: int) -> np.ndarray:
            parts = []
            for k in range(d):
                if k == exclude:
                    continue
                parts.append(Z[:, k:k + 1] if k not in cats else (Z[:, k:k + 1] == levels[k][None, :]).astype(float))
            return np.hstack(parts) if parts else np.zeros((len(Z), 0))

        self.converged_ = False
        progress = Progress("mixed mice rounds", int(self.max_iter))
        for it in range(int(self.max_iter)):
            before = Z.copy()
            for j in order:
                obs, miss = ~mask[:, j], mask[:, j]
                A = design(j)
                if j in cats:
                    if levels[j].size == 1:
                        Z[miss, j] = levels[j][0]
                        continue
                    clf = LogisticRegression(max_iter=1000).fit(A[obs], Z[obs, j])
                    if self.sample_posterior:
                        p = clf.predict_proba(A[miss])
                        pick = (rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1)
                        Z[miss, j] = clf.classes_[np.minimum(pick, len(clf.classes_) - 1)]
                    else:
                        Z[miss, j] = clf.predict(A[miss])
                else:
                    reg = BayesianRidge().fit(A[obs], Z[obs, j])
                    mean, std = reg.predict(A[miss], return_std=True)
                    Z[miss, j] = rng.normal(mean, std) if self.sample_posterior else mean
            progress.update()
            self.n_iter_ = it + 1
            if not self.sample_posterior:
                moved = np.abs(Z - before)
                num_change = float(moved[:, num].max()) / scale if num.any() else 0.0
                if num_change < float(self.tol) and not (moved[:, ~num] > 0).any():
                    self.converged_ = True
                    break
        progress.close()
        return Z * sd + mu
