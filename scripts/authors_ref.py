"""Load and run the authors' released KnewImp code (github.com/JustusvLiebig/NewImp) unmodified.

Their code is imported from a checkout (``KNEWIMP_AUTHORS_REPO``, default ``../authors_newimp``
next to this worktree). Three things in it cannot run here as released, none of them part of the
algorithm, and each is bridged from the outside without touching their files:

* ``utils/utils.py`` imports ``hyperimpute`` for its amputation helper only: a stand-in module
  whose ``simulate_nan`` raises if anything calls it;
* ``score/score_trainer.py`` imports ``torch.utils.tensorboard`` (needs the tensorboard package)
  for a writer the imputer never creates: a stand-in ``SummaryWriter`` if the import fails;
* their score ``Trainer`` defaults to ``device='cuda'`` and the imputer does not pass a device:
  the ``Trainer`` name inside ``model.wgf_imp`` is bound to the same class with the device given.

Their run script sets ``torch.set_default_tensor_type('torch.DoubleTensor')``; :func:`float64`
does the same for the duration of a run and restores the previous default afterwards.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPO = ROOT.parent / "authors_newimp"
ENV_VAR = "KNEWIMP_AUTHORS_REPO"
_MODULE_NAMES = ("model", "model.wgf_imp", "score", "score.score_tuple", "score.score_trainer",
                 "score.utils_score", "utils", "utils.utils")


def repo_path(path: str | os.PathLike | None = None) -> Path:
    """The authors' checkout: ``path``, else $KNEWIMP_AUTHORS_REPO, else ../authors_newimp."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_REPO).resolve()


def missing_reason(path: str | os.PathLike | None = None) -> str | None:
    """None when the checkout is usable, else one line saying why not."""
    repo = repo_path(path)
    if not (repo / "model" / "wgf_imp.py").is_file():
        return (f"authors' NewImp checkout not found at {repo} (set {ENV_VAR} to a checkout of "
                "github.com/JustusvLiebig/NewImp)")
    try:
        import functorch  # noqa: F401  (their score code imports it)
        import ot  # noqa: F401
    except ImportError as exc:
        return f"the authors' code needs {exc.name}, which is not installed"
    return None


def _install_stand_ins() -> None:
    if "hyperimpute" not in sys.modules:
        def simulate_nan(*args, **kwargs):
            raise RuntimeError("hyperimpute stand-in: amputation is done by the caller, not by the authors' utils")

        names = ("hyperimpute", "hyperimpute.plugins", "hyperimpute.plugins.utils",
                 "hyperimpute.plugins.utils.simulate")
        mods = {name: types.ModuleType(name) for name in names}
        mods["hyperimpute.plugins.utils.simulate"].simulate_nan = simulate_nan
        for parent, child in zip(names[:-1], names[1:]):
            setattr(mods[parent], child.rsplit(".", 1)[1], mods[child])
        sys.modules.update(mods)
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        tb = types.ModuleType("torch.utils.tensorboard")

        class SummaryWriter:  # never constructed by the imputer path
            def __init__(self, *args, **kwargs):
                raise RuntimeError("tensorboard stand-in: the authors' imputer does not log to tensorboard")

        tb.SummaryWriter = SummaryWriter
        sys.modules["torch.utils.tensorboard"] = tb


@functools.lru_cache(maxsize=None)
def _load(repo: str, device: str) -> types.SimpleNamespace:
    _install_stand_ins()
    for name in _MODULE_NAMES:  # generic top-level names: make sure nothing else provides them
        mod = sys.modules.get(name)
        if mod is not None and not str(getattr(mod, "__file__", "") or "").startswith(repo):
            raise RuntimeError(f"a module named {name!r} from elsewhere is already imported ({mod!r})")
    sys.path.insert(0, repo)
    try:
        from model import wgf_imp
        from score import score_trainer, score_tuple
        from utils import utils
    finally:
        sys.path.remove(repo)
    for mod in (wgf_imp, score_trainer, score_tuple, utils):
        if not str(Path(mod.__file__).resolve()).startswith(repo):
            raise RuntimeError(f"{mod.__name__} was imported from {mod.__file__}, not from {repo}")
    # The device the imputer never passes to its Trainer; nothing else about Trainer changes.
    wgf_imp.Trainer = functools.partial(score_trainer.Trainer, device=device)
    return types.SimpleNamespace(wgf_imp=wgf_imp, score_trainer=score_trainer, score_tuple=score_tuple,
                                 utils=utils, repo=repo, device=device)


def load(path: str | os.PathLike | None = None, device: str = "cpu") -> types.SimpleNamespace:
    """Import the authors' modules: ``.wgf_imp``, ``.score_tuple``, ``.score_trainer``, ``.utils``."""
    reason = missing_reason(path)
    if reason:
        raise FileNotFoundError(reason)
    return _load(str(repo_path(path)), device)


@contextlib.contextmanager
def float64():
    """torch's default dtype float64 inside the block (their run script's global setting)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def make_imputer(ref: types.SimpleNamespace, **overrides):
    """``NeuralGradFlowImputer`` with the arguments of their run script ``exper_wgf.py``."""
    kwargs = dict(entropy_reg=10.0, bandwidth=0.5, score_net_epoch=200, niter=2, initializer=None,
                  mlp_hidden=[128, 128], lr=0.1, score_net_lr=1e-3, device=torch.device(ref.device))
    kwargs.update(overrides)
    return ref.wgf_imp.NeuralGradFlowImputer(**kwargs)


def impute(ref: types.SimpleNamespace, X: np.ndarray, mask: np.ndarray, seed: int, **overrides) -> np.ndarray:
    """Impute ``X`` (complete) at ``mask`` with their code, seeded as their script seeds it.

    Their ``fit_transform`` needs the ground truth (it scores every outer iteration); it receives
    ``X`` and never uses it for the imputation itself.
    """
    x_miss = np.where(mask, np.nan, X)
    with float64():
        ref.utils.enable_reproducible_results(seed)
        imp = make_imputer(ref, **overrides)
        out, _ = imp.fit_transform(x_miss.copy(), verbose=True, report_interval=1, X_true=X.copy())
    return out.detach().cpu().numpy().astype(np.float64)
