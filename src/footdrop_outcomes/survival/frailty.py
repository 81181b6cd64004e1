"""Cox model with a shared gamma frailty per site (or any grouping): site variation in time to recovery.

:func:`fit_frailty_cox` fits ``h_ij(t) = h0(t) u_i exp(x_ij' b)`` with ``u_i ~ Gamma(mean 1,
variance theta)`` shared by the patients of site ``i``, as R's
``coxph(Surv(time, event) ~ x + frailty(site, distribution = "gamma", sparse = FALSE))``.

Strata or frailty?
------------------
* ``fit_cox(..., strata=["site"])``: each site has its own, arbitrary baseline hazard; the
  covariate effects are compared within sites. Nothing is assumed about how sites differ, and
  nothing is estimated about them: no site estimate, no between-site variance. Use it when the
  sites are a nuisance (adjusting for them is all you need), when there are few sites, or when
  site hazards may not be proportional.
* :func:`fit_frailty_cox`: sites share one baseline hazard shape and differ by a multiplicative
  factor drawn from a gamma distribution. You get the between-site variance ``theta`` (with a
  profile-likelihood CI and a test of ``theta = 0``) and each site's shrunken frailty estimate.
  Use it when the sites are a sample of sites and their variation is of interest (e.g. "how much
  do sites differ in recovery for the same case mix?"), with enough sites (10 or more) to
  estimate a variance.

How the fit is made (Therneau, Grambsch & Pankratz 2003, J Comput Graph Stat 12:156)
----------------------------------------------------------------------------------------
For a given ``theta`` (``nu = 1 / theta``), the coefficients ``b`` and the log frailties ``w_i``
maximise the penalised Efron partial likelihood ``PPL = PL(b, w) - nu sum_i (exp(w_i) - w_i)``
(Newton-Raphson with step halving on the full ``(p + q)`` system: the site indicators are
columns of the design, evaluated by the same one-pass kernel as :func:`fit_cox`). For the gamma
frailty this penalised solution is the maximum of the marginal likelihood in ``b`` given
``theta``, and the marginal (integrated) log-likelihood of ``theta`` is (R's ``I-likelihood``,
``frailty.gammacon``)::

    L(theta) = PPL + nu q + sum_i [ d_i - nu log(1 + d_i/nu) + log G(nu + d_i) - log G(nu) - d_i log(nu + d_i) ]

with ``d_i`` the recoveries at site ``i`` (``PPL + nu q = PL + nu sum_i (w_i - exp(w_i) + 1)``).
``theta`` maximises ``L`` (bounded Brent search on ``log theta``; R's ``method = "em"``
maximises the same function with its own search and a looser stopping rule). ``L(0)`` is the
maximised partial likelihood of the Cox model without frailty.

Standard errors, as R prints them: with ``I`` the (unpenalised) information of ``(b, w)`` and
``H = I + diag(0, nu exp(w))`` the penalised one, ``se`` is from ``H^-1`` (R ``se(coef)``, the
default ``cov``) and ``se2`` from ``H^-1 I H^-1`` (R ``se2``). These treat ``theta`` as known.
R uses a diagonal approximation of the frailty block (``sparse = TRUE``) by default when there are
more than 5 groups; here the full matrix is always used (R ``sparse = FALSE``), so R's default
printed SEs can differ in the second digit.

The site frailties (``frailties``): ``log_frailty`` ``w_i`` (shrunken towards 0: a site with few
recoveries is pulled more), its SE from ``H^-1`` (prediction error, as for a random effect),
``frailty = exp(w_i)`` with a Wald CI. Their chi-square (``w' V_ww^-1 w``) and effective degrees of
freedom (``trace(V_ww^-1 V2_ww)``) are R's ``Chisq`` and ``DF`` of the frailty term.

Profile-likelihood CI for ``theta``: ``{theta >= 0 : 2 (L(theta_hat) - L(theta)) <= chi2_1(1 - alpha)}``
(lower limit 0 when ``L(0)`` is inside). Likelihood-ratio test of ``theta = 0``:
``LR = 2 (L(theta_hat) - L(0))``, p-value ``0.5 P(chi2_1 > LR)`` (the null is on the boundary of the
parameter space: Self & Liang 1987).

Release control: the frailty table has one row per site, so :meth:`FrailtyCoxResult.released`
leaves out sites of ``threshold`` or fewer patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.survival import _zph
from footdrop_outcomes.survival._design import (
    _forest,
    _versions,
    formula_vars,
    reference_column,
)
from footdrop_outcomes.survival._input import (
    TimeUnit,
    as_frame,
    check_choice,
    check_columns,
)
from footdrop_outcomes.survival._missing import Missing, drop_incomplete
from footdrop_outcomes.survival.cox import CoxFitWarning, _columns, _design

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort
    from footdrop_outcomes.release import ReleasedTable, ReleasePolicy

__all__ = ["FrailtyCoxResult", "fit_frailty_cox"]

_THETA_MIN = 1e-8   # the search on log(theta) runs over [_THETA_MIN, _THETA_MAX]; an optimum at the lower end is theta = 0
_THETA_MAX = 1e3
_DEC_TOL = 1e-9     # inner Newton: stop when the Newton decrement sqrt(g' H^-1 g) is below this


# ------------------------------------------------------------------------------------------------
# the penalised fit for one theta, and the marginal likelihood


class _Model:
    """The penalised partial likelihood of ``(b, w)`` for any ``nu``, with warm starts between calls."""

    def __init__(self, x: np.ndarray, group: np.ndarray, q: int, stop: np.ndarray, event: np.ndarray) -> None:
        self.p, self.q = x.shape[1], q
        z = np.zeros((x.shape[0], q))
        z[np.arange(x.shape[0]), group] = 1.0
        self.full = _zph.partial_likelihood(np.column_stack([x, z]), stop, event)
        self.cox = _zph.partial_likelihood(x, stop, event)
        self.d = np.bincount(group, weights=event.astype(float), minlength=q)
        self.last = np.zeros(self.p + q)
        self._cox_fit: tuple[np.ndarray, float, np.ndarray] | None = None

    # -- theta = 0: the Cox model without frailty
    def cox_fit(self) -> tuple[np.ndarray, float, np.ndarray]:
        if self._cox_fit is None:
            b, ll, info = _newton(self.cox.evaluate, np.zeros(self.p), lambda v: (0.0, 0.0, 0.0))
            self._cox_fit = (b, ll, info)
        return self._cox_fit

    # -- theta > 0
    def penalised(self, nu: float, start: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray]:
        """``(b, w)``, the unpenalised log partial likelihood and information at the penalised maximum."""
        p = self.p

        def pen(v: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            w = v[p:]
            ew = np.exp(w)
            g = np.zeros_like(v)
            g[p:] = nu * (ew - 1.0)
            h = np.zeros_like(v)
            h[p:] = nu * ew
            return float(nu * np.sum(np.expm1(w) - w)), g, h

        v0 = self.last if start is None else start
        v, ll, info = _newton(self.full.evaluate, v0.copy(), pen)
        self.last = v
        return v, ll, info

    def marginal(self, theta: float) -> float:
        """R's I-likelihood at ``theta`` (module docstring); theta = 0 gives the Cox partial likelihood."""
        if theta <= 0:
            return self.cox_fit()[1]
        nu = 1.0 / theta
        v, ll, _ = self.penalised(nu)
        return ll + nu * float(np.sum(v[self.p:] - np.expm1(v[self.p:]))) + gamma_correction(self.d, nu)


