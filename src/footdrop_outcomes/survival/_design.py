"""Shared pieces of the survival models: formula designs with clear errors, interval outcomes,
inverse information, Wald tables and forest plots.

Every model module (Cox, AFT, cure models) builds its design here, so a missing column, a
collinear term or a level without recoveries gets the same message wherever it is fitted.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from footdrop_outcomes._version import __version__
from footdrop_outcomes._checks import check_missing as _check_missing
from footdrop_outcomes._checks import formula_rhs
from footdrop_outcomes._checks import check_rank as _check_rank
from footdrop_outcomes._checks import term_name as _term_name
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.survival._input import _numbers, check_columns
from footdrop_outcomes.survival._missing import missing_mask


def _covariance(h: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Inverse observed information; a clear error naming the terms when it is singular."""
    neg = -h
    d = np.sqrt(np.abs(np.diag(neg)))
    d[d == 0] = 1.0
    scaled = neg / np.outer(d, d)
    w, v = np.linalg.eigh(scaled)
    if not np.all(np.isfinite(w)) or w[0] <= 1e-10 * max(w[-1], 1e-300):
        load = np.abs(v[:, 0])
        worst = [names[i] for i in np.argsort(-load)[:4] if load[i] > 0.1]
        raise FootdropError(
            "the information matrix is singular at the maximum: the model is not identifiable from these data "
            f"(terms involved: {worst}). Check for covariate levels without recoveries, or drop or merge those terms."
        )
    return (v / w) @ v.T / np.outer(d, d)


@functools.lru_cache(maxsize=256)
def parsed_formula(rhs: str) -> Any:
    """formulaic's parse of a right-hand side, kept per text (a fit parses its formula once, not four times).

    Raises formulaic's error when the text does not parse (not cached).
    """
    from formulaic import Formula

    return Formula(rhs)


@functools.lru_cache(maxsize=256)
def rhs_variables(rhs: str) -> tuple[str, ...]:
    """Sorted variables of a right-hand side, kept per text (formulaic recomputes them at every request).

    Raises formulaic's error when the text does not parse (not cached).
    """
    return tuple(sorted(parsed_formula(rhs).required_variables))


def formula_vars(formula: str, outcome: str) -> list[str]:
    """Sorted variables a right-hand-side formula needs; [] when it does not parse (the design builder reports that).

    As :func:`footdrop_outcomes.survival._missing.formula_variables`, on the cached parse.
    """
    try:
        return list(rhs_variables(formula_rhs(formula, outcome=outcome)))
    except Exception:  # noqa: BLE001 - parse errors are reported, with context, by the design builder
        return []


def _rhs(formula: str, what: str) -> str:
    return formula_rhs(formula, what=what, outcome="the lower/upper columns")


@dataclass(frozen=True)
class _Design:
    """A fitted design: formulaic spec, term names and the levels of non-numeric variables.

    ``spec`` is formulaic's ``ModelSpec``. A design built by the direct path (:func:`_fast_matrix`) has none
    until it is first read: it is then made by formulaic from ``sample`` (the first row of the coded columns: the
    types, and the categories with the reference first), which gives the spec of the whole data (formulaic takes a
    categorical's levels from its categories, not its values; tests/survival/test_design_fast.py).
    """

    formula: str
    spec_: Any
    terms: tuple[str, ...]
    variables: tuple[str, ...]
    levels: dict[str, tuple[Any, ...]]
    references: dict[str, dict[str, str]] = field(default_factory=dict)
    sample: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def spec(self) -> Any:
        """formulaic's ``ModelSpec`` of the fit (made on first use for a design built directly)."""
        if self.spec_ is None and self.sample is not None:
            from formulaic import model_matrix

            rows = pd.DataFrame(self.sample)
            object.__setattr__(self, "spec_", model_matrix(parsed_formula(self.formula), rows, output="numpy").model_spec)
        return self.spec_

    def matrix(self, frame: pd.DataFrame, table: str = "profile") -> np.ndarray:
        missing = [v for v in self.variables if v not in frame.columns]
        if missing:
            raise FootdropError(f"{table} lacks column(s) {missing} needed by the formula {self.formula!r}")
        _check_missing(frame, self.variables, table)
        for v, lev in self.levels.items():
            vals = pd.Series(frame[v]).astype(object)
            bad = sorted({str(x) for x in vals[~vals.isin(lev)]})
            if bad:
                raise FootdropError(f"{table}.{v}: {len(bad)} value(s) were not levels of the fitted data (values are not shown)")
        sub = frame[list(self.variables)].copy()
        for v, lev in self.levels.items():
            sub[v] = pd.Categorical(sub[v].astype(object), categories=list(lev))
        x = np.asarray(self.spec.get_model_matrix(sub, output="numpy"), dtype=float)
        return x


