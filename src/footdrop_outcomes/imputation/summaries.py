"""Rubin's rules for results that are tables, not models: the IPTW comparison and Table 1.

:func:`pool_estimates` pools any tidy table of scalar estimates with standard errors (one table
per imputation, rows matched by key columns) with the same rules as
:func:`~footdrop_outcomes.imputation.pool` (R ``mice::pool``, Barnard--Rubin df).
:func:`pooled_comparison` runs the propensity model and the crude and weighted comparison
(:mod:`footdrop_outcomes.adherence.weighting`) on each completed frame and pools the log hazard
ratios and mean differences. :func:`pooled_table_one` pools Table 1: the mean of a continuous
covariate and the percentage in each level of a categorical one, per group, each with its
within-imputation variance (``sd^2 / n``, ``p (1 - p) / n``), so the pooled standard errors and
the fraction of missing information say how much the imputation adds; standardised mean
differences are averaged over the imputations (they have no standard error to pool), with
their range.

The imputation layer pools analyses, so it imports the adherence layer inside these functions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import check_alpha
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, FootdropError, FootdropWarning
from footdrop_outcomes.imputation.mice import ImputationResult
from footdrop_outcomes.imputation.pooling import rubin_columns

__all__ = ["PooledComparison", "PooledTableOne", "pool_estimates", "pooled_comparison", "pooled_table_one"]

RUBIN_COLUMNS = ("estimate", "se", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi", "re", "statistic", "p", "lower", "upper")


def _check_in_model(imputed: ImputationResult | Sequence[pd.DataFrame], column: str, role: str) -> None:
    """Warn when the column an analysis compares groups by did not predict the imputed values.

    Imputations from a model without the grouping column carry no group difference of their own,
    so the pooled per-group summaries and comparisons are pulled towards each other.
    """
    if not isinstance(imputed, ImputationResult):
        return
    info = imputed.info
    if column not in info.get("predictors", []) and column not in info.get("columns", []):
        warnings.warn(f"{role} {column!r} was not a predictor of the imputation models: the pooled groups are pulled "
                      f"towards each other; impute with it among the predictors", FootdropWarning, stacklevel=3)


def _frames(imputed: ImputationResult | Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    frames = list(imputed.frames if isinstance(imputed, ImputationResult) else imputed)
    if len(frames) < 2 or not all(isinstance(f, pd.DataFrame) for f in frames):
        raise ConfigError("imputed must be an ImputationResult or a list of at least 2 completed DataFrames")
    return frames


def pool_estimates(
    tables: Sequence[pd.DataFrame],
    *,
    keys: Sequence[str],
    estimate: str = "estimate",
    se: str = "se",
    dfcom: float | pd.Series | Callable[[pd.DataFrame], Any] = math.inf,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Pool scalar estimates from m tables by Rubin's rules, row by row.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        One table per imputation with the same rows (matched on ``keys``).
    keys : sequence of str
        Columns that identify a row (e.g. ``["estimand", "analysis"]``).
    estimate, se : str
        Columns of the estimate and its standard error.
    dfcom : float, or callable
        Complete-data degrees of freedom: a number for every row, or ``table -> values`` (one
        per row of the first table). ``inf`` gives Rubin's large-sample df.
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        The key columns and ``estimate``, ``se``, ``ubar``, ``b``, ``t``, ``dfcom``, ``df``,
        ``riv``, ``lambda``, ``fmi``, ``re``, ``statistic``, ``p``, ``lower``, ``upper``, in the
        row order of the first table. A row whose estimate is missing in some imputation is
        refused (naming the row's keys).

    Examples
    --------
    >>> a = pd.DataFrame({"k": ["x"], "estimate": [1.0], "se": [0.1]})
    >>> b = pd.DataFrame({"k": ["x"], "estimate": [1.2], "se": [0.1]})
    >>> out = pool_estimates([a, b], keys=["k"])
    >>> round(float(out["estimate"].iloc[0]), 3), round(float(out["t"].iloc[0]), 3)
    (1.1, 0.04)
    """
    check_alpha(alpha)
    if isinstance(tables, pd.DataFrame) or len(tables) < 2:
        raise ConfigError("tables must be a list of at least 2 tables (one per imputed data set)")
    keys = list(keys)
    m = len(tables)
    first = tables[0]
    for col in [*keys, estimate, se]:
        for k, tab in enumerate(tables):
            if col not in tab.columns:
                raise FootdropError(f"table {k} has no column {col!r}")
    index = pd.MultiIndex.from_frame(first[keys].astype(str))
    if index.has_duplicates:
        raise FootdropError(f"the key columns {keys} do not identify the rows of the first table")
    q = np.empty((m, len(first)))
    u = np.empty((m, len(first)))
    for k, tab in enumerate(tables):
        idx = pd.MultiIndex.from_frame(tab[keys].astype(str))
        pos = idx.get_indexer(index) if not idx.has_duplicates else np.full(len(index), -1)
        if (pos < 0).any() or len(idx) != len(index):
            raise FootdropError(f"table {k} does not have the same rows (keys {keys}) as table 0: pool one analysis")
        q[k] = tab[estimate].to_numpy(dtype=float, na_value=np.nan)[pos]
        u[k] = tab[se].to_numpy(dtype=float, na_value=np.nan)[pos] ** 2
    bad = ~(np.isfinite(q).all(axis=0) & np.isfinite(u).all(axis=0))
    if bad.any():
        where = "; ".join(", ".join(map(str, index[i])) for i in np.flatnonzero(bad)[:5])
        raise FootdropError(f"rows ({where}) have a missing estimate or SE in some imputation; they cannot be pooled")
    dfc = np.asarray(dfcom(first) if callable(dfcom) else np.broadcast_to(np.asarray(dfcom, dtype=float), (len(first),)), dtype=float)
    dfc = np.maximum(dfc, 1.0)
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    out = first[keys].reset_index(drop=True).copy()
    values = rubin_columns(qbar, ubar, b, t, dfc, m, alpha)
    for col in RUBIN_COLUMNS:
        out[col] = values[col]
    return out