def gamma_correction(d: np.ndarray, nu: float) -> float:
    """``sum_i [d_i - nu log(1 + d_i/nu) + log G(nu + d_i) - log G(nu) - d_i log(nu + d_i)]`` without cancellation.

    ``log G(nu + d) - log G(nu) - d log(nu + d) = sum_{k<d} log1p((k - d) / (nu + d))`` (d whole numbers,
    as R's ``frailty.gammacon``); the first two terms are ``d^2 / (2 nu) + O(nu^-2)`` for large ``nu``.
    """
    d = np.asarray(np.rint(d), dtype=np.int64)
    pos = d[d > 0]
    if pos.size == 0:
        return 0.0
    first = float(np.sum(pos - nu * np.log1p(pos / nu)))
    reps = np.repeat(pos, pos)
    k = np.arange(reps.size) - np.repeat(np.cumsum(pos) - pos, pos)
    second = float(np.sum(np.log1p((k - reps) / (nu + reps))))
    return first + second


def _newton(evaluate: Any, v: np.ndarray, pen: Any, max_steps: int = 200) -> tuple[np.ndarray, float, np.ndarray]:
    """Maximise ``PL(v) - pen(v)`` (Newton with step halving); returns ``v``, PL and its information at ``v``."""
    with np.errstate(all="ignore"):
        ll, u, info = evaluate(v)
        pv, pg, ph = pen(v)
        obj = ll - pv
        for _ in range(max_steps):
            g = u - pg
            h = info + np.diag(np.broadcast_to(ph, v.shape))
            try:
                step = linalg.cho_solve(linalg.cho_factor(h, check_finite=False), g, check_finite=False)
            except (linalg.LinAlgError, ValueError):
                step = linalg.lstsq(h, g)[0]
            dec2 = float(g @ step)
            if not np.isfinite(dec2) or dec2 <= _DEC_TOL**2:
                break
            t = 1.0
            while True:
                cand = v + t * step
                ll_c = evaluate(cand, order=0)
                obj_c = ll_c - pen(cand)[0]
                if np.isfinite(obj_c) and obj_c >= obj - 1e-12 * abs(obj):
                    break
                t /= 2
                if t < 1e-10:
                    break
            if t < 1e-10:
                break
            v = cand
            ll, u, info = evaluate(v)
            pv, pg, ph = pen(v)
            obj = ll - pv
    return v, float(ll), info