def reference_levels(frame: pd.DataFrame, variables: Sequence[str], reference: Mapping[str, Any] | None,
                     what: str, table: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, dict[str, str]]]:
    """Levels of every non-numeric variable, the reference (first) level stated, never guessed silently.

    The reference comes from, in order: ``reference[variable]`` (an explicit argument; the level
    must occur in the data), the order of a pandas categorical (its first used category), and
    only for plain text columns the sorted values (R's rule for character vectors), which the
    returned ``how`` says. Returns ``levels`` (reference first) and, per variable,
    ``{"level": ..., "from": ...}``.
    """
    ref = dict(reference or {})
    unknown = [k for k in ref if k not in variables]
    if unknown:
        raise ConfigError(f"reference= names variable(s) {unknown} that are not in {what} (variables: {list(variables)})")
    levels: dict[str, tuple[Any, ...]] = {}
    stated: dict[str, dict[str, str]] = {}
    for v in variables:
        s = frame[v]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories)) > 0
            lev = [c for c, u in zip(s.cat.categories, used) if u]  # the used categories, in order
            how = "first level of the categorical's order"
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            lev = sorted(s.astype(object).dropna().unique(), key=str)
            how = "first in sorted order (a text column: make it categorical or give reference= to choose)"
        else:
            if v in ref:
                raise ConfigError(f"reference= gives a level for {v!r}, but {table}.{v} is numeric; make it categorical first")
            continue
        if v in ref:
            match = [x for x in lev if x == ref[v] or str(x) == str(ref[v])]
            if not match:
                raise ConfigError(f"reference= level for {v!r} does not occur in {table}.{v} (its levels are not shown; see the column's categories)")
            lev = [match[0]] + [x for x in lev if x is not match[0]]
            how = "reference= argument"
        levels[v] = tuple(lev)
        stated[v] = {"level": str(lev[0]), "from": how}
    return levels, stated


def reference_column(terms: Sequence[str], stated: Mapping[str, Mapping[str, str]]) -> list[str]:
    """For each term, the reference level of the factor it contrasts (``""`` for numeric terms)."""
    out = []
    for t in terms:
        refs = [f"{v}={stated[v]['level']}" for v in stated if f"{v}[" in t]
        out.append("; ".join(refs))
    return out


