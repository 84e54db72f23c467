"""KnewImp: numerical tabular imputation by a negative-entropy-regularised Wasserstein gradient flow."""
from knewimp.base import BaseImputer, ImputationError

__all__ = ["BaseImputer", "ImputationError", "KnewImputer", "MixedTypeImputer"]


def __getattr__(name):
    # Lazy so that importing the harness does not pay for torch until a method needs it.
    if name == "KnewImputer":
        from knewimp.imputer import KnewImputer

        return KnewImputer
    if name == "MixedTypeImputer":
        from knewimp.categorical import MixedTypeImputer

        return MixedTypeImputer
    raise AttributeError(name)
