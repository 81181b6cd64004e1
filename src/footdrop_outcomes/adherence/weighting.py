"""Propensity scores, inverse probability of treatment weights, balance and weighted comparisons.

Interventions are not randomised (``docs/simulation.md`` section 3: severity and cause drive who
gets supervised physiotherapy, an AFO, FES or surgery), so crude comparisons are confounded.
:func:`fit_propensity` models the probability of treatment from baseline covariates (logistic
regression, statsmodels), turns it into weights for the average treatment effect (ATE),

* unstabilised ``1 / e`` for the treated and ``1 / (1 - e)`` for the others;
* stabilised (default): multiplied by the marginal share of the patient's arm, so the weights
  average about 1 in each arm and the weighted sample has the original size;
* optionally truncated ("trimmed") at the ``trim`` and ``1 - trim`` quantiles (default: no
  truncation; truncation at 1%/99% left a bias of about -0.02 on the log HR of the AFO
  comparisons across seeds, ``benchmarks/study_adherence.py``),

or, with ``estimand="ATO"``, **overlap weights** (Li, Morgan & Zaslavsky 2018): ``1 - e`` for the
treated and ``e`` for the others. They target the average effect in the *overlap population*,
the patients weighted by ``e (1 - e)``: those who could plausibly have received either arm.
They are bounded (no extreme weights, no truncation), have the smallest asymptotic variance
among balancing weights, and with a logistic propensity model balance the means of every model
term exactly. Use them when positivity is doubtful (propensity scores near 0 or 1) and the
question is about patients for whom the choice is open; keep the ATE when the effect in the
whole population is wanted (the two agree when the effect is the same for everyone).

It reports balance: standardised mean differences (SMD) of every covariate before and after
weighting. SMD = (weighted mean treated - weighted mean untreated) / sqrt((s1^2 + s0^2) / 2),
with the *unweighted* group SDs (n - 1 denominators) in the denominator for both columns (as R cobalt's default for
the ATE), so that a change in SMD reflects the mean difference only; categorical covariates get
one row per level. |SMD| < 0.1 is the usual balance threshold.

:func:`weighted_comparison` then compares outcomes between the arms, crude and weighted side by
side: a Cox hazard ratio (own weighted Cox of the binary arm indicator, Breslow ties), a
difference in means (weighted means per arm) and weighted Kaplan-Meier curves. The standard
errors of the weighted estimates account for the estimation of the propensity score and of the
arm shares that stabilise the weights (stacked estimating equations, M-estimation sandwich:
Lunceford & Davidian 2004; Shu, Young, Toh & Wang 2021 for the weighted Cox model; see
``_sandwich.py``); the robust SEs that treat the weights as known are kept as
``se_fixed_weights`` (conservative for the ATE).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, rows_text
from footdrop_outcomes.adherence._sandwich import (
    logistic_influence,
    weighted_cox_binary,
    weighted_influence,
)
from footdrop_outcomes.errors import ConfigError, ConvergenceError, FootdropWarning
from footdrop_outcomes.survival._missing import (
    Missing,
    drop_incomplete,
    formula_variables,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

Estimand = Literal["ATE", "ATO"]

__all__ = [
    "PropensityResult",
    "WeightedComparison",
    "WeightingWarning",
    "balance_table",
    "fit_propensity",
    "weighted_comparison",
    "weighted_kaplan_meier",
]


class WeightingWarning(FootdropWarning):
    """Propensity scores near 0 or 1 (positivity), or covariates still unbalanced after weighting."""


def _frame(data: Cohort | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    from footdrop_outcomes.cohort.cohort import Cohort

    if isinstance(data, Cohort):
        from footdrop_outcomes.survival import survival_frame

        return survival_frame(data)
    raise AdherenceInputError(f"expected a Cohort or a pandas DataFrame, got {type(data).__name__}")


def _treatment(df: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in df.columns:
        raise AdherenceInputError(f"data has no treatment column {treatment!r} (columns: {list(df.columns)[:15]})")
    t = df[treatment]
    ok = t.isin([0, 1, True, False]) & t.notna()
    if not ok.all():
        bad = np.flatnonzero(~ok.to_numpy())
        raise AdherenceInputError(f"data.{treatment}: the treatment must be 0/1 or True/False (make an indicator, e.g. "
                                  f"afo != 'none'); {rows_text(df, bad)}")
    z = t.astype(bool).to_numpy()
    if z.all() or not z.any():
        raise AdherenceInputError(f"data.{treatment}: everyone is in one arm; nothing to compare")
    return z


def _levels(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Numeric matrix of covariates (categorical -> one indicator per level) and (covariate, level) labels."""
    cols, labels = {}, []
    for c in covariates:
        if c not in df.columns:
            raise AdherenceInputError(f"data has no covariate column {c!r}")
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s):
            cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else pd.unique(s.dropna())
            for lev in cats:
                if (s == lev).any():
                    cols[f"{c}={lev}"] = (s == lev).astype(float).where(s.notna())
                    labels.append((c, str(lev)))
        else:
            cols[c] = s.astype(float)
            labels.append((c, ""))
    return pd.DataFrame(cols), labels


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    ok = ~np.isnan(x)
    x, w = x[ok], w[ok]
    m = float(np.sum(w * x) / np.sum(w))
    return m, float(np.sum(w * (x - m) ** 2) / np.sum(w))