# ------------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, repr=False, kw_only=True)
class FrailtyCoxResult(AnalysisResult):
    """A Cox model with a shared gamma frailty (see the module docstring).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per term: ``term``, ``log_hr``, ``se`` (from ``H^-1``, R ``se(coef)``), ``se2`` (from
        ``H^-1 I H^-1``, R ``se2``), ``hr``, ``hr_lower``, ``hr_upper`` (Wald CI from ``se``), ``z``,
        ``p``, ``reference``.
    frailties : pandas.DataFrame
        One row per site, in sorted order of the site codes (R's level order), whatever the order
        of the data's rows: ``site``, ``n`` (patients), ``events``, ``log_frailty``, ``se``,
        ``frailty`` (``exp``), ``lower``, ``upper``.
    variance : pandas.DataFrame
        One row: ``theta`` (frailty variance), ``lower``, ``upper`` (profile-likelihood CI),
        ``lr_chisq``, ``p`` (LR test of theta = 0, boundary-corrected), ``chisq_frailty``,
        ``df_frailty`` (R's Chisq and DF of the frailty term).
    params : pandas.Series
    cov, cov2 : pandas.DataFrame
        ``H^-1`` and ``H^-1 I H^-1`` for the coefficients.
    theta : float
    log_likelihood : float
        The marginal (integrated) log-likelihood at ``theta`` (R's I-likelihood).
    info : dict
        ``method``, ``formula``, ``frailty`` (the column), ``n``, ``events``, ``n_groups``,
        ``theta_fixed``, ``log_likelihood_cox`` (theta = 0), ``partial_likelihood`` (unpenalised PL at the
        estimate), ``profile`` (theta and L(theta) evaluated), ``warnings``, ``versions``.
    alpha : float
    """

    params: pd.Series
    cov: pd.DataFrame
    cov2: pd.DataFrame
    frailties: pd.DataFrame
    variance: pd.DataFrame
    theta: float
    log_likelihood: float
    alpha: float

    def __repr__(self) -> str:
        i = self.info
        return (f"FrailtyCoxResult({i['formula']} + frailty({i['frailty']}), n={i['n']}, events={i['events']}, "
                f"groups={i['n_groups']}, theta={self.theta:.4g}, I-likelihood={self.log_likelihood:.3f})")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Site frailties (``exp(w_i)``) with their Wald CIs, sorted, on a log axis (caterpillar plot).

        Returns
        -------
        matplotlib Axes
        """
        f = self.frailties.sort_values("log_frailty")
        level = round(100 * (1 - self.alpha))
        return _forest(ax, [str(s) for s in f["site"]], f["frailty"].to_numpy(), f["lower"].to_numpy(),
                       f["upper"].to_numpy(), kwargs.get("xlabel", f"site frailty (relative recovery hazard, {level}% CI)"),
                       kwargs.get("title", f"Site frailties, variance {self.theta:.3g}"))

    def released(self, policy: ReleasePolicy | None = None) -> ReleasedTable:
        """The site frailty table under release control: sites of ``threshold`` or fewer patients are left out,
        and a site's recoveries and frailty are masked when it had 1 to ``threshold`` recoveries.

        Parameters
        ----------
        policy : ReleasePolicy, optional
            Default ``ReleasePolicy()``.

        Returns
        -------
        ReleasedTable
            Columns ``site``, ``patients``, ``recoveries`` (counts as text), ``frailty (CI)``; a site
            with 1 to ``threshold`` recoveries has its count and its frailty masked.
        """
        from footdrop_outcomes.release import ReleasePolicy, format_count, release_table

        policy = policy if policy is not None else ReleasePolicy()
        t = policy.threshold
        f = self.frailties[self.frailties["n"] > t]
        out = pd.DataFrame({
            "site": f["site"].astype(str).tolist(),
            "patients": [format_count(int(n), t) for n in f["n"]],
            "recoveries": [format_count(int(e), t) for e in f["events"]],
            "frailty (CI)": [f"{a:.2f} ({lo:.2f}-{hi:.2f})" for a, lo, hi in zip(f["frailty"], f["lower"], f["upper"], strict=True)],
        })
        support = pd.DataFrame({c: f["n"].to_numpy() for c in out.columns})
        ev = f["events"].to_numpy()
        # a site's estimate is close to a function of its recoveries over the expected: masked with a small count,
        # as the O/E of footdrop_outcomes.sites.comparison
        support["recoveries"] = support["frailty (CI)"] = np.where(ev == 0, f["n"].to_numpy(), ev)
        return release_table(out, policy, support=support, keep=["site"])


# ------------------------------------------------------------------------------------------------
# fitting


@limit_threads
def fit_frailty_cox(
    data: Cohort | pd.DataFrame,
    formula: str,
    *,
    frailty: str = "site",
    theta: float | None = None,
    duration_col: str = "time",
    event_col: str = "event",
    missing: Missing = "drop",
    alpha: float = 0.05,
    time_unit: TimeUnit = "weeks",
    reference: Mapping[str, Any] | None = None,
    profile_ci: bool = True,
) -> FrailtyCoxResult:
    """Fit a Cox model with a shared gamma frailty per site (R ``coxph(... + frailty(site))``).

    Use ``fit_cox(..., strata=["site"])`` instead when sites are only to be adjusted for (arbitrary
    site baseline hazards, no site estimate); use this when the between-site variance and shrunken
    site estimates are wanted (module docstring).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its right-censored view) or one row per patient.
    formula : str
        Right-hand side of the fixed part, e.g. ``"cause + severity + age"`` (no frailty term).
    frailty : str
        Column of the groups sharing a frailty (default ``"site"``).
    theta : float, optional
        Fix the frailty variance (R ``frailty(site, theta = )``); default: estimated by maximising the
        marginal likelihood (R ``method = "em"``).
    duration_col, event_col : str
    missing : {"drop", "raise"}
        Rows with a missing model variable (formula or ``frailty``): left out with a warning, or refused.
    alpha : float
        1 - level of the Wald CIs and of the profile-likelihood CI of ``theta``.
    time_unit : {"days", "weeks"}
    reference : dict, optional
        Reference level per factor (as :func:`~footdrop_outcomes.survival.fit_cox`).
    profile_ci : bool
        Compute the profile-likelihood CI of ``theta`` (default True; about 20-40 penalised fits).

    Returns
    -------
    FrailtyCoxResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> res = fit_frailty_cox(simulate_cohort(400, seed=1), "severity + age", frailty="site")
    >>> res.summary["term"].tolist()
    ['severity[moderate]', 'severity[severe]', 'age']
    >>> list(res.variance.columns[:3])
    ['theta', 'lower', 'upper']
    """
    check_choice("time_unit", time_unit, get_args(TimeUnit))
    _check_alpha(alpha)
    if theta is not None and not (np.isfinite(theta) and theta >= 0):
        raise ConfigError("theta must be a finite number >= 0 (the frailty variance), or None to estimate it")
    frame = as_frame(data, time_unit=time_unit)
    check_columns(frame, duration_col=duration_col, event_col=event_col, table="data")
    if frailty in formula_vars(formula, f"{duration_col!r} and {event_col!r}"):
        raise ConfigError(f"{frailty!r} is both in the formula and the frailty: leave it out of the formula")
    frame, dropped = drop_incomplete(frame, [*formula_vars(formula, f"{duration_col!r} and {event_col!r}"), frailty],
                                     missing=missing, model="fit_frailty_cox")
    _columns(frame, frailty, "frailty", "data")
    stop = pd.to_numeric(frame[duration_col]).to_numpy(dtype=float)
    event = frame[event_col].to_numpy().astype(bool)
    if not event.any():
        raise FootdropError(f"data.{event_col}: no recoveries (events), so a Cox model cannot be fitted")
    group, levels = pd.factorize(frame[frailty], sort=True)
    q = len(levels)
    if q < 2:
        raise FootdropError(f"data.{frailty}: a frailty needs at least 2 groups; there is {q}")
    design, x = _design(frame, formula, f"{duration_col!r} and {event_col!r}", "data", event, [], reference)
    terms = list(design.terms)
    p = len(terms)
    model = _Model(x, group, q, stop, event)
    texts: list[str] = []
    profile: dict[float, float] = {}

    def marginal(th: float) -> float:
        val = model.marginal(th)
        profile[float(th)] = val
        return val

    ll_cox = marginal(0.0)
    if theta is None:
        res = optimize.minimize_scalar(lambda s: -marginal(float(np.exp(s))), bounds=(np.log(_THETA_MIN), np.log(_THETA_MAX)),
                                       method="bounded", options={"xatol": 1e-7})
        th_hat = float(np.exp(res.x))
        l_hat = -float(res.fun)
        if th_hat > 0.5 * _THETA_MAX:
            msg = f"the frailty variance runs to the upper end of the search ({_THETA_MAX:g}): the groups barely share a hazard"
            texts.append(msg)
            warnings.warn(msg, CoxFitWarning, stacklevel=3)
        if l_hat <= ll_cox + 1e-9 or th_hat <= 10 * _THETA_MIN:
            th_hat, l_hat = 0.0, ll_cox
    else:
        th_hat = float(theta)
        l_hat = marginal(th_hat)

    # the fit at theta_hat
    if th_hat > 0:
        nu = 1.0 / th_hat
        v, pl, imat = model.penalised(nu)
        hmat = imat + np.diag(np.r_[np.zeros(p), nu * np.exp(v[p:])])
        hinv = linalg.inv(hmat)
        hinv = 0.5 * (hinv + hinv.T)
        var2 = hinv @ imat @ hinv
        var2 = 0.5 * (var2 + var2.T)
        beta, w = v[:p], v[p:]
        vw, v2w = hinv[p:, p:], var2[p:, p:]
        se_w = np.sqrt(np.diag(vw))
        chisq_f = float(w @ linalg.solve(vw, w, assume_a="pos"))
        df_f = float(np.trace(linalg.solve(vw, v2w, assume_a="pos")))
        cov, cov2 = hinv[:p, :p], var2[:p, :p]
    else:
        beta, pl, imat = model.cox_fit()
        cov = linalg.inv(imat)
        cov = 0.5 * (cov + cov.T)
        cov2 = cov
        w = np.zeros(q)
        se_w = np.zeros(q)
        chisq_f, df_f = 0.0, 0.0

    crit = float(stats.chi2.ppf(1 - alpha, 1)) / 2.0
    lower = upper = float("nan")
    if theta is None and profile_ci:
        lower, upper = _profile_ci(marginal, th_hat, l_hat, ll_cox, crit)
    lr = max(0.0, 2.0 * (l_hat - ll_cox))
    se, se2 = np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov2))
    zq = _zq(alpha)
    z = beta / se
    summary = pd.DataFrame({
        "term": terms, "log_hr": beta, "se": se, "se2": se2, "hr": np.exp(beta),
        "hr_lower": np.exp(beta - zq * se), "hr_upper": np.exp(beta + zq * se), "z": z, "p": _p_value(z),
        "reference": reference_column(terms, design.references),
    })
    n_by = np.bincount(group, minlength=q)
    frailties = pd.DataFrame({
        "site": list(levels), "n": n_by.astype(int), "events": model.d.astype(int), "log_frailty": w, "se": se_w,
        "frailty": np.exp(w), "lower": np.exp(w - zq * se_w), "upper": np.exp(w + zq * se_w),
    })
    variance = pd.DataFrame({
        "theta": [th_hat], "lower": [lower], "upper": [upper], "lr_chisq": [lr],
        "p": [0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0],
        "chisq_frailty": [chisq_f], "df_frailty": [df_f],
    })
    names = pd.Index(terms, name="term")
    info: dict[str, Any] = {
        "method": "Cox proportional hazards with a shared gamma frailty (penalised partial likelihood, Efron ties; "
                  "Therneau, Grambsch & Pankratz 2003)",
        "engine": "Newton-Raphson on the penalised Efron partial likelihood; theta by bounded Brent search of the "
                  "marginal likelihood (footdrop_outcomes)",
        "formula": design.formula, "frailty": frailty, "n": len(frame), "events": int(event.sum()),
        "n_groups": q, "theta_fixed": theta is not None, "log_likelihood_cox": ll_cox, "partial_likelihood": pl,
        "se": "se from H^-1 (R se(coef)); se2 from H^-1 I H^-1 (R se2); theta treated as known",
        "theta_ci": f"profile likelihood, {100 * (1 - alpha):g}%" if theta is None and profile_ci else None,
        "lr_test": "2 (L(theta_hat) - L(0)), p = 0.5 P(chi2_1 > LR) (boundary)",
        "profile": pd.Series(profile).sort_index(), **dropped, "warnings": texts, "versions": _versions(),
        "reference_levels": design.references,
    }
    return FrailtyCoxResult(
        summary=summary, info=info, params=pd.Series(beta, index=names, name="log_hr"),
        cov=pd.DataFrame(cov, index=names, columns=names), cov2=pd.DataFrame(cov2, index=names, columns=names),
        frailties=frailties, variance=variance, theta=th_hat, log_likelihood=float(l_hat), alpha=alpha,
    )


def _profile_ci(marginal: Any, th_hat: float, l_hat: float, ll_cox: float, crit: float) -> tuple[float, float]:
    """Profile-likelihood limits of theta: where L(theta) = L(theta_hat) - crit (lower 0 when L(0) is above that)."""
    target = l_hat - crit

    def f(s: float) -> float:
        return marginal(float(np.exp(s))) - target

    if ll_cox >= target:
        lower = 0.0
    else:
        lower = float(np.exp(optimize.brentq(f, np.log(_THETA_MIN), np.log(th_hat), xtol=1e-8)))
    s_lo = np.log(max(th_hat, 1e-3))
    s_hi = s_lo + np.log(2.0)
    while f(s_hi) > 0:
        s_lo, s_hi = s_hi, s_hi + np.log(2.0)
        if s_hi > np.log(_THETA_MAX):
            return lower, float("inf")
    upper = float(np.exp(optimize.brentq(f, s_lo, s_hi, xtol=1e-8)))
    return lower, upper