# ------------------------------------------------------------------------------------------------
# IPTW comparison


@dataclass(frozen=True, repr=False, kw_only=True)
class PooledComparison(AnalysisResult):
    """Crude and weighted comparisons pooled over imputations.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per ``estimand`` (``log_hr``, ``mean_difference``) and ``analysis`` (``crude``,
        ``weighted``), with the columns of :func:`pool_estimates` and ``ratio``,
        ``ratio_lower``, ``ratio_upper`` (exp of the estimate and CI, for log hazard ratios and
        log-outcome differences).
    info : dict
        ``method``, ``m``, ``treatment``, ``formula``, ``n``, ``dfcom`` rule, the imputation's
        ``info`` (as ``imputation``) and the first fit's propensity ``info`` (``propensity``).
    fits : tuple
        The m :class:`~footdrop_outcomes.adherence.WeightedComparison` results.
    """

    fits: tuple[Any, ...]

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Pooled estimates with their confidence intervals, crude and weighted, per estimand."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 * len(self.summary) + 1.2))
        s = self.summary.reset_index(drop=True)
        y = np.arange(len(s))
        ax.errorbar(s["estimate"], y, xerr=[s["estimate"] - s["lower"], s["upper"] - s["estimate"]], fmt="o", capsize=3, **kwargs)
        ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(y, [f"{e}, {a}" for e, a in zip(s["estimand"], s["analysis"])], fontsize="small")
        ax.set_xlabel(f"pooled estimate over {self.info['m']} imputations (95% CI)" if self.info.get("alpha") == 0.05
                      else f"pooled estimate over {self.info['m']} imputations")
        return ax


