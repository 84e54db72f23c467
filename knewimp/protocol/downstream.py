"""Downstream tasks (paper Appendix F.6, Tables F.8 and F.9): a model trained on an imputed matrix.

The task of a dataset uses the column its loader drops as the target, read here from the same
digest-checked raw file (:data:`TASKS`). The target is never part of the imputer's input, never
masked, and never in the matrix the model sees.

The model sees exactly the matrix the imputation metrics score: the cell's imputed matrix in the
protocol's standardised units (z-scores fitted on the complete data; observed entries as the
imputer returns them). Ground truth is the same evaluation on the complete standardised matrix.

* classification (bcd, cbv, is, qb, wqw): ``SVC(kernel="rbf", gamma="auto")``, accuracy;
* regression (cc, strength in MPa as recorded): ``SVR(kernel="rbf", gamma="auto")``, MAE and MSE;
* 5-fold cross-validation, repeated with :data:`N_REPEATS` fold shuffles (repeat r shuffles with
  ``random_state=r``; stratified for classification); a repeat's score is the mean over its folds.
  The unshuffled 5-fold split (scikit-learn's ``cv=5``) is scored too: the paper's printed
  standard deviations (about 1e-17) say its ten runs were identical, which fixed folds explain.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.svm import SVC, SVR

from knewimp.protocol import datasets
from knewimp.protocol.datasets import DataError

N_FOLDS = 5
N_REPEATS = 10
GAMMA = "auto"
#: The scores a task records, with scikit-learn's scorer name and the sign that turns it into the
#: metric (scikit-learn's error scorers are negated).
METRICS = {"classification": {"accuracy": ("accuracy", 1.0)},
           "regression": {"mae": ("neg_mean_absolute_error", -1.0), "mse": ("neg_mean_squared_error", -1.0)}}
#: The direction in which a metric is better.
HIGHER_IS_BETTER = {"accuracy": True, "mae": False, "mse": False}


class LeakError(ValueError):
    """A matrix given to an imputer (or to the model as features) contains the target."""


@dataclass(frozen=True)
class Task:
    kind: str                              # classification | regression
    target: str                            # the raw file's column, in words
    read: Callable[[bytes], np.ndarray]    # raw file bytes -> target vector


def _csv(raw: bytes, **kw) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), **kw)


TASKS: dict[str, Task] = {
    "bcd": Task("classification", "column 1, diagnosis (M/B)",
                lambda raw: _csv(raw, header=None).iloc[:, 1].astype(str).to_numpy()),
    "cbv": Task("classification", "column 13, vowel class (0-10)",
                lambda raw: _csv(raw, header=None, sep=r"\s+").iloc[:, 13].astype(int).to_numpy()),
    "is": Task("classification", "last column, g/b",
               lambda raw: _csv(raw, header=None).iloc[:, -1].astype(str).to_numpy()),
    "qb": Task("classification", "last column, RB/NRB",
               lambda raw: _csv(raw, header=None, sep=";").iloc[:, -1].astype(str).to_numpy()),
    "wqw": Task("classification", "last column, quality (3-9)",
                lambda raw: _csv(raw, header=0, sep=";")["quality"].astype(int).to_numpy()),
    # The loader drops age and strength (the last two columns); the target is strength, the last.
    "cc": Task("regression", "last column, compressive strength (MPa)",
               lambda raw: pd.read_excel(io.BytesIO(raw), header=0).iloc[:, -1].astype(float).to_numpy()),
}


def task_of(dataset: str) -> Task:
    try:
        return TASKS[dataset]
    except KeyError:
        raise DataError(f"dataset {dataset!r} has no downstream task; valid choices: {', '.join(TASKS)}") from None


def load_target(dataset: str, data_dir=None) -> np.ndarray:
    """The target vector of ``dataset`` from its raw UCI file (digest checked, rows in file order,
    the same rows as :func:`knewimp.protocol.datasets.load_dataset`)."""
    task = task_of(dataset)
    spec = datasets.get_spec(dataset)
    folder = data_dir or datasets.default_data_dir()
    path = None if folder is None else Path(folder).expanduser() / spec.file
    if path is None or not path.is_file():
        raise DataError(f"target of {dataset!r}: raw file {spec.file} not found in "
                        f"{folder or 'no data directory (set KNEWIMP_DATA_DIR or data_dir)'}")
    raw = path.read_bytes()
    if datasets.sha256_of(raw) != spec.sha256:
        raise DataError(f"{path} has SHA-256 {datasets.sha256_of(raw)[:16]}..., expected {spec.sha256[:16]}...")
    y = task.read(raw)
    if y.shape[0] != spec.shape[0]:
        raise DataError(f"target of {dataset!r} has {y.shape[0]} rows, the matrix {spec.shape[0]}")
    return y


def _codes(y: np.ndarray) -> np.ndarray:
    return np.unique(y, return_inverse=True)[1].astype(float) if y.dtype.kind not in "fiu" else y.astype(float)


def leaked_columns(X: np.ndarray, y: np.ndarray, tol: float = 1e-9) -> list[int]:
    """Columns of ``X`` that are an affine copy of the target (|correlation| within ``tol`` of 1 on
    the rows where the column is observed): the target in disguise, e.g. after standardising.
    Class labels are compared through their integer codes."""
    t = _codes(y)
    out = []
    for j in range(X.shape[1]):
        col = X[:, j]
        rows = ~np.isnan(col)
        if rows.sum() < 3:
            continue
        a, b = col[rows], t[rows]
        if a.std() == 0 or b.std() == 0:
            continue
        if abs(np.corrcoef(a, b)[0, 1]) > 1 - tol:
            out.append(j)
    return out


def assert_no_target(X: np.ndarray, y: np.ndarray, what: str = "the imputer's input") -> None:
    """Raise :class:`LeakError` if a column of ``X`` is the target."""
    cols = leaked_columns(X, y)
    if cols:
        raise LeakError(f"{what} contains the target in column{'s' if len(cols) > 1 else ''} "
                        f"{', '.join(map(str, cols))}: the downstream score would measure the label, not the imputation")


def model_for(kind: str):
    """The paper's model of a task kind (scikit-learn defaults otherwise)."""
    return SVC(kernel="rbf", gamma=GAMMA) if kind == "classification" else SVR(kernel="rbf", gamma=GAMMA)