def _coded_columns(frame: pd.DataFrame, variables: Sequence[str], levels: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    """The columns formulaic is given: numeric ones as they are, the others as categoricals with ``levels``
    (reference first)."""
    cols: dict[str, Any] = {}
    for v in variables:
        col = frame[v]
        if v not in levels:
            cols[v] = col.array
        elif isinstance(col.dtype, pd.CategoricalDtype):  # recode (no detour through Python objects)
            cats = list(levels[v])
            cols[v] = (col if list(col.cat.categories) == cats else col.cat.set_categories(cats)).array
        else:
            cols[v] = pd.Categorical(col.astype(object), categories=list(levels[v]))
    return cols


def _fast_matrix(parsed: Any, cols: Mapping[str, Any], n: int) -> tuple[np.ndarray, list[str]] | None:
    """The model matrix and formulaic's column names of a plain formula, built directly; None when not plain.

    Plain: one formula part; an intercept (``1``); terms that are single columns looked up by name (numeric or
    boolean numpy columns as numbers, categoricals in treatment coding against their first category:
    ``cause[T.stroke]``) or products of numeric columns (``age:bmi``). Anything else (no intercept with a factor,
    a factor in an interaction, transforms such as ``np.log(age)`` or ``C(x)``, extension dtypes) returns None
    and formulaic builds the design. Equal to formulaic's matrix, column names and order: tested over many
    formulas and data (tests/survival/test_design_fast.py).
    """
    from formulaic.formula import SimpleFormula
    from formulaic.parser.types import Factor

    if type(parsed) is not SimpleFormula:
        return None
    terms = list(parsed)
    if not terms or not (terms[0].degree == 0 and len(terms[0].factors) == 1
                         and terms[0].factors[0].eval_method is Factor.EvalMethod.LITERAL
                         and terms[0].factors[0].expr == "1"):
        return None  # no intercept: formulaic would code a factor with all its levels
    blocks: list[np.ndarray] = [np.ones((n, 1))]
    names = ["Intercept"]
    for term in terms[1:]:
        if term.degree < 1 or len(term.factors) != term.degree:
            return None
        values = []
        for f in term.factors:
            if f.eval_method is not Factor.EvalMethod.LOOKUP or f.kind is not Factor.Kind.UNKNOWN or f.expr not in cols:
                return None
            values.append(cols[f.expr])
        if len(values) == 1 and isinstance(values[0], pd.Categorical):
            cat = values[0]
            codes = cat.codes
            if codes.size and codes.min() < 0:
                return None
            k = len(cat.categories)
            if k > 1:
                blocks.append((codes[:, None] == np.arange(1, k)[None, :]).astype(float))
                names.extend(f"{term.factors[0].expr}[T.{lev}]" for lev in cat.categories[1:])
            continue
        prod = None
        for a in values:
            if not isinstance(a, np.ndarray | pd.arrays.NumpyExtensionArray):
                return None
            a = np.asarray(a)
            if a.dtype.kind not in "biuf":
                return None
            a = a.astype(float)
            prod = a if prod is None else prod * a
        blocks.append(prod[:, None])
        names.append(":".join(f.expr for f in term.factors))
    return np.hstack(blocks) if len(blocks) > 1 else blocks[0].copy(), names


def _build_design(frame: pd.DataFrame, formula: str, what: str, table: str,
                  reference: Mapping[str, Any] | None = None) -> tuple[_Design, np.ndarray]:
    from formulaic import model_matrix

    rhs = _rhs(formula, what)
    try:
        parsed = parsed_formula(rhs)
        variables = rhs_variables(rhs)
    except Exception as exc:  # formulaic parse errors
        raise ConfigError(f"{what} {formula!r} could not be parsed: {exc}") from exc
    missing = [v for v in variables if v not in frame.columns]
    if missing:
        raise FootdropError(f"{table} has no column(s) {missing} used in {what} {formula!r} (columns: {list(frame.columns)[:15]})")
    if missing_mask(frame, variables).any():
        _check_missing(frame, variables, table)
    levels, stated = reference_levels(frame, variables, reference, what, table)
    cols = _coded_columns(frame, variables, levels)
    fast = _fast_matrix(parsed, cols, len(frame))
    if fast is not None:  # the common case, without formulaic's fixed cost per call
        x, names = fast
        terms = tuple(_term_name(c) for c in names)
        _check_rank(x, terms, what)
        sample = {v: a[:1] for v, a in cols.items()}  # a coded row: the types and categories formulaic's spec needs
        return _Design(rhs, None, terms, variables, levels, stated, sample), x
    sub = pd.DataFrame(cols, index=frame.index)  # arrays, not Series: no alignment on the index
    try:
        mm = model_matrix(parsed, sub, output="numpy")
    except Exception as exc:
        raise FootdropError(f"{what} {formula!r} could not be evaluated on {table}: {exc}") from exc
    x = np.asarray(mm, dtype=float)
    terms = tuple(_term_name(c) for c in mm.model_spec.column_names)
    _check_rank(x, terms, what)
    return _Design(rhs, mm.model_spec, terms, variables, levels, stated), x


def _outcome(frame: pd.DataFrame, lower_col: str, upper_col: str, table: str) -> tuple[np.ndarray, np.ndarray]:
    check_columns(frame, lower_col=lower_col, upper_col=upper_col, table=table)
    lo = _numbers(frame[lower_col])
    up = _numbers(frame[upper_col])
    up = np.where(np.isnan(up), np.inf, up)
    return lo, up


def _check_events_by_indicator(x: np.ndarray, terms: Sequence[str], event: np.ndarray, what: str) -> None:
    """A 0/1 column with no recoveries among its 1s has a coefficient at infinity."""
    ones = x == 1
    binary = np.all(ones | (x == 0), axis=0)
    on = np.count_nonzero(ones, axis=0)
    with_event = np.asarray(event, dtype=bool) @ ones if x.shape[0] else np.zeros(x.shape[1], dtype=bool)
    for j in np.flatnonzero(binary & (on > 0) & ~with_event):
        if terms[j] != "Intercept":
            raise FootdropError(
                f"{what}: no recoveries observed where {terms[j]} = 1 ({int(on[j])} rows), so its coefficient is not "
                "estimable; drop those rows or merge that level with another"
            )


def _check_divergence(theta: np.ndarray, se: np.ndarray, names: Sequence[str], spans: np.ndarray) -> None:
    """Refuse estimates that ran off to infinity (separation: e.g. a level where everyone recovered).

    ``spans``: the range of each design column (1 for the intercept and the log scale), so the
    check is on the change of the linear predictor across the data, not on raw units.
    """
    effect = np.abs(theta) * spans
    bad = np.flatnonzero(~np.isfinite(theta) | ~np.isfinite(se) | (effect > 25))
    if bad.size:
        parts = [f"{names[j]} (coef {theta[j]:.3g}, SE {se[j]:.3g})" for j in bad[:6]]
        raise FootdropError(
            "estimates ran off to infinity, so the model is not identifiable from these data: " + ", ".join(parts)
            + ". This happens when a covariate level has only recoveries, or only non-recoveries (separation); "
            "drop or merge that level, or remove the term."
        )


def _spans(*xs: np.ndarray) -> np.ndarray:
    out = [np.where(np.ptp(x, axis=0) > 0, np.ptp(x, axis=0), 1.0) for x in xs]
    return np.concatenate([*out, [1.0]])


def _versions() -> dict[str, str]:
    return dict(_versions_once())


@functools.lru_cache(maxsize=1)
def _versions_once() -> dict[str, str]:
    import formulaic
    import scipy

    return {"footdrop_outcomes": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__, "formulaic": formulaic.__version__}


def _counts(lo: np.ndarray, up: np.ndarray) -> dict[str, int]:
    fin = np.isfinite(up)
    return {"n": int(lo.size), "events": int(fin.sum()), "n_interval": int((fin & (lo > 0)).sum()),
            "n_left": int((fin & (lo == 0)).sum()), "n_right": int((~fin & (lo > 0)).sum()),
            "n_uninformative": int((~fin & (lo == 0)).sum())}


def _forest(ax: Any, labels: Sequence[str], est: np.ndarray, lo: np.ndarray, hi: np.ndarray, xlabel: str, title: str) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.0, 0.35 * len(labels) + 1.2))
    y = np.arange(len(labels))[::-1]
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="black", ecolor="grey", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