@limit_threads
def pooled_comparison(
    imputed: ImputationResult | Sequence[pd.DataFrame],
    treatment: str,
    formula: str,
    *,
    propensity_options: dict[str, Any] | None = None,
    comparison_options: dict[str, Any] | None = None,
    alpha: float = 0.05,
) -> PooledComparison:
    """IPTW comparison (propensity model, crude and weighted outcome comparison) pooled over imputations.

    Parameters
    ----------
    imputed : ImputationResult or sequence of pandas.DataFrame
        Completed frames, one row per patient (e.g. ``impute(survival_frame(cohort), ...)``).
    treatment, formula : str
        As :func:`footdrop_outcomes.adherence.fit_propensity`.
    propensity_options, comparison_options : dict, optional
        Passed to ``fit_propensity`` and ``weighted_comparison`` (``duration_col``,
        ``event_col``, ``outcome_col``, ``log_outcome``...).
    alpha : float
        1 - confidence level of the pooled intervals.

    Returns
    -------
    PooledComparison
        Complete-data df: events - 1 for a log hazard ratio (as for a one-term Cox model),
        rows - 2 for a difference in means.

    Warns
    -----
    FootdropWarning
        When ``imputed`` is an :class:`ImputationResult` whose models did not have
        ``treatment`` among their predictors (the pooled comparison is then biased towards
        no difference).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival import survival_frame
    >>> from footdrop_outcomes.imputation import impute
    >>> imp = impute(survival_frame(simulate_cohort(400, seed=2)), m=2, seed=1, columns=["bmi"], iterations=2)
    >>> res = pooled_comparison(imp, "supervised_physio", "severity + age + bmi")
    >>> res.summary[["estimand", "analysis"]].values.tolist()
    [['log_hr', 'crude'], ['log_hr', 'weighted']]
    """
    from footdrop_outcomes.adherence import fit_propensity, weighted_comparison

    frames = _frames(imputed)
    _check_in_model(imputed, treatment, "treatment")
    popts = dict(propensity_options or {})
    copts = dict(comparison_options or {})
    fits = []
    propensity_info: dict[str, Any] = {}
    for f in frames:
        ps = fit_propensity(f, treatment, formula, **popts)
        propensity_info = propensity_info or dict(ps.info)
        fits.append(weighted_comparison(ps, **copts))
    tables = [fit.summary for fit in fits]
    event_col = copts.get("event_col", "event")
    events = int(frames[0][event_col].astype(bool).sum()) if event_col in frames[0].columns else None

    def dfcom(tab: pd.DataFrame) -> np.ndarray:
        n = tab["n"].to_numpy(dtype=float) if "n" in tab.columns else np.full(len(tab), float(len(frames[0])))
        return np.where(tab["estimand"] == "log_hr", (events if events is not None else n) - 1.0, n - 2.0)

    s = pool_estimates(tables, keys=["estimand", "analysis"], dfcom=dfcom, alpha=alpha)
    log_scale = (s["estimand"] == "log_hr").to_numpy() | bool(copts.get("log_outcome", False))
    for col, src in (("ratio", "estimate"), ("ratio_lower", "lower"), ("ratio_upper", "upper")):
        s[col] = np.where(log_scale, np.exp(s[src].to_numpy(float)), np.nan)
    info = {"method": "IPTW comparison pooled by Rubin's rules (Barnard-Rubin df)", "m": len(frames), "treatment": treatment,
            "formula": formula, "n": len(frames[0]), "events": events, "alpha": alpha,
            "dfcom": "events - 1 (log_hr), rows - 2 (mean_difference)", "propensity": propensity_info}
    if isinstance(imputed, ImputationResult):
        info["imputation"] = dict(imputed.info)
    return PooledComparison(summary=s, info=info, fits=tuple(fits))


# ------------------------------------------------------------------------------------------------
# Table 1


