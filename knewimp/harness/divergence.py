"""The divergence rule: a cell whose MAE is far beyond the column mean's on its own mask failed.

Shared by the numerical cell (:mod:`knewimp.harness.cell`) and the mixed-type cell
(:mod:`knewimp.harness.mixed_cell`, on the numerical entries).
"""
from __future__ import annotations

import numpy as np

#: A cell whose MAE exceeds this multiple of the column-mean imputation's MAE on its own mask is
#: recorded failed (diverged). Drawing each missing entry from its column's true marginal,
#: ignoring every observed value, scores about sqrt(2) times the column mean on Gaussian data
#: (E|X - X'| = sqrt(2) E|X - mu|): twice the column mean is worse than that uninformed draw, so
#: such a result says the method broke, not how well it imputes. The ratios of every committed
#: ok record, and the cells this multiple failed when it was adopted, are in
#: tables/divergence_ratios.md (scripts/divergence_ratios.py).
DIVERGENCE_RATIO = 2.0


class Diverged(RuntimeError):
    """The imputation is much worse than filling each column with its observed mean."""


def _check_against_column_mean(mae: float, colmean: float) -> float | None:
    """MAE / the column mean's MAE on the same mask (None when that is 0); raises :class:`Diverged`
    beyond :data:`DIVERGENCE_RATIO`, or for a MAE that is not a finite number."""
    if not np.isfinite(mae):
        raise Diverged(f"MAE is {mae}")
    ratio = mae / colmean if colmean > 0 else None
    if ratio is not None and ratio > DIVERGENCE_RATIO:
        raise Diverged(f"MAE {mae:.4g} is {ratio:.3g}x the column-mean imputation's {colmean:.4g} on the same "
                       f"mask (limit {DIVERGENCE_RATIO:g}x)")
    return ratio