def _logistic_start(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A few ridge-stabilised IRLS steps of a logistic regression (start values only)."""
    g = np.zeros(z.shape[1])
    for _ in range(25):
        p = expit(z @ g)
        w = np.maximum(p * (1 - p), 1e-6)
        h = (z.T * w) @ z + 1e-6 * np.eye(z.shape[1])
        step = np.linalg.solve(h, z.T @ (y - p))
        g = np.clip(g + step, -15, 15)
        if np.max(np.abs(step)) < 1e-8:
            break
    return g


class _Guarded:
    """``negloglik``: the subclass's ``_negloglik`` with floating-point warnings off; a non-finite value or
    gradient becomes ``inf`` (a trial step of the optimiser that overflows ``exp`` makes the line search step back
    instead of warning)."""

    def _negloglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:  # pragma: no cover - every model defines it
        raise NotImplementedError

    def negloglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            f, g = self._negloglik(theta)
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(theta)
        return f, g


def _follow_up_blocks(need: np.ndarray, n_blocks: int) -> list[tuple[np.ndarray, int]]:
    """Patients in at most ``n_blocks`` blocks of similar follow-up: (row positions, weeks the block needs), the
    patients sorted by ``need`` (weeks 0 .. the last week each needs). A cumulative hazard over a block's own weeks
    equals the one over all weeks (a running sum's first terms do not depend on its later ones)."""
    order = np.argsort(need, kind="stable")
    return [(idx, int(need[idx].max())) for idx in np.array_split(order, min(n_blocks, max(need.size, 1))) if idx.size]