@dataclass(frozen=True, repr=False, kw_only=True)
class PooledTableOne(AnalysisResult):
    """Table 1 pooled over imputations.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per ``variable``, ``level`` and ``group``: ``statistic`` (``mean`` or
        ``percent``), ``n`` (patients in the group), the columns of :func:`pool_estimates`
        (``estimate`` is the pooled mean or percentage; its t statistic is ``t_statistic``
        here) and ``n_missing`` (values missing in the group before imputation, when the
        incomplete frame is given).
    smd : pandas.DataFrame
        ``variable``, ``level``, ``smd`` (mean over imputations), ``smd_min``, ``smd_max``.
    table : pandas.DataFrame
        Display table: ``variable``, ``level``, one column per group (``mean (SE)`` or
        ``percent (SE)``), ``SMD``, and ``FMI`` (largest fraction of missing information of
        the row's cells).
    """

    smd: pd.DataFrame
    table: pd.DataFrame

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Absolute standardised mean differences (mean over imputations, with their range)."""
        import matplotlib.pyplot as plt

        s = self.smd.dropna(subset=["smd"]).reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.25 * len(s) + 1.5))
        y = np.arange(len(s))
        lo = np.minimum(np.abs(s["smd_min"]), np.abs(s["smd_max"]))
        hi = np.maximum(np.abs(s["smd_min"]), np.abs(s["smd_max"]))
        ax.hlines(y, lo, hi, color="grey", linewidth=1)
        ax.scatter(np.abs(s["smd"]), y, **kwargs)
        ax.axvline(0.1, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(y, [v if not lev else f"{v}: {lev}" for v, lev in zip(s["variable"], s["level"])], fontsize="small")
        ax.set_xlabel("absolute standardised mean difference (mean and range over imputations)")
        return ax


@limit_threads
def pooled_table_one(
    imputed: ImputationResult | Sequence[pd.DataFrame],
    by: str = "supervised_physio",
    covariates: Sequence[str] | None = None,
    *,
    incomplete: pd.DataFrame | None = None,
    digits: int = 1,
    alpha: float = 0.05,
) -> PooledTableOne:
    """Table 1 (:func:`footdrop_outcomes.adherence.table_one`) on each completed frame, pooled.

    Parameters
    ----------
    imputed : ImputationResult or sequence of pandas.DataFrame
        Completed frames, one row per patient; ``by`` must be complete (it is not imputed).
    by, covariates
        As ``table_one``.
    incomplete : pandas.DataFrame, optional
        The frame before imputation (same rows), to count the missing values per group.
    digits : int
        Decimals in :attr:`PooledTableOne.table`.
    alpha : float
        1 - confidence level.

    Returns
    -------
    PooledTableOne
        Complete-data df: patients in the group minus 1.

    Warns
    -----
    FootdropWarning
        When ``imputed`` is an :class:`ImputationResult` whose models did not have ``by``
        among their predictors (the groups' imputed values are then pulled towards each other).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival import survival_frame
    >>> from footdrop_outcomes.imputation import impute
    >>> frame = survival_frame(simulate_cohort(300, seed=2))
    >>> imp = impute(frame, m=2, seed=1, columns=["bmi"], iterations=2)
    >>> t1 = pooled_table_one(imp, covariates=["age", "bmi", "severity"], incomplete=frame)
    >>> int(t1.summary.query("variable == 'bmi'")["n_missing"].sum()) == int(frame["bmi"].isna().sum())
    True
    """
    from footdrop_outcomes.adherence import table_one

    frames = _frames(imputed)
    check_alpha(alpha)
    _check_in_model(imputed, by, "by")
    fits = [table_one(f, by=by, covariates=covariates, digits=digits) for f in frames]
    tables = []
    for fit in fits:
        s = fit.summary[fit.summary["variable"] != "n"]
        s = s[s["level"] != "missing"].copy()
        is_mean = s["mean"].notna().to_numpy()
        n = s["n"].to_numpy(dtype=float)
        p = s["percent"].to_numpy(dtype=float) / 100
        with np.errstate(divide="ignore", invalid="ignore"):
            se_mean = s["sd"].to_numpy(dtype=float) / np.sqrt(n)
            se_pct = 100 * np.sqrt(p * (1 - p) / n)
        s["measure"] = np.where(is_mean, "mean", "percent")
        s["estimate"] = np.where(is_mean, s["mean"].to_numpy(dtype=float), 100 * p)
        s["se"] = np.where(is_mean, se_mean, se_pct)
        tables.append(s[["variable", "level", "group", "measure", "n", "estimate", "se"]].reset_index(drop=True))
    group_n = {str(g): int((frames[0][by].astype(str) == str(g)).sum()) for g in tables[0]["group"].unique()}
    keys = ["variable", "level", "group", "measure"]  # "measure" (mean / percent) becomes "statistic" below
    # a level with 0% or 100% in every imputation has no sampling variance: shown, not pooled
    degenerate = np.all([((t["se"] == 0) | t["se"].isna()).to_numpy() for t in tables], axis=0)
    pooled = pool_estimates([t.loc[~degenerate] for t in tables], keys=keys,
                            dfcom=lambda t: t["n"].to_numpy(dtype=float) - 1.0, alpha=alpha) if (~degenerate).any() else None
    fixed = tables[0].loc[degenerate, keys].reset_index(drop=True)
    if len(fixed):
        fixed["estimate"] = np.mean([t.loc[degenerate, "estimate"].to_numpy(float) for t in tables], axis=0)
        fixed["se"] = 0.0
    if pooled is not None:
        pooled.index = np.flatnonzero(~degenerate)
    fixed.index = np.flatnonzero(degenerate)
    summary = pd.concat([x for x in (pooled, fixed) if x is not None and len(x)]).sort_index().reset_index(drop=True)
    # pool_estimates' t statistic would overwrite the documented mean/percent column of the same name
    summary = summary.rename(columns={"statistic": "t_statistic"}).rename(columns={"measure": "statistic"})
    summary.insert(4, "n", summary["group"].map(group_n).astype(int))
    if incomplete is not None:
        if len(incomplete) != len(frames[0]) or by not in incomplete.columns:
            raise ConfigError("incomplete must be the frame before imputation: same rows, with the by column")
        g = incomplete[by].astype(str).to_numpy()
        miss = {(v, grp): int(incomplete[v].isna().to_numpy()[g == grp].sum()) for v in summary["variable"].unique()
                if v in incomplete.columns for grp in group_n}
        summary["n_missing"] = [miss.get((v, grp), 0) for v, grp in zip(summary["variable"], summary["group"])]
    smd_all = pd.concat([f.smd.assign(_k=k) for k, f in enumerate(fits)], ignore_index=True)
    smd = (smd_all.groupby(["variable", "level"], sort=False)["smd"].agg(smd="mean", smd_min="min", smd_max="max").reset_index())
    table = _display(summary, smd, digits)
    info = {"method": "Table 1 pooled by Rubin's rules (means and percentages; SMD averaged)", "m": len(frames), "by": by,
            "n": len(frames[0]), "groups": group_n, "alpha": alpha}
    if isinstance(imputed, ImputationResult):
        info["imputation"] = dict(imputed.info)
    return PooledTableOne(summary=summary, info=info, smd=smd, table=table)


def _display(summary: pd.DataFrame, smd: pd.DataFrame, digits: int) -> pd.DataFrame:
    cell = [f"{e:.{digits}f} ({s:.{digits}f})" + ("%" if st == "percent" else "")
            for e, s, st in zip(summary["estimate"], summary["se"], summary["statistic"])]
    wide = summary.assign(cell=cell).pivot_table(index=["variable", "level"], columns="group", values="cell", aggfunc="first", sort=False)
    fmi = summary.groupby(["variable", "level"], sort=False)["fmi"].max() if "fmi" in summary.columns else None
    wide = wide.reset_index()
    wide.columns.name = None
    s = smd.set_index(["variable", "level"])["smd"]
    wide["SMD"] = [f"{s.get((v, lev), np.nan):.3f}" for v, lev in zip(wide["variable"], wide["level"])]
    if fmi is not None:
        wide["FMI"] = [f"{fmi.get((v, lev), np.nan):.2f}" for v, lev in zip(wide["variable"], wide["level"])]
    return wide
