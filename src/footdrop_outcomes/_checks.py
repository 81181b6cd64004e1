"""Checks and small statistics shared by every analysis layer (survival, trajectories, ...).

One copy of each, so an option outside its set, a missing value, a collinear term or a confidence
level out of range gets the same message wherever it is caught.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import ndtri
from scipy.stats import norm

from footdrop_outcomes.errors import ConfigError, FootdropError

__all__ = ["check_choice", "check_alpha", "check_missing", "check_rank", "cross", "formula_rhs", "formula_design", "FormulaDesign",
           "zq", "p_value", "term_name"]

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


# ------------------------------------------------------------------------------------------------
# one formula dialect for every analysis layer

_C_CALL = re.compile(r"\bC\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


@dataclass(frozen=True)
class FormulaDesign:
    """A fitted design of a right-hand-side formula: formulaic spec, term names, categorical levels.

    Term names follow one scheme in every layer: ``Intercept``, a numeric or boolean column by its
    name (``age``, ``diabetes``), a categorical level as ``severity[moderate]`` (treatment
    coding, reference = first level), interactions joined by ``:``.
    """

    formula: str
    rhs: str
    spec: Any
    terms: tuple[str, ...]
    variables: tuple[str, ...]
    levels: dict[str, tuple[Any, ...]]

    def frame(self, data: pd.DataFrame, table: str = "data") -> pd.DataFrame:
        """The design matrix on new rows (same columns and levels as the fit), named by term."""
        missing = [v for v in self.variables if v not in data.columns]
        if missing:
            raise FootdropError(f"{table} lacks column(s) {missing} needed by the formula {self.formula!r}")
        check_missing(data, self.variables, table)
        sub = data[list(self.variables)].reset_index(drop=True).copy()
        for v, lev in self.levels.items():
            vals = sub[v].astype(object)
            bad = int((~vals.isin(lev)).sum())
            if bad:
                raise FootdropError(f"{table}.{v}: {bad} row(s) have a level that was not in the fitted data "
                                    f"(levels: {list(map(str, lev))})")
            sub[v] = pd.Categorical(vals, categories=list(lev))
        x = np.asarray(self.spec.get_model_matrix(sub, output="numpy"), dtype=float)
        return pd.DataFrame(x, columns=list(self.terms), index=data.index)


def formula_design(data: pd.DataFrame, formula: str, *, what: str = "formula", table: str = "data",
                   outcome: str = "the outcome columns", rank: bool = True) -> tuple[FormulaDesign, pd.DataFrame]:
    """Build a design from a right-hand-side formula in the package's one dialect (formulaic).

    Categorical columns are detected from their dtype (pandas categorical, text); numeric and
    boolean columns enter as numbers. ``C(x)`` is accepted for backward compatibility (patsy
    style) and means "treat ``x`` as categorical"; its terms are named ``x[level]`` like every
    other categorical. Declared but absent levels are dropped. Missing values, unknown columns
    and (with ``rank``) constant or collinear terms are refused, naming the columns.

    Returns
    -------
    (FormulaDesign, pandas.DataFrame)
        The design and its matrix on ``data`` (columns named by term, index of ``data``).

    Examples
    --------
    >>> d = pd.DataFrame({"severity": pd.Categorical(["mild", "severe", "mild"]), "age": [50, 60, 70]})
    >>> formula_design(d, "C(severity) + age")[0].terms
    ('Intercept', 'severity[severe]', 'age')
    """
    from formulaic import Formula, model_matrix

    rhs = formula_rhs(formula, what=what, outcome=outcome)
    forced = set(_C_CALL.findall(rhs))
    rhs = _C_CALL.sub(r"\1", rhs)
    if re.search(r"\bC\(", rhs):
        raise ConfigError(f"{what} {formula!r}: C(...) takes a column name only (categorical columns are detected from "
                          "their type, so plain 'cause + severity' works)")
    try:
        required = set(Formula(rhs).required_variables)
    except Exception as exc:  # formulaic parse errors
        raise ConfigError(f"{what} {formula!r} could not be parsed: {exc}") from exc
    # formulaic 1.2 leaves out a transform's arguments (``bs(program_week, df=4)``): add named data columns
    required |= {t for t in re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", rhs) if t in data.columns}
    variables = tuple(sorted(required))
    missing = [v for v in variables if v not in data.columns]
    if missing:
        raise FootdropError(f"{table} has no column(s) {missing} used in {what} {formula!r} (columns: {list(data.columns)[:15]})")
    check_missing(data, variables, table)
    sub = data[list(variables)].reset_index(drop=True).copy()
    levels: dict[str, tuple[Any, ...]] = {}
    for v in variables:
        s = sub[v]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels[v] = tuple(s.cat.remove_unused_categories().cat.categories)
        elif v in forced or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            levels[v] = tuple(sorted(s.astype(object).unique(), key=str))
        else:
            if pd.api.types.is_bool_dtype(s.dtype):
                sub[v] = s.astype(float)
            continue
        sub[v] = pd.Categorical(s.astype(object), categories=list(levels[v]))
    try:
        mm = model_matrix(rhs, sub, output="numpy")
    except Exception as exc:
        raise FootdropError(f"{what} {formula!r} could not be evaluated on {table}: {exc}") from exc
    x = np.asarray(mm, dtype=float)
    terms = tuple(term_name(c) for c in mm.model_spec.column_names)
    if rank:
        check_rank(x, terms, f"{what} {formula!r}")
    design = FormulaDesign(formula, rhs, mm.model_spec, terms, variables, levels)
    return design, pd.DataFrame(x, columns=list(terms), index=data.index)
