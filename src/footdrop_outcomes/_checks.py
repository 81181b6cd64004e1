"""Checks and small statistics shared by every analysis layer (survival, trajectories, ...).

One copy of each, so an option outside its set, a missing value, a collinear term or a confidence
level out of range gets the same message wherever it is caught.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import ndtri
from scipy.stats import norm

from footdrop_outcomes.errors import ConfigError, FootdropError

__all__ = ["check_choice", "check_alpha", "check_missing", "check_rank", "cross", "formula_rhs", "zq", "p_value", "term_name"]

_CHUNK = 512


def check_choice(name: str, value: object, allowed: tuple[Any, ...]) -> None:
    """Refuse a value outside a closed option set, naming the option and the allowed values."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")


def check_alpha(alpha: float) -> None:
    """``alpha`` (1 - confidence level) must be a number strictly between 0 and 1."""
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be a number in (0, 1), got {alpha!r}")


def check_missing(frame: pd.DataFrame, cols: Sequence[str], table: str) -> None:
    """Refuse missing values in ``cols``, naming the table, column, count and first rows."""
    for v in cols:
        miss = pd.isna(frame[v]).to_numpy()
        if miss.any():
            idx = frame.index[np.flatnonzero(miss)[:8]].tolist()
            raise FootdropError(
                f"{table}.{v} has {int(miss.sum())} missing value(s) (rows {idx}{', ...' if miss.sum() > 8 else ''}); "
                "drop or impute those rows before fitting"
            )


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a' b`` for tall arrays, summed over row chunks.

    One BLAS call on a tall-and-skinny product lets OpenBLAS start its threads, which on a
    loaded machine costs 10-30x the work itself; chunks of 512 rows stay single-threaded.
    """
    out = np.zeros((a.shape[1], b.shape[1]))
    for s in range(0, a.shape[0], _CHUNK):
        out += a[s:s + _CHUNK].T @ b[s:s + _CHUNK]
    return out


def check_rank(x: np.ndarray, terms: Sequence[str], what: str) -> None:
    """Refuse a design with constant-zero or linearly dependent columns, naming them."""
    if x.shape[1] == 0:
        raise ConfigError(f"{what} gives no columns (add terms or keep the intercept)")
    norms = np.linalg.norm(x, axis=0)
    zero = [terms[j] for j in np.flatnonzero(norms == 0)]
    if zero:
        raise FootdropError(f"{what}: column(s) {zero} are zero in every row (no variation); drop them")
    xs = x / norms
    w = np.linalg.eigvalsh(cross(xs, xs))
    if w[0] > 1e-10 * w[-1]:
        return  # well conditioned (cheap check on the p x p cross-product); otherwise locate the dependence
    _, r, piv = linalg.qr(xs, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = min(int(np.sum(diag > diag[0] * 1e-7)), x.shape[1] - 1)
    keep, dep = piv[:rank], piv[rank:]
    parts = []
    for j in dep:
        coef, *_ = np.linalg.lstsq(xs[:, keep], xs[:, j], rcond=None)
        with_ = [terms[keep[i]] for i in np.argsort(-np.abs(coef)) if abs(coef[i]) > 1e-6]
        parts.append(f"{terms[j]!r} is (nearly) a linear combination of {with_}")
    raise FootdropError(f"{what}: collinear terms: " + "; ".join(parts) + ". Drop one of each set of collinear terms.")


def formula_rhs(formula: str, *, what: str = "formula", outcome: str = "the outcome columns",
                example: str = "cause + severity + age") -> str:
    """The right-hand side of a model formula; ``y ~ x`` is refused because the outcome is fixed.

    ``what`` names the argument and ``outcome`` says where the outcome comes from, for the message.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise ConfigError(f"{what} must be a non-empty formula string such as {example!r}, got {formula!r}")
    if "~" in formula:
        lhs, rhs = formula.split("~", 1)
        if lhs.strip():
            raise ConfigError(f"{what} takes the right-hand side only (the outcome comes from {outcome}); got {formula!r}")
        formula = rhs
    return formula.strip()


def zq(alpha: float) -> float:
    """Two-sided standard-normal quantile: 1.96 for ``alpha = 0.05``."""
    return float(-ndtri(alpha / 2))


def p_value(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value of a Wald z."""
    return 2 * norm.sf(np.abs(z))


def term_name(col: str) -> str:
    """formulaic's ``cause[T.stroke]`` as ``cause[stroke]``."""
    return re.sub(r"\[T\.", "[", col)
