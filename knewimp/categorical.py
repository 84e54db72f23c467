"""Tables with categorical columns: encode around any imputer of this project, decode back.

The imputers here see numbers. :class:`MixedTypeImputer` wraps one of them and takes a pandas
DataFrame whose categorical columns are named (``categorical=[...]``) or found
(``categorical="auto"``: columns of dtype category, object, string or bool):

* an imputer that handles categories itself (its constructor takes ``categorical_features``, as
  :class:`knewimp.baselines.mice.MixedMICEImputer` and :class:`knewimp.baselines.mean.MeanModeImputer`
  do) gets each categorical column as its level codes 0..L-1 (NaN missing) and the codes' column
  indices: the *native* path;
* any other imputer gets the *one-hot* encoding: each categorical column becomes L indicator
  columns (0/1, not rescaled), and a missing categorical cell sets its whole group to NaN. An
  imputation is decoded by the argmax over its group (ties: the first level).

Levels are the categories of a ``category`` dtype when the column has one (levels never observed
keep their indicator column), else the observed values in sorted order. The result is a
DataFrame with the input's columns, index and dtypes (a categorical column keeps its categories;
observed entries are returned unchanged).

Library code: pandas is imported only when a frame is handled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

#: How numeric methods see a categorical column (the native path needs no choice).
ENCODINGS = ("onehot",)
NATIVE_PARAM = "categorical_features"


def is_native(imputer) -> bool:
    """True when ``imputer`` imputes categorical columns itself (takes ``categorical_features``)."""
    return NATIVE_PARAM in imputer.get_params(deep=False)


def _is_categorical_dtype(series) -> bool:
    import pandas as pd

    dtype = series.dtype
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def categorical_columns(frame, categorical) -> list:
    """The categorical columns of ``frame`` that ``categorical`` ("auto" or a list of names) names;
    one-line ValueError for an unknown name or a bad value."""
    if isinstance(categorical, str):
        if categorical != "auto":
            raise ValueError(f"categorical={categorical!r}: valid choices: 'auto' or a list of column names")
        return [c for c in frame.columns if _is_categorical_dtype(frame[c])]
    if not isinstance(categorical, (list, tuple)):
        raise ValueError(f"categorical={categorical!r}: valid choices: 'auto' or a list of column names")
    unknown = [c for c in categorical if c not in frame.columns]
    if unknown:
        raise ValueError(f"categorical={list(categorical)!r}: no column(s) {unknown!r}; "
                         f"columns: {', '.join(map(str, frame.columns))}")
    return list(categorical)


@dataclass
class CategoricalCodec:
    """The encoding of a frame's categorical columns, fitted once and applied both ways."""

    columns: list                 # every column, in order
    categorical: list             # the categorical ones
    levels: dict                  # column -> list of levels (codes are positions in it)
    dtypes: dict                  # column -> the input dtype

    @classmethod
    def fit(cls, frame, categorical: list) -> "CategoricalCodec":
        import pandas as pd

        levels = {}
        for c in categorical:
            s = frame[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels[c] = list(s.dtype.categories)
            else:
                levels[c] = sorted(s.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
            if not levels[c]:
                raise ValueError(f"categorical column {c!r} has no observed value; drop it before imputing")
        numeric = [c for c in frame.columns if c not in levels]
        bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
        if bad:
            raise ValueError(f"column(s) {bad!r} are not numeric and not named categorical; "
                             f"pass categorical='auto' or list them in categorical")
        return cls(list(frame.columns), list(categorical), levels, dict(frame.dtypes))

    def codes(self, frame) -> np.ndarray:
        """Every column as float64, a categorical one as its level codes (NaN: missing);
        a value outside the fitted levels is refused."""
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            s = frame[c]
            if c not in self.levels:
                out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            lookup = {v: k for k, v in enumerate(self.levels[c])}
            values = s.astype(object).where(s.notna(), None).to_numpy()
            unknown = {v for v in values if v is not None and v not in lookup}
            if unknown:
                raise ValueError(f"column {c!r} has value(s) {sorted(map(str, unknown))[:5]} outside its levels "
                                 f"{self.levels[c][:10]}")
            out[:, j] = [np.nan if v is None else lookup[v] for v in values]
        return out

    def groups(self) -> list[tuple[object, slice]]:
        """(column, slice of its one-hot columns), in the column order: a numeric column has width 1."""
        out, start = [], 0
        for c in self.columns:
            width = len(self.levels[c]) if c in self.levels else 1
            out.append((c, slice(start, start + width)))
            start += width
        return out

    def onehot(self, codes: np.ndarray) -> np.ndarray:
        """The one-hot matrix of a codes matrix: a missing categorical cell is NaN across its group."""
        blocks = []
        for j, (c, _) in enumerate(self.groups()):
            col = codes[:, j]
            if c not in self.levels:
                blocks.append(col[:, None])
                continue
            block = np.zeros((len(col), len(self.levels[c])))
            seen = ~np.isnan(col)
            block[np.flatnonzero(seen), col[seen].astype(int)] = 1.0
            block[~seen] = np.nan
            blocks.append(block)
        return np.hstack(blocks)

    def from_onehot(self, matrix: np.ndarray) -> np.ndarray:
        """Codes from a (completed) one-hot matrix: the argmax over each group."""
        out = np.empty((matrix.shape[0], len(self.columns)))
        for j, (c, sl) in enumerate(self.groups()):
            out[:, j] = matrix[:, sl].argmax(axis=1) if c in self.levels else matrix[:, sl.start]
        return out

    def frame(self, codes: np.ndarray, index):
        """A DataFrame of codes with the input's columns, index and dtypes."""
        import pandas as pd

        data = {}
        for j, c in enumerate(self.columns):
            if c in self.levels:
                values = np.asarray(self.levels[c], dtype=object)[codes[:, j].astype(int)]
                dtype = self.dtypes[c]
                data[c] = (pd.Categorical(values, dtype=dtype) if isinstance(dtype, pd.CategoricalDtype)
                           else pd.Series(values, index=index).astype(dtype))
            else:
                data[c] = codes[:, j]
        out = pd.DataFrame(data, index=index, columns=self.columns)
        for c in self.columns:
            if c not in self.levels:
                try:
                    out[c] = out[c].astype(self.dtypes[c])
                except (TypeError, ValueError):  # an integer column that had NaN stays float
                    pass
        return out


class MixedTypeImputer(TransformerMixin, BaseEstimator):
    """Impute a pandas DataFrame with categorical columns through ``imputer`` (see the module).

    Parameters
    ----------
    imputer : an imputer of this project (any transformer that fills NaN in a float matrix).
    categorical : ``"auto"`` (columns of dtype category / object / string / bool) or a list of
        column names; ``None`` hands the frame to ``imputer`` as it is (which refuses text).
    encoding : how a numeric imputer sees a categorical column: ``"onehot"`` (the only choice).

    Fitted attributes: ``imputer_`` (the fitted clone), ``codec_``, ``path_`` (``"native"`` or
    ``"onehot"``).
    """

    def __init__(self, imputer, categorical="auto", encoding: str = "onehot"):
        self.imputer = imputer
        self.categorical = categorical
        self.encoding = encoding

    def fit(self, X, y=None):
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        return self._fit(X)

    def transform(self, X):
        check_is_fitted(self, "imputer_")
        if self.categorical is None:
            return self.imputer_.transform(X)
        return self._decode(self.imputer_.transform(self._encode(X)), X)

    def _fit(self, X):
        import pandas as pd

        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r}: valid choices: {', '.join(ENCODINGS)}")
        self.imputer_ = clone(self.imputer)
        if self.categorical is None:
            self.path_ = "none"
            return self.imputer_.fit_transform(X)
        if not isinstance(X, pd.DataFrame):
            raise ValueError(f"categorical={self.categorical!r} needs a pandas DataFrame, got {type(X).__name__}")
        cats = categorical_columns(X, self.categorical)
        self.codec_ = CategoricalCodec.fit(X, cats)
        self.path_ = "native" if is_native(self.imputer_) else self.encoding
        if self.path_ == "native":
            self.imputer_.set_params(**{NATIVE_PARAM: [self.codec_.columns.index(c) for c in cats]})
        return self._decode(self.imputer_.fit_transform(self._encode(X)), X)

    def _encode(self, frame) -> np.ndarray:
        codes = self.codec_.codes(frame)
        return codes if self.path_ == "native" else self.codec_.onehot(codes)

    def _decode(self, completed, frame):
        completed = np.asarray(completed, dtype=np.float64)
        codes = completed if self.path_ == "native" else self.codec_.from_onehot(completed)
        for c in self.codec_.categorical:
            j = self.codec_.columns.index(c)
            k = codes[:, j]
            if not (np.all(k == np.round(k)) and k.min() >= 0 and k.max() < len(self.codec_.levels[c])):
                raise ValueError(f"{type(self.imputer_).__name__} returned codes outside the levels of {c!r}")
        # observed entries come back as given: the imputer keeps them and their codes map to their levels
        return self.codec_.frame(codes, frame.index)
