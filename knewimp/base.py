"""The one interface every imputer in this project follows, and the checks it shares.

Every imputer is a scikit-learn transformer (:class:`BaseImputer`): parameters are stored as
given and validated when fitting, so ``get_params`` / ``set_params`` / ``clone`` / ``Pipeline``
/ ``GridSearchCV`` work; ``set_output(transform="pandas")`` keeps column names and index.

Library code only: nothing here knows about Hydra, records or the harness, and torch is imported
only when a torch method runs.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.utils._tags import TransformerTags
from sklearn.utils.validation import check_is_fitted, validate_data

#: Constructor arguments that say how and where a method runs, not which method runs: the
#: harness sets them itself (a cell's seed, its device, its thread count; data it has already
#: standardised), so a method preset does not list them and they are not part of a cell's identity.
RUNTIME_PARAMS = ("random_state", "device", "standardize", "num_threads")


class ImputationError(RuntimeError):
    """An imputer could not produce a valid completion (diverged, NaN/Inf, ...)."""


def resolve_device(device: str | None = "auto") -> str:
    """Map ``"auto"`` to ``"cuda"`` when a GPU is visible, else ``"cpu"``; validate the rest."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asked for but no CUDA GPU is visible; use 'cpu' or 'auto'")
        return device
    raise ValueError(f"unknown device {device!r}; valid choices: 'auto', 'cpu', 'cuda', 'cuda:N'")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def is_real(value) -> bool:
    """A finite real number (not a bool, not a string, not complex)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def is_integer(value) -> bool:
    """A whole number: an int, or a finite float without a fraction (2.0); never 2.5, "2" or True."""
    return is_real(value) and float(value) == int(value)


def check_integer(name: str, value, low: int | None = None, allow_none: bool = False) -> None:
    """Refuse ``value`` unless it is a whole number (>= ``low``), or None when allowed, naming ``name``."""
    if value is None and allow_none:
        return
    if not is_integer(value) or (low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ValueError(f"{name} must be an integer{bound}{' or None' if allow_none else ''}, got {_show(value)}")


def check_real(name: str, value, allow_none: bool = False) -> None:
    """Refuse ``value`` unless it is a finite real number (or None when allowed), naming ``name``."""
    if value is None and allow_none:
        return
    if not is_real(value):
        raise ValueError(f"{name} must be a finite number{' or None' if allow_none else ''}, got {_show(value)}")


def check_counts(**counts) -> None:
    """Refuse any count argument that is not a whole number >= 1, naming it:
    ``check_counts(n_iter=n_iter, ...)``."""
    for name, value in counts.items():
        if not is_integer(value) or value < 1:
            raise ValueError(f"{name} must be >= 1, got {_show(value)}")


def as_float(value) -> float:
    """``value`` as a float, or NaN (which fails every range test) when it is not a finite real number
    (a string such as ``"1.5"``, a bool, NaN, Inf)."""
    return float(value) if is_real(value) else float("nan")


#: Seeds of numpy's and torch's generators: an integer in [0, 2**32).
MAX_RANDOM_STATE = 2**32 - 1


def check_param_types(estimator) -> None:
    """Every constructor argument against the type of its default, naming the parameter: an int
    default takes whole numbers only (2.5 is refused, never truncated), a float default finite
    numbers (not ``"abc"``, NaN or Inf), a bool default True or False, a str default a string, a
    tuple default a list or tuple of such (``hidden="64"`` is refused, not read as (6, 4)). A
    parameter defaulting to None is checked by its class: listed in ``_optional_int_params`` (an
    integer or None; its range is the class's to check) or ``_optional_real_params`` (a finite number or None), else any float
    given must still be finite."""
    sig = inspect.signature(type(estimator).__init__)
    optional_ints = ("num_threads", *getattr(estimator, "_optional_int_params", ()))  # None: torch's setting
    optional_reals = getattr(estimator, "_optional_real_params", ())
    for name, param in sig.parameters.items():
        if name in ("self", "random_state", "device") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value, default = getattr(estimator, name), param.default
        if name in optional_ints:  # the type here, the range in the class (whose message says what None means)
            check_integer(name, value, allow_none=True)
        elif name in optional_reals:
            check_real(name, value, allow_none=True)
        elif isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {_show(value)}")
        elif isinstance(default, int):
            check_integer(name, value)
        elif isinstance(default, float):
            check_real(name, value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, got {_show(value)}")
        elif isinstance(default, (tuple, list)):
            if not isinstance(value, (tuple, list, np.ndarray)) or isinstance(value, str):
                raise ValueError(f"{name} must be a list, got {_show(value)}")
            for item, like in zip(value, [default[0]] * len(value) if default else []):
                check = check_integer if isinstance(like, int) and not isinstance(like, bool) else check_real
                try:
                    check(name, item)
                except ValueError:
                    kind = "integers" if check is check_integer else "finite numbers"
                    raise ValueError(f"{name} must be a list of {kind}, got {_show(value)}") from None
        elif isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {_show(value)}")
    rs = estimator.random_state
    if rs is not None and not isinstance(rs, np.random.Generator) and (not is_integer(rs)
                                                                       or not 0 <= rs <= MAX_RANDOM_STATE):
        raise ValueError(f"random_state must be None or an integer in [0, {MAX_RANDOM_STATE}], got {_show(rs)}")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Use ``n`` torch intra-op threads inside the block (None: leave torch's setting), then
    restore torch's setting.

    The methods here step small tensors many thousands of times; a second thread mostly adds
    synchronisation (and, on a shared machine, contention), so one thread is their default.
    """
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if int(n) == before:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_missing_matrix(X) -> np.ndarray:
    """Validate a matrix with NaN for missing values and return it as a float64 copy.

    Refuses non-numeric input, non-2D input, +/-Inf, and columns with no observed value
    (nothing can be learned about them). Missing entries are NaN.
    """
    _refuse_complex(X)
    try:
        arr = np.array(X, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"input must be numeric (NaN for missing values): {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"input must be a 2-D matrix (rows x columns), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"input needs at least 2 rows and 1 column, got shape {arr.shape}")
    _refuse_inf(arr)
    _refuse_huge(arr)
    _refuse_empty_columns(arr)
    return arr


def _refuse_complex(X) -> None:
    try:
        complex_input = np.iscomplexobj(X)
    except Exception:  # an object numpy cannot look at: the numeric check that follows names it
        return
    if complex_input:
        raise ValueError("Complex data not supported in X: give real numbers (NaN for missing values)")


def _refuse_inf(arr: np.ndarray) -> None:
    if np.isinf(arr).any():
        raise ValueError("input contains +/-Inf; only NaN may mark a missing value")


#: The largest magnitude an input value may have: squares and sums of squares (standardising,
#: distances) of larger ones overflow float64 and would surface as unrelated errors.
MAX_ABS_INPUT = 1e100


def _refuse_huge(arr: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        big = np.nanmax(np.where(np.isnan(arr), 0.0, np.abs(arr)), axis=0) if arr.size else np.zeros(0)
    over = np.flatnonzero(big > MAX_ABS_INPUT)
    if over.size:
        j = int(over[0])
        raise ValueError(f"input column {j} holds values up to {big[j]:.3g} in magnitude, beyond {MAX_ABS_INPUT:g} "
                         f"(their squares overflow float64); rescale the column{'s' if over.size > 1 else ''} "
                         f"{over.tolist()[:10]}")


#: An imputation farther than this many times the largest observed |z| (per-column z-scores of the
#: observed entries) is a blow-up, not an estimate (the rule the diffusion baselines use internally).
DIVERGENCE_FACTOR = 10.0


def check_in_range(X: np.ndarray, mask: np.ndarray, filled: np.ndarray, who: str = "imputer") -> None:
    """Refuse a completion with imputations far outside the observed data, column by column.

    Each column is put on the z scale of its observed entries, ``z = (x - mean_j) / sd_j`` (``sd_j``
    taken as 1 for a constant column); column j's limit is ``DIVERGENCE_FACTOR * max(1, max_j |z_obs|)``
    over its own observed entries (a heavy-tailed column does not lend its range to the others), and
    an imputed ``|z|`` beyond its column's limit raises :class:`ImputationError` naming how many
    entries, the largest excess, its column and that column's limit. Bounded methods (column means,
    regressions on observed ranges) stay far inside; a diverged step size does not.
    """
    obs = np.where(mask, np.nan, X)
    mean = np.nanmean(obs, axis=0)
    sd = np.nanstd(obs, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z_obs = np.abs((obs - mean) / sd)
    limit = DIVERGENCE_FACTOR * np.maximum(1.0, np.nan_to_num(np.nanmax(z_obs, axis=0), nan=1.0))
    z_imp = np.where(mask, np.abs((filled - mean) / sd), 0.0)
    over = z_imp > limit
    if over.any():
        excess = np.where(over, z_imp / limit, 0.0)
        row, col = np.unravel_index(int(np.argmax(excess)), z_imp.shape)
        raise ImputationError(
            f"{who} imputations out of range: {int(over.sum())} of {int(mask.sum())} imputed entries beyond "
            f"{DIVERGENCE_FACTOR:g}x the largest observed |z| of their column; largest |z| {z_imp[row, col]:.3g} "
            f"in column {col}, whose limit is {limit[col]:.3g} (z: the column's observed mean and sd)")


def _refuse_empty_columns(arr: np.ndarray) -> None:
    empty = np.flatnonzero(np.isnan(arr).all(axis=0))
    if empty.size:
        raise ValueError(f"column(s) {empty.tolist()} are entirely missing; drop them before imputing")


@dataclass
class ImputerTags(TransformerTags):
    """scikit-learn's transformer tags plus ``transductive``: the imputation of a row depends on
    the other rows imputed with it (see :meth:`BaseImputer.transform`)."""

    transductive: bool = True


class BaseImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """A scikit-learn transformer that fills NaN entries; observed entries come back unchanged.

    Subclasses implement ``_impute(X, mask)`` where ``X`` is a validated float64 matrix with NaN
    at ``mask`` (True = missing) and return a full matrix; this class merges the observed
    entries back bit-for-bit (``x_hat = m * x_obs + (1 - m) * prediction``) and refuses a
    completion containing NaN or Inf, or imputations far outside the observed range
    (:func:`check_in_range`). Subclasses check their parameters in
    ``_validate_params()`` (called by ``fit``, never by ``__init__``, which only stores them).

    The methods are **transductive**: they impute the rows they are given jointly (a particle
    flow, an optimal-transport match, a network trained on those rows), not by a learned
    row-wise map. Hence:

    * ``fit(X)`` imputes ``X`` and keeps it; ``fit_transform(X)`` returns that imputation.
    * ``transform(X)`` on the matrix seen in ``fit`` returns the same imputation (so
      ``fit(X).transform(X) == fit_transform(X)`` exactly).
    * ``transform(X_new)`` on other rows imputes the union of the fitted rows and ``X_new``
      afresh (same parameters and ``random_state``) and returns the rows of ``X_new``: the new
      rows are imputed in the context of the fitted data, at the cost of a full run on the
      union. Rows of ``X_new`` without NaN come back unchanged; a matrix without NaN costs
      nothing. The fitted estimator is not changed.

    Common parameters (in every subclass's constructor):

    random_state : seed of every random draw (numpy and torch generators made from it).
    device : ``"auto"`` (a CUDA GPU when one is visible), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    standardize : (where the method is not invariant to the columns' scales) impute in z-scores
        of the observed entries, ``z = (x - mean_obs) / std_obs`` per column (std 0 -> 1), and
        map the imputations back to the input units. On by default, so raw data are safe; the
        benchmark harness turns it off because it passes data it has already standardised.
    num_threads : (torch methods) torch intra-op threads while fitting; default 1, ``None``
        leaves torch's setting. Torch's setting is restored afterwards.
    """

    #: True for imputers that never touch torch (numpy / scikit-learn): they run on the CPU
    #: whatever ``device`` says, and a record must say so.
    cpu_only = False

    def __init__(self, random_state: int | None = None, device: str = "auto"):
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ scikit-learn protocol
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags = ImputerTags(preserves_dtype=["float64"])
        return tags

    def _validate_params(self) -> None:
        """Refuse bad parameter values with one-line ValueErrors naming the parameter: types for
        every parameter (:func:`check_param_types`), then the shared ones; subclasses call this
        first and check their ranges and choices after."""
        check_param_types(self)
        self.compute_device()
        if "standardize" in self._get_param_names() and not isinstance(self.standardize, (bool, np.bool_)):
            raise ValueError(f"standardize must be True or False, got {self.standardize!r}")
        if "num_threads" in self._get_param_names() and self.num_threads is not None:
            check_counts(num_threads=self.num_threads)

    def compute_device(self) -> str:
        """The device the imputation actually runs on; validates ``device`` either way."""
        resolved = resolve_device(self.device)
        return "cpu" if self.cpu_only else resolved

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.random_state)

    def _torch_generators(self, device: str):
        """(numpy generator, CPU torch generator for the initial weights, torch generator on
        ``device`` for the draws during training), all from ``random_state``: the weights do not
        depend on the device, and the same seed gives the same run."""
        import torch

        rng = self._rng()
        init_gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**63 - 1)))
        return rng, init_gen, gen

    def _impute(self, X: np.ndarray, mask: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _check_input(self, X, reset: bool) -> np.ndarray:
        """X as a float64 copy; sets (``reset``) or checks ``n_features_in_`` / ``feature_names_in_``."""
        _refuse_complex(X)
        try:
            arr = validate_data(self, X, reset=reset, dtype=np.float64, order="C", ensure_all_finite=False, copy=True,
                                ensure_min_samples=2 if reset else 1)
        except ValueError as exc:
            if "could not convert" not in str(exc):
                raise
            raise ValueError(f"input must be numeric (NaN for missing values): {str(exc)[:200]}; for categorical "
                             "columns wrap the imputer: knewimp.MixedTypeImputer(imputer, categorical='auto')") from None
        _refuse_inf(arr)
        _refuse_huge(arr)
        return arr

    def _complete(self, X: np.ndarray) -> np.ndarray:
        """The completion of the validated matrix ``X`` (fitted attributes of ``_impute`` set)."""
        _refuse_empty_columns(X)
        mask = np.isnan(X)
        if not mask.any():
            warnings.warn("input has no missing values; returning it unchanged", stacklevel=3)
            return X.copy()
        scaled = bool(getattr(self, "standardize", False))
        with torch_threads(getattr(self, "num_threads", None)):
            if scaled:
                mu = np.nanmean(X, axis=0)
                sd = np.nanstd(X, axis=0)
                sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
                filled = np.asarray(self._impute((X - mu) / sd, mask), dtype=np.float64) * sd + mu
            else:
                filled = np.asarray(self._impute(X.copy(), mask), dtype=np.float64)
        if filled.shape != X.shape:
            raise ImputationError(f"{type(self).__name__} returned shape {filled.shape}, expected {X.shape}")
        if not np.isfinite(filled[mask]).all():
            raise ImputationError(f"{type(self).__name__} produced NaN or Inf imputations")
        check_in_range(X, mask, filled, type(self).__name__)
        out = X.copy()
        out[mask] = filled[mask]
        return out

    def _fit(self, X) -> np.ndarray:
        self._validate_params()
        X = self._check_input(X, reset=True)
        completed = self._complete(X)
        self.fit_input_, self.fit_output_ = X, completed
        return completed

    def fit(self, X, y=None):
        """Impute ``X`` (kept as ``fit_input_`` and ``fit_output_``); ``y`` is ignored."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fill the NaN entries of ``X``; observed entries are returned unchanged."""
        return self._fit(X).copy()

    def transform(self, X) -> np.ndarray:
        """``X`` with its NaN entries filled: the fitted imputation when ``X`` is the fitted
        matrix, else the rows of ``X`` from an imputation of (fitted rows + ``X``) (see the class
        docstring)."""
        check_is_fitted(self, "fit_output_")
        X = self._check_input(X, reset=False)
        if X.shape == self.fit_input_.shape and np.array_equal(X, self.fit_input_, equal_nan=True):
            return self.fit_output_.copy()
        if not np.isnan(X).any():
            return X
        union = clone(self)._fit(np.vstack([self.fit_input_, X]))
        return union[len(self.fit_input_):]