def balance_table(data: pd.DataFrame, treatment: str, covariates: Sequence[str], weights: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """Standardised mean differences of covariates between arms, before and (optionally) after weighting.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    treatment : str
        0/1 or boolean column.
    covariates : sequence of str
        Numeric or categorical columns (categorical: one row per level). Missing values are left
        out per covariate.
    weights : array-like, optional
        Weights aligned with ``data``.

    Returns
    -------
    pandas.DataFrame
        ``covariate``, ``level``, ``mean_treated``, ``mean_control``, ``smd_unweighted`` and, with
        weights, ``mean_treated_weighted``, ``mean_control_weighted``, ``smd_weighted``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 1, 0, 0], "age": [60, 70, 50, 60]})
    >>> float(balance_table(d, "t", ["age"])["smd_unweighted"][0].round(3))
    1.414
    """
    df = data.reset_index(drop=True)
    z = _treatment(df, treatment)
    x, labels = _levels(df, covariates)
    rows = []
    w = None if weights is None else np.asarray(weights, dtype=float)
    for j, (cov, lev) in enumerate(labels):
        v = x.iloc[:, j].to_numpy(dtype=float)
        m1, m0 = float(np.nanmean(v[z])), float(np.nanmean(v[~z]))
        v1, v0 = float(np.nanvar(v[z], ddof=1)), float(np.nanvar(v[~z], ddof=1))
        sd = np.sqrt((v1 + v0) / 2)
        row: dict[str, Any] = {"covariate": cov, "level": lev, "mean_treated": m1, "mean_control": m0,
                               "smd_unweighted": (m1 - m0) / sd if sd > 0 else 0.0}
        if w is not None:
            mw1, _ = _wmean_var(v[z], w[z])
            mw0, _ = _wmean_var(v[~z], w[~z])
            row.update({"mean_treated_weighted": mw1, "mean_control_weighted": mw0, "smd_weighted": (mw1 - mw0) / sd if sd > 0 else 0.0})
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False, kw_only=True)
class PropensityResult(AnalysisResult):
    """Propensity model, weights and balance.

    Attributes
    ----------
    summary : pandas.DataFrame
        Balance table (:func:`balance_table`, with weights).
    data : pandas.DataFrame
        The input rows with ``ps`` (propensity score) and ``weight`` (final weight) added.
    model : pandas.DataFrame
        Propensity model coefficients: ``term``, ``log_or``, ``se``, ``p``.
    influence : numpy.ndarray
        Influence functions (rows of :attr:`data` x parameters) of the propensity coefficients
        and, with stabilised weights, the treated share: what a weighted estimator needs to
        account for the estimation of its weights.
    weight_gradient : numpy.ndarray
        Derivative of each row's weight with respect to the same parameters (0 where truncated).
    info : dict
        ``n``, ``n_treated``, ``treatment``, ``formula``, ``stabilized``, ``trim`` and the
        truncation bounds, effective sample size per arm, ``max_abs_smd`` before and after.
    """

    data: pd.DataFrame
    model: pd.DataFrame
    influence: np.ndarray
    weight_gradient: np.ndarray

    @property
    def weights(self) -> pd.Series:
        """The final weights, aligned with :attr:`data`."""
        return self.data["weight"]

    def plot(self, ax: Any = None, threshold: float = 0.1, **kwargs: Any) -> Any:
        """Love plot: absolute SMD per covariate level, before and after weighting."""
        import matplotlib.pyplot as plt

        s = self.summary.assign(label=lambda d: np.where(d["level"] == "", d["covariate"], d["covariate"] + ": " + d["level"]))
        s = s.iloc[np.argsort(np.abs(s["smd_unweighted"].to_numpy()))]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.25 * len(s) + 1.5))
        y = np.arange(len(s))
        ax.scatter(np.abs(s["smd_unweighted"]), y, marker="o", facecolors="none", edgecolors="C3", label="unweighted")
        ax.scatter(np.abs(s["smd_weighted"]), y, marker="o", color="C0", label="weighted", **kwargs)
        ax.axvline(threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(y, s["label"], fontsize="small")
        ax.set_xlabel("absolute standardised mean difference")
        ax.legend(fontsize="small")
        return ax


def fit_propensity(
    data: Cohort | pd.DataFrame,
    treatment: str,
    formula: str,
    *,
    stabilized: bool = True,
    trim: float | None = None,
    balance_covariates: Sequence[str] | None = None,
    missing: Missing = "drop",
    estimand: Estimand = "ATE",
) -> PropensityResult:
    """Propensity scores (logistic regression) and inverse probability of treatment weights.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        One row per patient (a cohort gives its survival frame: baseline covariates plus the
        recovery outcome).
    treatment : str
        0/1 or boolean column (e.g. ``"supervised_physio"``).
    formula : str
        Right-hand side of the propensity model in the package's formula dialect (as
        :func:`footdrop_outcomes.survival.fit_cox`), e.g. ``"cause + severity + age + diabetes"``:
        categorical columns are detected from their type and their terms named
        ``severity[moderate]``. ``C(cause)`` is still accepted (same terms).
    stabilized : bool
        Multiply by the marginal probability of the patient's arm.
    trim : float or None
        Truncate weights at the ``trim`` and ``1 - trim`` quantiles; ``None`` (default) for no
        truncation. Truncation trades variance for residual confounding; across seeds it did
        not pay on the simulated cohorts (docs/adherence.md section 2).
    balance_covariates : sequence of str, optional
        Columns to check balance on; default the variables named in ``formula``.
    missing : {"drop", "raise"}
        Patients with a missing treatment or propensity-model variable: left out with a
        ``MissingDataWarning`` and counted in ``info`` (``"drop"``), or refused (``"raise"``).
    estimand : {"ATE", "ATO"}
        ``"ATE"``: inverse probability weights (the whole population). ``"ATO"``: overlap
        weights ``1 - e`` (treated) and ``e`` (controls), the overlap population (module
        notes); ``stabilized`` does not apply (the comparisons normalise the weights within
        arm) and ``trim`` is refused (overlap weights are bounded).

    Returns
    -------
    PropensityResult

    Warns
    -----
    WeightingWarning
        Propensity scores below 0.01 or above 0.99 (positivity problems; ATE only), or a covariate whose
        |SMD| after weighting stays above 0.1.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> ps = fit_propensity(simulate_cohort(1000, seed=4), "supervised_physio", "cause + severity")
    >>> bool(ps.summary["smd_weighted"].abs().max() < ps.summary["smd_unweighted"].abs().max())
    True
    """
    import statsmodels.api as sm

    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.errors import FootdropError

    if trim is not None and not 0 <= trim < 0.5:
        raise ConfigError(f"trim must be None or in [0, 0.5), got {trim!r}")
    if estimand not in ("ATE", "ATO"):
        raise ConfigError(f"estimand must be one of 'ATE', 'ATO', got {estimand!r}")
    if estimand == "ATO" and trim:
        raise ConfigError("trim does not apply to overlap weights (estimand='ATO'): they are bounded by 0 and 1")
    df = _frame(data)
    df, dropped = drop_incomplete(df, [treatment, *formula_variables(formula, f"the treatment argument, {treatment!r}")],
                                  missing=missing, model="fit_propensity")
    df = df.reset_index(drop=True)
    z = _treatment(df, treatment)
    for col in df.columns:  # unused levels would give all-zero design columns
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].cat.remove_unused_categories()
    try:
        _, x = formula_design(df, formula, what="propensity formula", outcome=f"the treatment argument, {treatment!r}")
    except ConfigError:
        raise
    except FootdropError as exc:
        raise ConfigError(f"propensity formula {formula!r} cannot be built from the data: {exc}") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels convergence chatter is checked below instead
        try:
            fit = sm.Logit(z.astype(float), x).fit(disp=0, maxiter=100, method="newton")
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(f"propensity model for {treatment!r}: singular design ({exc}); a covariate level is empty "
                                   f"or collinear; simplify {formula!r}") from exc
    if not fit.mle_retvals.get("converged", True):
        raise ConvergenceError(f"propensity model for {treatment!r} did not converge; simplify {formula!r} (perfect separation?)")
    ps = np.asarray(fit.predict(x), dtype=float)
    xm = x.to_numpy(dtype=float)
    extreme = int(np.sum((ps < 0.01) | (ps > 0.99)))
    if extreme and estimand == "ATE":  # overlap weights are the remedy for extreme scores, not affected by them
        warnings.warn(f"{extreme} propensity scores for {treatment!r} are below 0.01 or above 0.99: positivity is doubtful; "
                      "consider restricting the population", WeightingWarning, stacklevel=2)
    psi = logistic_influence(xm, z, ps)  # influence functions of the parameters the weights depend on
    if estimand == "ATO":  # overlap weights: d(1 - e)/dbeta = -e (1 - e) x, de/dbeta = e (1 - e) x
        w = np.where(z, 1 - ps, ps)
        dw = (np.where(z, -1.0, 1.0) * ps * (1 - ps))[:, None] * xm
        stabilized = False
    else:
        w = np.where(z, 1 / ps, 1 / (1 - ps))
        dw = (w * np.where(z, -(1 - ps), ps))[:, None] * xm  # the weights' derivatives
    if stabilized:
        p1 = z.mean()
        w = w * np.where(z, p1, 1 - p1)
        dw = np.column_stack([dw * np.where(z, p1, 1 - p1)[:, None], np.where(z, w / p1, -w / (1 - p1))])
        psi = np.column_stack([psi, (z - p1) / len(z)])
    bounds = (float(w.min()), float(w.max()))
    if trim:
        lo, hi = np.quantile(w, [trim, 1 - trim])
        clipped = (w < lo) | (w > hi)
        w = np.clip(w, lo, hi)
        dw[clipped] = 0.0
        bounds = (float(lo), float(hi))
    out = df.copy()
    out["ps"] = ps
    out["weight"] = w
    if balance_covariates is None:
        import re

        balance_covariates = [n for n in df.columns if n != treatment and re.search(rf"\b{re.escape(str(n))}\b", formula)]
    bal = balance_table(out, treatment, balance_covariates, w)
    after = float(bal["smd_weighted"].abs().max()) if len(bal) else 0.0
    if after > 0.1:
        worst = bal.iloc[int(np.argmax(bal["smd_weighted"].abs().to_numpy()))]
        warnings.warn(f"after weighting, {worst['covariate']} {worst['level']} still has |SMD| = {after:.3f} > 0.1; "
                      "revise the propensity model (interactions, splines) or the population", WeightingWarning, stacklevel=2)
    ess = {arm: float(w[m].sum() ** 2 / np.sum(w[m] ** 2)) for arm, m in (("treated", z), ("control", ~z))}
    model = pd.DataFrame({"term": fit.params.index, "log_or": fit.params.to_numpy(), "se": fit.bse.to_numpy(), "p": fit.pvalues.to_numpy()})
    method = ("inverse probability of treatment weighting (ATE)" if estimand == "ATE"
              else "overlap weighting (ATO: the population weighted by e (1 - e))")
    info = {"method": method, "estimand": estimand, "n": len(df), "n_treated": int(z.sum()),
            "treatment": treatment, "formula": formula, "stabilized": stabilized, "trim": trim, "weight_bounds": bounds,
            "effective_sample_size": ess, "extreme_ps": extreme, **dropped,
            "max_abs_smd_unweighted": float(bal["smd_unweighted"].abs().max()) if len(bal) else 0.0, "max_abs_smd_weighted": after}
    return PropensityResult(summary=bal, info=info, data=out, model=model, influence=psi, weight_gradient=dw)