def _splitter(kind: str, shuffle_seed: int | None):
    cls = StratifiedKFold if kind == "classification" else KFold
    if shuffle_seed is None:
        return cls(n_splits=N_FOLDS)
    return cls(n_splits=N_FOLDS, shuffle=True, random_state=shuffle_seed)


def _cv(X: np.ndarray, y: np.ndarray, kind: str, shuffle_seed: int | None) -> dict[str, float]:
    scoring = {m: s for m, (s, _) in METRICS[kind].items()}
    res = cross_validate(model_for(kind), X, y, cv=_splitter(kind, shuffle_seed), scoring=scoring)
    return {m: float(sign * res[f"test_{m}"].mean()) for m, (_, sign) in METRICS[kind].items()}


def evaluate(X: np.ndarray, y: np.ndarray, kind: str, repeats: int = N_REPEATS) -> dict[str, dict]:
    """Scores of the task's model on features ``X`` (complete, no NaN) and target ``y``:
    ``{metric: {"mean", "std", "repeats": [one per shuffle], "unshuffled"}}``."""
    if kind not in METRICS:
        raise ValueError(f"task kind {kind!r}; valid choices: {', '.join(METRICS)}")
    if not np.isfinite(X).all():
        raise ValueError("the downstream model needs a complete finite matrix")
    assert_no_target(X, y, "the model's feature matrix")
    per = [_cv(X, y, kind, r) for r in range(repeats)]
    fixed = _cv(X, y, kind, None)
    out = {}
    for m in METRICS[kind]:
        vals = [p[m] for p in per]
        out[m] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "repeats": vals, "unshuffled": fixed[m]}
    return out


def describe() -> dict:
    """What the evaluation is, stored with its scores so a record says how they were made."""
    return {"model": {"classification": f"SVC(kernel='rbf', gamma='{GAMMA}')",
                      "regression": f"SVR(kernel='rbf', gamma='{GAMMA}')"},
            "folds": N_FOLDS, "repeats": N_REPEATS,
            "features": "the imputed matrix in standardised units (complete data's z-scores)"}
