"""Input layer of the trajectory models: the long (one row per visit) table, the time basis,
formula expansion, design matrices and the checks that name the column at fault."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import (
    _C_CALL,
    check_choice,
    check_missing,
    check_rank,
    formula_rhs,
)
from footdrop_outcomes._checks import term_name as _term_name
from footdrop_outcomes._version import __version__
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.survival._missing import Missing, drop_incomplete

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["Design", "Prepared", "TimeBasis", "TimeBasisKind", "prepare", "trajectory_frame"]

TimeBasisKind = Literal["log", "linear", "months", "spline"]
RandomEffects = Literal["intercept", "slope", "basis"]

#: Patient covariates carried into the long table (booleans as 0/1 floats, so terms are named plainly).
_PATIENT_COLUMNS = ("cause", "severity", "baseline_mrc", "age", "sex", "diabetes", "smoking", "supervised_physio",
                    "fes", "site")

#: Knot quantiles of a natural (restricted) cubic spline with k knots (Harrell, Regression Modeling Strategies).
_KNOT_QUANTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.50, 0.725, 0.95)}


def versions() -> dict[str, str]:
    import formulaic
    import scipy
    import statsmodels

    return {"footdrop_outcomes": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__, "formulaic": formulaic.__version__, "statsmodels": statsmodels.__version__}


# ------------------------------------------------------------------------------------------------
# the long table


def trajectory_frame(cohort: Cohort) -> pd.DataFrame:
    """One row per visit with the outcomes, the time since onset and the patient's covariates.

    Parameters
    ----------
    cohort : Cohort

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``day``, ``weeks`` (``day / 7``), ``lw`` (``log(1 + weeks)``), the
        outcomes ``gait_speed`` (m/s), ``rom_deg`` and ``mrc`` (as a float), and the covariates
        ``cause``, ``severity``, ``baseline_mrc``, ``age``, ``age_c`` (``(age - 60) / 10``, the
        simulator's centring), ``sex``, ``diabetes``, ``smoking``, ``current_smoker``,
        ``supervised_physio``, ``fes`` (0/1 floats), ``site`` and ``adherence`` (share of
        prescribed home-exercise sessions completed over the whole follow-up: a naive summary,
        see ``docs/survival.md``; 0 when nothing was prescribed). Missing outcome values stay
        missing (the fits drop those rows and count them).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> long = trajectory_frame(simulate_cohort(50, seed=3))
    >>> list(long.columns[:6])
    ['patient_id', 'day', 'weeks', 'lw', 'gait_speed', 'rom_deg']
    """
    from footdrop_outcomes.cohort.cohort import Cohort

    if not isinstance(cohort, Cohort):
        raise FootdropError(f"trajectory_frame needs a Cohort, got {type(cohort).__name__}")
    v = cohort.visits
    p = cohort.patients[["patient_id", *_PATIENT_COLUMNS]].copy()
    for col in ("diabetes", "supervised_physio", "fes"):
        p[col] = p[col].astype(float)
    p["current_smoker"] = (p["smoking"].astype(object) == "current").astype(float).where(p["smoking"].notna())  # unknown stays missing
    p["age_c"] = (p["age"] - 60) / 10
    a = cohort.adherence
    done = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_completed"))
    given = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_prescribed") and not c.endswith("hours_prescribed"))
    a_codes, a_labels = _id_codes(a["patient_id"])
    if a_codes is not None:  # sums per id code: no string per adherence row (35M rows on a registry)
        sums = pd.DataFrame({"done": np.bincount(a_codes, weights=done, minlength=a_labels.size),
                             "given": np.bincount(a_codes, weights=given, minlength=a_labels.size)}, index=a_labels)
        by = sums.groupby(level=0).sum()
    else:
        by = pd.DataFrame({"pid": a["patient_id"].astype(str), "done": done, "given": given}).groupby("pid")[["done", "given"]].sum()
    p_ids = p["patient_id"].astype(str)
    share = (by["done"] / by["given"].where(by["given"] > 0)).reindex(p_ids.to_numpy())
    p["adherence"] = share.fillna(0.0).to_numpy()
    v_codes, v_labels = _id_codes(v["patient_id"])
    out = pd.DataFrame({
        "patient_id": v["patient_id"].astype(str).to_numpy() if v_codes is None else v_labels[v_codes],
        "day": v["day"].to_numpy(),
        "weeks": v["day"].to_numpy() / 7.0,
    })
    out["lw"] = np.log1p(out["weeks"])
    out["gait_speed"] = v["gait_speed"].to_numpy(dtype=float)
    out["rom_deg"] = v["rom_deg"].to_numpy(dtype=float)
    out["mrc"] = v["mrc"].to_numpy(dtype=float)
    p["patient_id"] = p_ids
    row = None
    if v_codes is not None and p_ids.is_unique:
        at = pd.Index(p_ids.to_numpy()).get_indexer(v_labels)  # patient row of each id label (hashes the ids once each)
        row = at[v_codes]
        if (row < 0).any():
            row = None  # a visit without its patient: the merge below says what happens
    if row is None:
        out = out.merge(p, on="patient_id", how="left", validate="many_to_one")
    else:  # the merge's result, taken by position (same columns, dtypes and row order)
        side = p.drop(columns="patient_id").iloc[row].reset_index(drop=True)
        out = pd.concat([out, side], axis=1)
    out = out[["patient_id", "day", "weeks", "lw", "gait_speed", "rom_deg", "mrc", "cause", "severity", "baseline_mrc",
               "age", "age_c", "sex", "diabetes", "smoking", "current_smoker", "supervised_physio", "fes", "site",
               "adherence"]]
    return out


def _id_codes(ids: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    """Integer codes and the ids as text of a categorical id column (``None`` codes otherwise or when an id is missing).

    ``labels[codes]`` equals ``ids.astype(str)`` and shares one string per id instead of one per row.
    """
    if not isinstance(ids.dtype, pd.CategoricalDtype):
        return None, np.empty(0, dtype=object)
    codes = ids.cat.codes.to_numpy()
    if codes.size and codes.min() < 0:
        return None, np.empty(0, dtype=object)
    return codes.astype(np.intp), np.asarray(ids.cat.categories.astype(str), dtype=object)


# ------------------------------------------------------------------------------------------------
# time basis


#: Days in a month (a Julian year / 12), for the months basis.
DAYS_PER_MONTH = 30.4375

#: Time variables a formula may name, and the basis each stands for.
_TIME_VARIABLES = {"lw": "log", "weeks": "linear", "months": "months"}


@dataclass(frozen=True)
class TimeBasis:
    """A basis in time since onset: ``log(1 + weeks)``, linear weeks, linear months, or a natural
    cubic spline in ``log(1 + weeks)``.

    Columns (and fixed-effect term names): ``lw`` (``time="log"``), ``weeks`` (``"linear"``),
    ``months`` (``"months"``, weeks x 7 / 30.4375), or ``lw, ns1, ..., ns{k-2}`` for a spline with
    ``k`` knots: the restricted cubic spline of Harrell (linear beyond the outer knots) in
    ``lw``. Its first column is ``lw`` itself, so the log model is nested in every spline model
    (likelihood-ratio tests between them are valid). The random slope is always on the first
    column, so it follows the basis.
    """

    kind: str
    knots_lw: tuple[float, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        if self.kind in ("log", "linear", "months"):
            return ({"log": "lw", "linear": "weeks", "months": "months"}[self.kind],)
        return ("lw", *(f"ns{j + 1}" for j in range(len(self.knots_lw) - 2)))

    @property
    def expression(self) -> str:
        names = self.names
        return names[0] if len(names) == 1 else "(" + " + ".join(names) + ")"

    @property
    def unit(self) -> str:
        """Unit in which curves are plotted: ``"months"`` for the months basis, else ``"weeks"``."""
        return "months" if self.kind == "months" else "weeks"

    def in_unit(self, weeks: np.ndarray) -> np.ndarray:
        """Weeks since onset expressed in :attr:`unit`."""
        w = np.asarray(weeks, dtype=float)
        return w * 7.0 / DAYS_PER_MONTH if self.kind == "months" else w

    @property
    def axis_label(self) -> str:
        return f"{self.unit} since onset"

    @property
    def knots_weeks(self) -> tuple[float, ...]:
        return tuple(float(np.expm1(k)) for k in self.knots_lw)

    def evaluate(self, weeks: np.ndarray) -> np.ndarray:
        """Basis columns at ``weeks`` (n x d)."""
        w = np.asarray(weeks, dtype=float)
        if self.kind in ("linear", "months"):
            return self.in_unit(w)[:, None]
        lw = np.log1p(w)
        if self.kind == "log":
            return lw[:, None]
        t = np.asarray(self.knots_lw)
        k = t.size
        scale = (t[-1] - t[0]) ** 2
        cols = [lw]
        cube = lambda u: np.maximum(u, 0.0) ** 3
        for j in range(k - 2):
            cols.append((cube(lw - t[j]) - cube(lw - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
                         + cube(lw - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])) / scale)
        return np.column_stack(cols)

    def describe(self) -> str:
        if self.kind == "log":
            return "log(1 + weeks)"
        if self.kind == "linear":
            return "linear in weeks since onset"
        if self.kind == "months":
            return "linear in months since onset"
        return f"natural cubic spline in log(1 + weeks), {len(self.names)} df, knots at weeks {[round(k, 2) for k in self.knots_weeks]}"


def make_basis(kind: str, weeks: np.ndarray, df: int, knots: Sequence[float] | None) -> TimeBasis:
    check_choice("time", kind, get_args(TimeBasisKind))
    if kind in ("log", "linear", "months"):
        return TimeBasis(kind)
    if knots is not None:
        kw = np.sort(np.asarray(list(knots), dtype=float))
        if kw.size < 3 or not np.all(np.isfinite(kw)) or np.any(kw < 0) or np.any(np.diff(kw) <= 0):
            raise ConfigError(f"knots must be 3 or more distinct finite weeks >= 0, got {knots!r}")
        return TimeBasis("spline", tuple(np.log1p(kw).tolist()))
    if df not in (2, 3, 4):
        raise ConfigError(f"df of the natural spline must be one of [2, 3, 4] (3 to 5 knots), got {df!r}; or give knots=")
    q = _KNOT_QUANTILES[df + 1]
    kl = np.quantile(np.log1p(weeks), q)
    if np.any(np.diff(kl) <= 0):
        raise FootdropError(f"time: too few distinct visit times for a natural spline with {df} df (knots at quantiles "
                            f"{list(q)} coincide); use time='log' or fewer df")
    return TimeBasis("spline", tuple(kl.tolist()))


_TIME_TOKEN = re.compile(r"\btime\b")


def _rhs(formula: str, outcome: str) -> str:
    rhs = formula_rhs(formula, outcome=f"the outcome argument, {outcome!r}", example="time * (cause + severity) + age_c")
    if "|" in rhs:
        raise ConfigError("formula takes the fixed effects only; choose the random effects with random= "
                          "('intercept', 'slope' or 'basis'), not lme4's '(1 | id)' syntax")
    return rhs


def _formula_variables(rhs: str, formula: str) -> set[str]:
    from formulaic import Formula

    try:
        return set(Formula(rhs).required_variables)
    except Exception as exc:  # formulaic parse errors
        raise ConfigError(f"formula {formula!r} could not be parsed: {exc}") from exc


def choose_time(formula: str, time: str | None, time_col: str, outcome: str) -> str:
    """The time basis of a fit: ``time`` if given, else the one the formula's time variable names.

    Time variables in the formula are ``time`` (the basis, whatever it is), ``lw``
    (``log(1 + weeks)``), ``weeks`` or the ``time_col`` column (linear weeks) and ``months``; one
    that disagrees with ``time=``, two different ones, or ``day`` are refused with a reason naming
    the term, so the random slope, the curves and :meth:`time_to_mcid` always use the time the
    formula models.
    """
    if time is not None:
        check_choice("time", time, get_args(TimeBasisKind))
    rhs = _rhs(formula, outcome)
    named = _formula_variables(rhs, formula)
    meaning = dict(_TIME_VARIABLES)
    if time_col not in meaning and time_col != "day":
        meaning[time_col] = "linear"
    if "day" in named:
        raise ConfigError(f"formula term 'day' is a time variable in days, which is not a time basis here; write 'weeks' "
                          f"(time='linear'), 'months', 'lw' (log(1 + weeks)) or 'time' (the basis chosen with time=) in {formula!r}")
    used = sorted(v for v in named if v in meaning)
    kinds = {meaning[v] for v in used}
    if len(kinds) > 1:
        raise ConfigError(f"formula {formula!r} names time variables of different bases ({used}); the model has one time "
                          "basis (random slope, curves and time to MCID use it): keep one, or write 'time' and choose time=")
    if time is None:
        return kinds.pop() if kinds else "log"
    for v in used:
        k = meaning[v]
        if k == time or (time == "spline" and k == "log" and "time" in named):
            continue
        if time == "spline" and k == "log":
            raise ConfigError(f"formula term {v!r} is only the first column of the spline (time='spline'), so the model "
                              f"would not use the spline; write 'time' for the whole basis in {formula!r}")
        raise ConfigError(f"formula term {v!r} is {_KIND_TEXT[k]}, but time={time!r} models {_KIND_TEXT[time]} (the random "
                          f"slope, curves and time to MCID follow time=); write 'time' for the chosen basis, choose "
                          f"time={k!r}, or leave time= out so the formula's {v!r} sets it")
    return time


_KIND_TEXT = {"log": "log(1 + weeks)", "linear": "weeks since onset", "months": "months since onset",
              "spline": "a natural spline in log(1 + weeks)"}


def expand_formula(formula: str, basis: TimeBasis, outcome: str, time_col: str = "weeks") -> str:
    """Right-hand side with the token ``time`` (and a ``time_col`` other than the basis column) as the basis columns."""
    rhs = _TIME_TOKEN.sub(basis.expression, _rhs(formula, outcome))
    if basis.kind == "linear" and time_col not in _TIME_VARIABLES and time_col != "day":
        rhs = re.sub(rf"\b{re.escape(time_col)}\b", basis.expression, rhs)
    return rhs


# ------------------------------------------------------------------------------------------------
# design matrices


@dataclass(frozen=True)
class Design:
    """A fitted fixed-effects design: formulaic spec, term names, levels of non-numeric variables."""

    formula: str
    rhs: str
    spec: Any
    terms: tuple[str, ...]
    variables: tuple[str, ...]  # data variables (time basis columns excluded)
    levels: dict[str, tuple[Any, ...]]
    basis: TimeBasis
    references: dict[str, dict[str, str]] = field(default_factory=dict)  # per factor: level, where it came from

    def matrix(self, frame: pd.DataFrame, weeks: np.ndarray, table: str = "profile") -> np.ndarray:
        missing = [v for v in self.variables if v not in frame.columns]
        if missing:
            raise FootdropError(f"{table} lacks column(s) {missing} needed by the formula {self.formula!r}")
        check_missing(frame, self.variables, table)
        for v, lev in self.levels.items():
            vals = pd.Series(frame[v]).astype(object)
            bad = sorted({str(x) for x in vals[~vals.isin(lev)]})
            if bad:
                raise FootdropError(f"{table}.{v}: {len(bad)} value(s) were not levels of the fitted data (values are not shown)")
        sub = frame[list(self.variables)].reset_index(drop=True).copy()
        for v, lev in self.levels.items():
            sub[v] = pd.Categorical(sub[v].astype(object), categories=list(lev))
        tb = self.basis.evaluate(np.asarray(weeks, dtype=float))
        for j, name in enumerate(self.basis.names):
            sub[name] = tb[:, j]
        return np.asarray(self.spec.get_model_matrix(sub, output="numpy"), dtype=float)


@dataclass(frozen=True)
class Prepared:
    """Rows used by a fit (sorted by patient, then time) with outcome, design and grouping.

    ``frame`` holds the id and time columns, the formula's variables, the columns asked for with
    ``keep``, ``__t`` (time) and ``__y`` (outcome): not every column of the input. The fixed-effects
    design :attr:`x` is held while fitting; a fitted result keeps it only as the recipe
    (:meth:`without_x`) and rebuilds it from ``frame`` when asked: on a registry it is the largest array.
    """

    frame: pd.DataFrame
    y: np.ndarray
    x_matrix: np.ndarray | None
    zmat: np.ndarray
    codes: np.ndarray
    ids: np.ndarray  # one per group, in code order
    design: Design
    z_names: tuple[str, ...]
    outcome: str
    id_col: str
    time_col: str
    n_missing_outcome: int
    dropped_levels: dict[str, list[str]]
    missing_info: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        """Fixed-effects design of the rows (n x p): the one fitted, or rebuilt equal to it from ``frame``."""
        if self.x_matrix is not None:
            return self.x_matrix
        return self.design.matrix(self.frame, self.frame["__t"].to_numpy(), "data")

    def without_x(self) -> Prepared:
        """The same rows without the stored design (:attr:`x` rebuilds it on demand)."""
        return replace(self, x_matrix=None)


def as_long(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    from footdrop_outcomes.cohort.cohort import Cohort

    if isinstance(data, Cohort):
        return trajectory_frame(data)
    raise FootdropError(f"expected a Cohort or a pandas DataFrame (one row per visit), got {type(data).__name__}")


def prepare(data: Any, outcome: str, formula: str, *, time: str | None, df: int, knots: Sequence[float] | None,
            random: str | None, id_col: str, time_col: str, reference: Mapping[str, Any] | None = None,
            missing: Missing = "drop", model: str = "fit_trajectory", keep: Sequence[str] = ()) -> Prepared:
    """Check the input, drop rows without the outcome, build the design; every error names the column.

    Rows with a missing covariate are left out with a MissingDataWarning counting rows and patients
    (``missing="drop"``, recorded in ``Prepared.missing_info``), or refused (``missing="raise"``).

    The reference (first) level of each factor: ``reference[variable]`` when given, else the
    first used category of a pandas categorical, else (plain text columns) the first in sorted
    order; ``design.references`` states which and why.

    ``Prepared.frame`` keeps the id, time and formula columns and ``keep`` (those present), not
    the whole table: the rows are sorted by patient (sorted ids) and time without copying the
    other columns (the same order as ``sort_values([id_col, time], kind="stable")``).
    """
    from formulaic import model_matrix

    frame = as_long(data)
    table = "data"
    for role, col in (("outcome", outcome), ("id_col", id_col), ("time_col", time_col)):
        if not isinstance(col, str) or col not in frame.columns:
            raise FootdropError(f"{table} has no column {col!r} given as {role} (columns: {list(frame.columns)[:20]})")
    if len(frame) == 0:
        raise FootdropError(f"{table} has no rows")
    yall = pd.to_numeric(frame[outcome], errors="coerce")
    bad_type = yall.isna() & frame[outcome].notna()
    if bad_type.any():
        raise FootdropError(f"{table}.{outcome}: the outcome must be numeric; rows {frame.index[bad_type.to_numpy()][:8].tolist()} are not")
    observed = yall.notna().to_numpy() & np.isfinite(yall.to_numpy(dtype=float, na_value=np.nan))
    if not observed.any():
        raise FootdropError(f"{table}.{outcome} is missing in every row ({len(frame)} rows): nothing to fit")
    t = pd.to_numeric(frame[time_col], errors="coerce").to_numpy(dtype=float)
    bad_t = ~np.isfinite(t) | (t < 0)
    if bad_t.any():
        raise FootdropError(f"{table}.{time_col}: times since onset must be finite and >= 0 (weeks); rows "
                            f"{frame.index[np.flatnonzero(bad_t)[:8]].tolist()} are not")
    check_missing(frame, [id_col], table)
    kind = choose_time(formula, time, time_col, outcome)
    basis = make_basis(kind, t[observed], df, knots)
    rhs = expand_formula(formula, basis, outcome, time_col)
    forced = set(_C_CALL.findall(rhs))  # patsy-style C(x): x is categorical, its terms named x[level] as elsewhere
    rhs = _C_CALL.sub(r"\1", rhs)
    variables_all = sorted(_formula_variables(rhs, formula))
    variables = tuple(v for v in variables_all if v not in basis.names)
    absent = [v for v in variables if v not in frame.columns]
    if absent:
        raise FootdropError(f"{table} has no column(s) {absent} used in the formula {formula!r} (columns: {list(frame.columns)[:20]})")
    complete, missing_info = drop_incomplete(frame, variables, missing=missing, model=model, table=table,
                                             group_col=id_col, stacklevel=5)
    if len(complete) < len(frame):
        keep = ~pd.isna(frame[list(variables)]).any(axis=1).to_numpy()
        frame, yall, t, observed = frame.loc[keep], yall.loc[keep], t[keep], observed[keep]
        if not observed.any():
            raise FootdropError(f"{table}.{outcome} is missing in every row with complete covariates: nothing to fit")
        basis = make_basis(kind, t[observed], df, knots)  # the time basis from the rows analysed
        rhs = _C_CALL.sub(r"\1", expand_formula(formula, basis, outcome, time_col))
    # levels: declared but absent are dropped (reported); present only where the outcome is missing is an error
    levels: dict[str, tuple[Any, ...]] = {}
    references: dict[str, dict[str, str]] = {}
    dropped: dict[str, list[str]] = {}
    obs_frame = frame.loc[observed]
    ref = dict(reference or {})
    unknown = [k for k in ref if k not in variables]
    if unknown:
        raise ConfigError(f"reference= names variable(s) {unknown} that are not in the formula {formula!r} "
                          f"(variables: {list(variables)})")
    for v in variables:
        s = frame[v]
        if isinstance(s.dtype, pd.CategoricalDtype):
            present = [c for c in s.cat.categories if (s == c).any()]
            absent = [str(c) for c in s.cat.categories if c not in present]
            if absent:
                dropped[v] = absent
            how = "first level of the categorical's order"
        elif v in forced or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            present = sorted(s.astype(object).unique(), key=str)
            how = "first in sorted order (a text column: make it categorical or give reference= to choose)"
        else:
            if v in ref:
                raise ConfigError(f"reference= gives a level for {v!r}, but {table}.{v} is numeric; make it categorical first")
            continue  # numbers, and yes/no columns as 0/1 numbers (term ``diabetes``), as in survival
        if v in ref:
            match = [c for c in present if c == ref[v] or str(c) == str(ref[v])]
            if not match:
                raise ConfigError(f"reference= level for {v!r} does not occur in {table}.{v} "
                                  "(its levels are not shown; see the column's categories)")
            present = [match[0]] + [c for c in present if c is not match[0]]
            how = "reference= argument"
        references[v] = {"level": str(present[0]), "from": how}
        seen = set(obs_frame[v].astype(object).unique())
        empty = [str(c) for c in present if c not in seen]
        if empty:
            n_rows = {c: int((s.astype(object) == c).sum()) for c in empty}
            raise FootdropError(
                f"{table}.{v}: level(s) {empty} have rows ({n_rows}) but no observed {outcome!r}, so their effects cannot be "
                f"estimated; drop those rows (e.g. data[data['{v}'] != '{empty[0]}']) or merge the level with another"
            )
        levels[v] = tuple(present)
    cols = list(dict.fromkeys([id_col, time_col, *variables, *(c for c in keep if c in frame.columns)]))
    work = frame.loc[observed, cols]
    work["__t"] = t[observed]
    work["__y"] = yall[observed].to_numpy(dtype=float)
    # sorted by patient then time: integer codes of the sorted ids, then a stable lexsort (no string sort of every row)
    id_codes, ids = pd.factorize(work[id_col], sort=True)
    order = np.lexsort((work["__t"].to_numpy(), id_codes))
    work = work.iloc[order]
    codes = id_codes[order]
    counts = np.bincount(codes)
    if counts.max() < 2:
        raise FootdropError(
            f"{table}: every patient ({id_col}) has one visit with an observed {outcome!r}, so between-patient and "
            "within-patient variation cannot be separated; a mixed model needs repeated visits (use an ordinary "
            "regression, or add follow-up visits)"
        )
    sub = work[list(variables)].reset_index(drop=True).copy()
    for v, lev in levels.items():
        sub[v] = pd.Categorical(sub[v].astype(object), categories=list(lev))
    tb = basis.evaluate(work["__t"].to_numpy())
    for j, name in enumerate(basis.names):
        sub[name] = tb[:, j]
    try:
        mm = model_matrix(rhs, sub, output="numpy")
    except Exception as exc:
        raise FootdropError(f"formula {formula!r} could not be evaluated on {table}: {exc}") from exc
    x = np.asarray(mm, dtype=float)
    terms = tuple(_term_name(c) for c in mm.model_spec.column_names)
    check_rank(x, terms, f"formula {formula!r}")
    design = Design(formula.strip(), rhs, mm.model_spec, terms, variables, levels, basis, references)
    if random is None:
        zmat, z_names = np.ones((len(work), 0)), ()
    else:
        check_choice("random", random, get_args(RandomEffects))
        zcols = {"intercept": 0, "slope": 1, "basis": len(basis.names)}[random]
        zmat = np.column_stack([np.ones(len(work)), tb[:, :zcols]])
        z_names = ("Intercept", *basis.names[:zcols])
        if zcols:
            # a slope needs patients with visits at different times
            tt = work["__t"].to_numpy()
            starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
            span = np.maximum.reduceat(tt, starts) - np.minimum.reduceat(tt, starts)
            if not np.any(span > 0):
                raise FootdropError(f"{table}.{time_col}: no patient has visits at two different times, so a random slope "
                                    "cannot be estimated; use random='intercept'")
    return Prepared(work.reset_index(drop=True), work["__y"].to_numpy(), x, zmat, codes, np.asarray(ids), design, z_names,
                    outcome, id_col, time_col, int((~observed).sum()), dropped, missing_info)


def profile_frame(profile: Any) -> pd.DataFrame:
    if isinstance(profile, dict):
        profile = pd.DataFrame({k: [v] for k, v in profile.items()})
    if isinstance(profile, pd.Series):
        profile = profile.to_frame().T.infer_objects()
    if not isinstance(profile, pd.DataFrame) or len(profile) == 0:
        raise FootdropError(f"profile must be a dict or a non-empty pandas DataFrame (one row per covariate profile), got {type(profile).__name__}")
    return profile.reset_index(drop=True)


def weeks_grid(weeks: Any, default_max: float, n: int = 60) -> np.ndarray:
    if weeks is None:
        return np.unique(np.r_[np.linspace(0.0, default_max, n), [2, 6, 12, 26, 52, 78][: int(np.sum(np.array([2, 6, 12, 26, 52, 78]) <= default_max))]])
    w = np.atleast_1d(np.asarray(weeks, dtype=float))
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"weeks must be one or more finite numbers >= 0, got {weeks!r}")
    return w


def log_safe(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def reference_column(terms: Sequence[str], stated: Mapping[str, Mapping[str, str]]) -> list[str]:
    """For each term, the reference level of the factor(s) it contrasts, e.g. ``"cause=stroke"`` (``""`` for numeric terms)."""
    return ["; ".join(f"{v}={stated[v]['level']}" for v in stated if f"{v}[" in t) for t in terms]