def weighted_kaplan_meier(time: np.ndarray, event: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """Weighted Kaplan-Meier curve: ``time``, ``survival`` (share not yet recovered), ``at_risk`` (weighted).

    Examples
    --------
    >>> import numpy as np
    >>> weighted_kaplan_meier(np.array([1., 2, 3]), np.array([1, 0, 1]), np.ones(3))["survival"].round(3).tolist()
    [1.0, 0.667, 0.0]
    """
    t = np.asarray(time, float)
    e = np.asarray(event, bool)
    w = np.asarray(weight, float)
    ut = np.unique(t[e])
    order = np.argsort(t)
    ts, ws = t[order], w[order]
    at_risk = ws.sum() - np.r_[0.0, np.cumsum(ws)][np.searchsorted(ts, ut, side="left")]
    d = np.bincount(np.searchsorted(ut, t[e]), weights=w[e], minlength=len(ut))
    s = np.cumprod(1 - d / at_risk)
    return pd.DataFrame({"time": np.r_[0.0, ut], "survival": np.r_[1.0, s], "at_risk": np.r_[ws.sum(), at_risk]})


@dataclass(frozen=True, repr=False, kw_only=True)
class WeightedComparison(AnalysisResult):
    """Crude and weighted outcome comparisons between two arms.

    Attributes
    ----------
    summary : pandas.DataFrame
        ``estimand`` (``log_hr`` and/or ``mean_difference``), ``analysis`` (``crude`` or
        ``weighted``), ``estimate``, ``se`` (robust), ``lower``, ``upper``, ``ratio`` (exp of the
        estimate for ``log_hr`` and for a mean difference of a log outcome), ``n``.
    curves : pandas.DataFrame
        Crude and weighted Kaplan-Meier curves by arm (``analysis``, ``arm``, ``time``,
        ``survival``, ``at_risk``); empty without a survival outcome.
    """

    curves: pd.DataFrame

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Share not yet recovered by arm: weighted (solid) and crude (dashed) Kaplan-Meier curves."""
        import matplotlib.pyplot as plt

        if self.curves.empty:
            raise AdherenceInputError("no survival outcome was compared; nothing to plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for (analysis, arm), d in self.curves.groupby(["analysis", "arm"], sort=True):
            ax.step(d["time"], d["survival"], where="post", linestyle="-" if analysis == "weighted" else "--",
                    color="C0" if arm == "treated" else "C1", label=f"{arm} ({analysis})", **kwargs)
        ax.set_xlabel(f"time ({self.info.get('time_unit', 'weeks')})")
        ax.set_ylabel("not yet recovered")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize="small")
        return ax


def _nuisance(propensity: PropensityResult, rows: np.ndarray, weighted: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The propensity block of the stacked estimating equations for outcome rows ``rows`` (positions in its data)."""
    if not weighted:
        return []
    psi = propensity.influence
    return [(propensity.weight_gradient[rows], psi, np.arange(psi.shape[0]))]


def _cox(propensity: PropensityResult, df: pd.DataFrame, duration_col: str, event_col: str, weighted: bool) -> tuple[float, float, float]:
    """Log HR of the arm, its SE accounting for the estimated weights, and the fixed-weight robust SE."""
    w = df["weight"].to_numpy(float) if weighted else np.ones(len(df))
    rows = np.arange(len(df))
    b, info, r = weighted_cox_binary(df[duration_col].to_numpy(float), df[event_col].to_numpy(bool), df["_z"].to_numpy(float), w)
    total, fixed = weighted_influence(r, w, info, rows, len(df), _nuisance(propensity, rows, weighted))
    return b, float(np.sqrt(np.sum(total ** 2))), float(np.sqrt(np.sum(fixed ** 2)))


def _mean_difference(propensity: PropensityResult, y: np.ndarray, z: np.ndarray, rows: np.ndarray,
                     weighted: bool) -> tuple[float, float, float]:
    """Weighted mean in the treated minus in the controls, SE accounting for the estimated weights, fixed-weight SE."""
    w = propensity.data["weight"].to_numpy(float)[rows] if weighted else np.ones(rows.size)
    n = len(propensity.data)
    est, tot, fix = [], np.zeros(n), np.zeros(n)
    for sign, arm in ((1.0, z), (-1.0, ~z)):
        mu = float(np.sum(w[arm] * y[arm]) / np.sum(w[arm]))
        u = np.where(arm, y - mu, 0.0)  # unit-weight estimating function of the arm mean
        t_, f_ = weighted_influence(u, w, float(np.sum(w[arm])), rows, n, _nuisance(propensity, rows, weighted))
        est.append(sign * mu)
        tot += sign * t_
        fix += sign * f_
    return float(sum(est)), float(np.sqrt(np.sum(tot ** 2))), float(np.sqrt(np.sum(fix ** 2)))



def weighted_comparison(
    propensity: PropensityResult,
    *,
    duration_col: str | None = None,
    event_col: str = "event",
    outcome_col: str | None = None,
    log_outcome: bool = False,
    alpha: float = 0.05,
    time_unit: str = "weeks",
) -> WeightedComparison:
    """Compare outcomes between the arms of a propensity model, crude and weighted.

    Parameters
    ----------
    propensity : PropensityResult
        From :func:`fit_propensity`; its ``data`` holds the outcome columns.
    duration_col, event_col : str
        Right-censored survival outcome: Cox log hazard ratio treated vs control (weighted Cox,
        Breslow ties) and Kaplan-Meier curves. Default: ``"time"`` when no ``outcome_col`` is
        given, none when one is (a difference in means only); give both for both.
    outcome_col : str, optional
        Continuous outcome (e.g. a gait-speed change, or a log time) for a difference in means
        (weighted mean per arm). Rows with a missing outcome are left out.
    log_outcome : bool
        Take the log of ``outcome_col`` first (the difference is then a log ratio; ``ratio``
        gives e.g. a time ratio).
    alpha : float
        1 - confidence level.

    Returns
    -------
    WeightedComparison
        ``se`` accounts for the estimation of the propensity score and of the arm shares
        (stacked estimating equations; module notes); ``se_fixed_weights`` treats the weights
        as known (the usual robust sandwich, conservative for the ATE). Crude rows: both the
        same robust SE.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> ps = fit_propensity(simulate_cohort(800, seed=4), "supervised_physio", "C(cause) + C(severity)")
    >>> cmp = weighted_comparison(ps)
    >>> cmp.summary["analysis"].tolist()
    ['crude', 'weighted']
    """
    df = propensity.data.copy()
    treatment = propensity.info["treatment"]
    df["_z"] = df[treatment].astype(bool).to_numpy()
    z_ = norm.ppf(1 - alpha / 2)
    rows, curves = [], []
    if duration_col is None and outcome_col is None:
        duration_col = "time"
    if duration_col is not None:
        from footdrop_outcomes.survival._input import check_columns

        check_columns(df, duration_col=duration_col, event_col=event_col, table="propensity.data")
        for analysis, weighted in (("crude", False), ("weighted", True)):
            est, se, se_fixed = _cox(propensity, df, duration_col, event_col, weighted)
            rows.append({"estimand": "log_hr", "analysis": analysis, "estimate": est, "se": se, "se_fixed_weights": se_fixed,
                         "n": len(df)})
            for arm, m in (("treated", df["_z"].to_numpy()), ("control", ~df["_z"].to_numpy())):
                c = weighted_kaplan_meier(df[duration_col].to_numpy(float)[m], df[event_col].to_numpy(bool)[m],
                                          df["weight"].to_numpy(float)[m] if weighted else np.ones(m.sum()))
                curves.append(c.assign(analysis=analysis, arm=arm))
    if outcome_col is not None:
        if outcome_col not in df.columns:
            raise AdherenceInputError(f"propensity.data has no outcome column {outcome_col!r}")
        y = pd.to_numeric(df[outcome_col], errors="coerce").to_numpy(float)
        if log_outcome:
            bad = np.flatnonzero(~(y > 0))
            if bad.size and np.isfinite(y[bad]).any():
                raise AdherenceInputError(f"propensity.data.{outcome_col}: log_outcome needs values > 0; {rows_text(df, bad)}")
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log(y)
        ok = np.flatnonzero(np.isfinite(y))
        for analysis, weighted in (("crude", False), ("weighted", True)):
            est, se, se_fixed = _mean_difference(propensity, y[ok], df["_z"].to_numpy(bool)[ok], ok, weighted)
            rows.append({"estimand": "mean_difference", "analysis": analysis, "estimate": est, "se": se,
                         "se_fixed_weights": se_fixed, "n": int(ok.size)})
    if not rows:
        raise ConfigError("nothing to compare: give duration_col and/or outcome_col")
    s = pd.DataFrame(rows)
    s["lower"] = s["estimate"] - z_ * s["se"]
    s["upper"] = s["estimate"] + z_ * s["se"]
    s["ratio"] = np.where((s["estimand"] == "log_hr") | log_outcome, np.exp(s["estimate"]), np.nan)
    s = s[["estimand", "analysis", "estimate", "se", "lower", "upper", "ratio", "n", "se_fixed_weights"]]
    info = {"method": f"crude vs {'overlap' if propensity.info.get('estimand') == 'ATO' else 'IPT'}-weighted comparison",
            "estimand": propensity.info.get("estimand", "ATE"), "n": len(df), "treatment": treatment, "outcome": outcome_col,
            "duration_col": duration_col, "time_unit": time_unit,
            "se": "stacked estimating equations (propensity model and arm shares) with the outcome model: M-estimation "
                  "sandwich; se_fixed_weights: robust sandwich treating the weights as known"}

    return WeightedComparison(summary=s, info=info, curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame())
