"""Every imputer of the project by class name: for code that treats all of them alike (the
shared-validation tests, the adversarial script). Imported lazily, so that listing them loads no
baseline."""
from __future__ import annotations

import importlib

#: class name -> module of the 11 imputers
IMPUTERS = {
    "KnewImputer": "knewimp.imputer", "MeanImputer": "knewimp.baselines.mean", "MICEImputer": "knewimp.baselines.mice",
    "SinkhornImputer": "knewimp.baselines.sinkhorn", "TDMImputer": "knewimp.baselines.tdm",
    "GAINImputer": "knewimp.baselines.gain", "MIWAEImputer": "knewimp.baselines.miwae",
    "ReMaskerImputer": "knewimp.baselines.remasker", "MIRACLEImputer": "knewimp.baselines.miracle",
    "CSDITImputer": "knewimp.baselines.diffusion.csdi_t", "MissDiffImputer": "knewimp.baselines.diffusion.missdiff",
}


def imputer_class(name: str) -> type:
    """The class named ``name`` (a key of :data:`IMPUTERS`)."""
    if name not in IMPUTERS:
        raise ValueError(f"unknown imputer {name!r}; valid choices: {', '.join(IMPUTERS)}")
    return getattr(importlib.import_module(IMPUTERS[name]), name)
