"""Analyses of simulation studies: a registry of named estimators, one row of results each.

Every analysis takes one replicate's :class:`~footdrop_outcomes.studies.designs.ReplicateData`
and its options and returns the estimate, its model-based standard error, the confidence
interval at level ``1 - alpha``, the test statistic and the two-sided p-value of "no effect".
An analysis that has no estimate (a test only, such as the log-rank test) returns NaN there.

========================= ===============================================================================
``logrank``               log-rank test between the groups of ``group`` (default ``arm``); p only
``cox``                   Cox model ``formula`` on right-censored (visit-dated) times; log-HR of ``term``
``interval_aft``          interval-censored AFT model; log time ratio (coefficient) of ``term``
``mixed_slope``           linear mixed model of ``outcome`` (fast engine); coefficient of ``term``
``adherence_difference``  difference in mean share of sessions completed between groups (Welch)
``cox_time_varying``      Cox model with time-varying cumulative adherence (cohort design only)
========================= ===============================================================================

>>> available_analyses()
['adherence_difference', 'cox', 'cox_time_varying', 'interval_aft', 'logrank', 'mixed_slope']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.studies.designs import ReplicateData

__all__ = ["available_analyses", "register_analysis", "run_analysis", "RESULT_FIELDS"]

#: The fields every analysis returns (NaN where not applicable).
RESULT_FIELDS = ("estimate", "se", "lower", "upper", "statistic", "p")

_Analysis = Callable[..., dict[str, float]]
_ANALYSES: dict[str, _Analysis] = {}


def register_analysis(name: str) -> Callable[[_Analysis], _Analysis]:
    """Register ``fn(data, *, alpha, **options) -> dict`` under ``name``."""

    def deco(fn: _Analysis) -> _Analysis:
        _ANALYSES[name] = fn
        return fn

    return deco


def available_analyses() -> list[str]:
    """Names of the registered analyses."""
    return sorted(_ANALYSES)


def run_analysis(method: str, data: ReplicateData, *, alpha: float = 0.05, **options: Any) -> dict[str, float]:
    """Run one registered analysis; returns :data:`RESULT_FIELDS` (missing ones as NaN)."""
    if method not in _ANALYSES:
        raise ConfigError(f"analysis method must be one of {available_analyses()}; got {method!r}")
    out = _ANALYSES[method](data, alpha=alpha, **options)
    return {k: float(out.get(k, math.nan)) for k in RESULT_FIELDS}


def _wald(est: float, se: float, alpha: float) -> dict[str, float]:
    z = stats.norm.ppf(1 - alpha / 2)
    stat = est / se if se > 0 else math.nan
    return {"estimate": est, "se": se, "lower": est - z * se, "upper": est + z * se, "statistic": stat,
            "p": float(2 * stats.norm.sf(abs(stat))) if np.isfinite(stat) else math.nan}


def _row(summary: Any, term: str, est_col: str, what: str) -> tuple[float, float]:
    s = summary.set_index("term")
    if term not in s.index:
        raise ConfigError(f"{what}: no term {term!r} in the fit; terms are {list(s.index)}")
    return float(s.loc[term, est_col]), float(s.loc[term, "se"])


@register_analysis("logrank")
def _logrank(data: ReplicateData, *, alpha: float, group: str = "arm") -> dict[str, float]:
    from footdrop_outcomes.survival import logrank_test

    res = logrank_test(data.frame, group=group, pairwise=False)
    row = res.summary.iloc[0]
    return {"statistic": float(row["chisq"]), "p": float(row["p"])}


@register_analysis("cox")
def _cox(data: ReplicateData, *, alpha: float, formula: str, term: str, ties: str = "efron") -> dict[str, float]:
    from footdrop_outcomes.survival import fit_cox

    fit = fit_cox(data.frame, formula, ties=ties)  # type: ignore[arg-type]
    return _wald(*_row(fit.summary, term, "log_hr", "cox"), alpha)


@register_analysis("interval_aft")
def _aft(data: ReplicateData, *, alpha: float, formula: str, term: str, distribution: str = "weibull") -> dict[str, float]:
    from footdrop_outcomes.survival import fit_interval_aft

    fit = fit_interval_aft(data.frame, formula, distribution=distribution)  # type: ignore[arg-type]
    return _wald(*_row(fit.summary, term, "coef", "interval_aft"), alpha)


@register_analysis("mixed_slope")
def _mixed(data: ReplicateData, *, alpha: float, formula: str, term: str, outcome: str = "gait_speed",
           random: str = "slope", method: str = "reml") -> dict[str, float]:
    from footdrop_outcomes.trajectories import fit_trajectory

    fit = fit_trajectory(data.long, outcome, formula, random=random, method=method, engine="fast", progress=False)  # type: ignore[arg-type]
    return _wald(*_row(fit.summary, term, "estimate", "mixed_slope"), alpha)


@register_analysis("adherence_difference")
def _adherence(data: ReplicateData, *, alpha: float, group: str = "arm", value: str = "adherence",
               reference: str | None = None) -> dict[str, float]:
    f = data.frame
    levels = list(f[group].cat.categories) if hasattr(f[group], "cat") else sorted(f[group].unique())
    if len(levels) != 2:
        raise ConfigError(f"adherence_difference needs exactly two groups of {group!r}; got {levels}")
    ref = levels[0] if reference is None else reference
    other = [g for g in levels if g != ref][0]
    a = f.loc[f[group] == ref, value].to_numpy(float)
    b = f.loc[f[group] == other, value].to_numpy(float)
    if a.size < 2 or b.size < 2:
        raise FootdropError(f"adherence_difference: fewer than two patients in a group of {group!r}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    est, se = float(b.mean() - a.mean()), math.sqrt(va + vb)
    dfw = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if va + vb > 0 else math.inf
    q = stats.t.ppf(1 - alpha / 2, dfw)
    t = est / se if se > 0 else math.nan
    return {"estimate": est, "se": se, "lower": est - q * se, "upper": est + q * se, "statistic": t,
            "p": float(2 * stats.t.sf(abs(t), dfw)) if np.isfinite(t) else math.nan}


@register_analysis("cox_time_varying")
def _cox_tv(data: ReplicateData, *, alpha: float, formula: str, term: str) -> dict[str, float]:
    from footdrop_outcomes.survival import counting_process, fit_cox_time_varying

    if data.cohort is None:
        raise ConfigError("cox_time_varying needs the cohort design (weekly adherence records)")
    cp = counting_process(data.cohort)
    keep = set(data.frame["patient_id"].astype(str))
    cp = cp[cp["patient_id"].astype(str).isin(keep)].copy()
    if "cause" in cp:
        cp["cause"] = cp["cause"].cat.remove_unused_categories()
    fit = fit_cox_time_varying(cp, formula)
    return _wald(*_row(fit.summary, term, "log_hr", "cox_time_varying"), alpha)
