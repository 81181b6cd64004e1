"""Parametric models of interval-censored recovery: AFT regression and a mixture cure model.

Recovery is seen only at visits, so each patient's recovery time is known to lie in an
interval ``(lower, upper]``: ``lower = 0`` means recovered by the first visit (left-censored),
``upper = inf`` (or missing) means not seen recovered (right-censored at ``lower``).

* :func:`fit_interval_aft` fits an accelerated failure time (AFT) model
  ``log T = x'b + scale * W`` with ``W`` standard extreme-value (Weibull), normal (log-normal)
  or logistic (log-logistic), the parameterisation of R's ``survreg``; the numbers agree with
  ``survreg(Surv(lower, upper, type = "interval2") ~ ..., dist = ...)`` (tested against stored R
  output). :func:`compare_distributions` tabulates AIC over the three distributions.
* :func:`fit_cure_model` fits a parametric mixture cure model: a logistic *incidence* model for
  P(ever recovering) and an AFT *latency* model for the recovery time of those who recover.

Both are fitted by maximum likelihood with a damped Newton-Raphson on the analytic gradient and
Hessian (parameters ``b`` and ``log(scale)``; the AFT starts from least squares on log interval
midpoints), and standard errors come from the inverse observed information, as in ``survreg``.

Likelihood contributions (``S`` the survival function of recoverers, ``pi`` = P(recover)):

============================  ==========================  ===================================
row                           AFT                          cure model
============================  ==========================  ===================================
interval ``(L, R]``           ``S(L) - S(R)``              ``pi * (S(L) - S(R))``
left ``(0, R]``               ``1 - S(R)``                 ``pi * (1 - S(R))``
right ``(L, inf)``            ``S(L)``                     ``1 - pi + pi * S(L)``
============================  ==========================  ===================================

Rows with ``lower = 0`` and no upper bound (no visit) carry no information and are skipped
(counted in ``info["n_uninformative"]``).

Design matrices come from a formula (right-hand side only, e.g. ``"cause + severity + age"``)
via ``formulaic``: treatment coding with the first category as reference (the order of a
pandas categorical, else sorted), unused categories dropped. Terms are named ``Intercept``,
``age``, ``cause[stroke]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import expit, log_ndtr, ndtri

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.errors import ConfigError, ConvergenceError, FootdropError
from footdrop_outcomes.survival._input import TimeUnit, as_frame, check_choice
from footdrop_outcomes.survival._design import (
    _build_design,
    _check_divergence,
    _check_events_by_indicator,
    _counts,
    _covariance,
    _Design,
    _forest,
    _logistic_start,
    _outcome,
    _spans,
    _versions,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["Distribution", "AFTResult", "CureResult", "fit_interval_aft", "compare_distributions", "fit_cure_model"]

Distribution = Literal["weibull", "lognormal", "loglogistic"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SCALE_TERM = "log(scale)"


# ------------------------------------------------------------------------------------------------
# error distributions of W (standardised log time)


class _Dist:
    """log f, log S, log F, f'/f and quantiles of the standard error distribution W."""

    def __init__(self, name: str):
        self.name = name

    def logf(self, z: np.ndarray) -> np.ndarray:
        if self.name == "weibull":
            return z - np.exp(z)
        if self.name == "lognormal":
            return -0.5 * z * z - _LOG_SQRT_2PI
        return -np.logaddexp(0.0, z) - np.logaddexp(0.0, -z)

    def logS(self, z: np.ndarray) -> np.ndarray:  # noqa: N802 - S for survival
        if self.name == "weibull":
            return -np.exp(z)
        if self.name == "lognormal":
            return log_ndtr(-z)
        return -np.logaddexp(0.0, z)

    def logF(self, z: np.ndarray) -> np.ndarray:  # noqa: N802 - F for distribution function
        if self.name == "weibull":
            return np.log(-np.expm1(-np.exp(z)))
        if self.name == "lognormal":
            return log_ndtr(z)
        return -np.logaddexp(0.0, -z)

    def psi(self, z: np.ndarray) -> np.ndarray:
        """f'(z) / f(z)."""
        if self.name == "weibull":
            return 1.0 - np.exp(z)
        if self.name == "lognormal":
            return -z
        return -np.tanh(0.5 * z)

    def quantile(self, p: float) -> float:
        if self.name == "weibull":
            return math.log(-math.log1p(-p))
        if self.name == "lognormal":
            return float(ndtri(p))
        return math.log(p / (1 - p))

    @property
    def sd(self) -> float:
        return {"weibull": math.pi / math.sqrt(6), "lognormal": 1.0, "loglogistic": math.pi / math.sqrt(3)}[self.name]

    @property
    def mean(self) -> float:
        return -0.5772156649015329 if self.name == "weibull" else 0.0


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate at both ends."""
    return np.where(x > -0.6931471805599453, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


@dataclass
class _Outcome:
    """Log bounds of the informative rows, sorted by kind: interval, then left, then right.

    ``perm`` maps the sorted rows to the caller's rows (apply it to design matrices).
    """

    yl_int: np.ndarray
    yr_int: np.ndarray
    yr_left: np.ndarray
    yl_right: np.ndarray
    perm: np.ndarray

    @property
    def n_int(self) -> int:
        return self.yl_int.size

    @property
    def n_ev(self) -> int:
        """Rows recovered during follow-up (interval and left)."""
        return self.yl_int.size + self.yr_left.size

    @property
    def n(self) -> int:
        return self.n_ev + self.yl_right.size

    def events_only(self) -> _Outcome:
        return _Outcome(self.yl_int, self.yr_int, self.yr_left, self.yl_right[:0], self.perm[: self.n_ev])


def _parts(d: _Dist, z: np.ndarray, need_s: bool, need_f: bool) -> tuple[Any, Any, Any, Any]:
    """log f, log S, log F and f'/f at z, sharing the work (exp(z) once for the Weibull)."""
    if d.name == "weibull":
        ez = np.exp(z)
        return z - ez, (-ez if need_s else None), (np.log(-np.expm1(-ez)) if need_f else None), 1.0 - ez
    return d.logf(z), (d.logS(z) if need_s else None), (d.logF(z) if need_f else None), d.psi(z)


def _derivs(z_l: Any, g_l: Any, p_l: Any, z_r: Any, g_r: Any, p_r: Any, sigma: float) -> tuple[np.ndarray, ...]:
    """Derivatives of log[F(z_R) - F(z_L)] in (eta, log sigma); g = f / A, p = f'/f (0 for an absent bound)."""
    l_e = (g_l - g_r) / sigma
    l_s = z_l * g_l - z_r * g_r
    l_ee = (p_r * g_r - p_l * g_l) / sigma**2 - l_e * l_e
    l_es = (z_r * p_r * g_r + g_r - z_l * p_l * g_l - g_l) / sigma - l_e * l_s
    l_ss = p_r * z_r**2 * g_r + z_r * g_r - p_l * z_l**2 * g_l - z_l * g_l - l_s * l_s
    return l_e, l_s, l_ee, l_es, l_ss


def _interval_terms(d: _Dist, o: _Outcome, eta: np.ndarray, sigma: float, order: int) -> tuple[np.ndarray, ...]:
    """Per-row log P(L < T <= R) and (order 2) its derivatives in (eta, log sigma).

    Rows as in ``o`` (interval, left, right). Returns ``logA`` (order 0) or
    ``logA, l_e, l_s, l_ee, l_es, l_ss`` (order 2).
    """
    ni, ne = o.n_int, o.n_ev
    # interval rows: the difference of distribution functions on the side where it does not cancel
    zl = (o.yl_int - eta[:ni]) / sigma
    zr = (o.yr_int - eta[:ni]) / sigma
    fl, sl, Fl, pl = _parts(d, zl, True, True)
    fr, sr, Fr, pr = _parts(d, zr, True, True)
    log_a_i = np.where(zr <= 0, Fr + _log1mexp(Fl - Fr), sl + _log1mexp(sr - sl))
    # left rows: F(z_R); right rows: S(z_L)
    zr2 = (o.yr_left - eta[ni:ne]) / sigma
    fr2, _, Fr2, pr2 = _parts(d, zr2, False, True)
    zl3 = (o.yl_right - eta[ne:]) / sigma
    fl3, sl3, _, pl3 = _parts(d, zl3, True, False)
    log_a = np.concatenate([log_a_i, Fr2, sl3])
    if order == 0:
        return (log_a,)
    gl, gr = np.exp(fl - log_a_i), np.exp(fr - log_a_i)
    a = _derivs(zl, gl, pl, zr, gr, pr, sigma)
    b = _derivs(0.0, 0.0, 0.0, zr2, np.exp(fr2 - Fr2), pr2, sigma)
    c = _derivs(zl3, np.exp(fl3 - sl3), pl3, 0.0, 0.0, 0.0, sigma)
    return (log_a, *(np.concatenate([u, v, w]) for u, v, w in zip(a, b, c)))


# ------------------------------------------------------------------------------------------------
# maximisation


class _NotConverged(Exception):
    pass


def _ascent_step(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Newton step -H^-1 g; Marquardt-damped when -H is not positive definite."""
    neg = -h
    try:
        c = linalg.cho_factor(neg, check_finite=False)
        return linalg.cho_solve(c, g, check_finite=False)
    except linalg.LinAlgError:
        pass
    d = np.abs(np.diag(neg)) + 1e-12
    lam = 1e-4
    while lam < 1e12:
        try:
            c = linalg.cho_factor(neg + lam * np.diag(d), check_finite=False)
            return linalg.cho_solve(c, g, check_finite=False)
        except linalg.LinAlgError:
            lam *= 10
    return g / np.maximum(d, 1.0)


def _maximise(fun: Callable[[np.ndarray, int], Any], theta0: np.ndarray, *, max_iter: int = 100,
              tol: float = 1e-11) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, int]:
    """Damped Newton-Raphson with step halving. ``fun(theta, 0)`` gives the log-likelihood,
    ``fun(theta, 2)`` the log-likelihood, gradient and Hessian."""
    theta = np.asarray(theta0, dtype=float).copy()
    ll, g, h = fun(theta, 2)
    if not np.isfinite(ll) or not np.all(np.isfinite(g)):
        raise _NotConverged("the log-likelihood is not finite at the starting values")
    for it in range(1, max_iter + 1):
        step = _ascent_step(g, h)
        dec = float(g @ step)
        flat = dec < 1e-9  # at the optimum up to round-off: accept a step that does not lose more than that

        def ok(ll_new: float, t: float) -> bool:
            return bool(np.isfinite(ll_new)) and (ll_new >= ll + 1e-4 * t * dec or (flat and ll_new >= ll - 1e-9 * (1 + abs(ll))))

        new = theta + step
        full = fun(new, 2)
        t = 1.0
        if ok(full[0], 1.0):
            ll, g, h = full
        else:
            for _ in range(60):
                t *= 0.5
                new = theta + t * step
                if ok(fun(new, 0), t):
                    break
            else:
                raise _NotConverged(f"no step increased the log-likelihood at iteration {it}")
            ll, g, h = fun(new, 2)
        theta = new
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)):
            raise _NotConverged(f"non-finite derivatives at iteration {it}")
        if dec < tol and t == 1.0:
            return theta, float(ll), g, h, it
    raise _NotConverged(f"no convergence in {max_iter} iterations")


# ------------------------------------------------------------------------------------------------
# input: outcome and design


def _log_bounds(lo: np.ndarray, up: np.ndarray) -> _Outcome:
    """Sorted log bounds of the informative rows (rows with lower = 0 and no upper are left out)."""
    has_l, has_r = lo > 0, np.isfinite(up)
    i_int = np.flatnonzero(has_l & has_r)
    i_left = np.flatnonzero(~has_l & has_r)
    i_right = np.flatnonzero(has_l & ~has_r)
    return _Outcome(np.log(lo[i_int]), np.log(up[i_int]), np.log(up[i_left]), np.log(lo[i_right]),
                    np.concatenate([i_int, i_left, i_right]))


def _repr(name: str, info: dict[str, Any], what: str) -> str:
    return (f"{name}({what}, n={info['n']}, recovered={info['events']} [interval={info['n_interval']}, left={info['n_left']}], "
            f"right-censored={info['n_right']}, log-likelihood={info['log_likelihood']:.3f})")


def _check_times(times: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ConfigError(f"times must be one or more finite numbers >= 0, got {times!r}")
    return t


def _profile_frame(profile: pd.DataFrame) -> pd.DataFrame:
    if isinstance(profile, pd.Series):
        profile = profile.to_frame().T.infer_objects()
    if not isinstance(profile, pd.DataFrame) or len(profile) == 0:
        raise FootdropError(f"profile must be a non-empty pandas DataFrame (one row per covariate profile), got {type(profile).__name__}")
    return profile


# ------------------------------------------------------------------------------------------------
# shared prediction helpers (AFT latency)


def _median_table(profile: pd.DataFrame, x: np.ndarray, b: np.ndarray, log_sigma: float, cov_bs: np.ndarray,
                  d: _Dist, alpha: float) -> pd.DataFrame:
    """Median of T = exp(x'b + sigma * w_0.5), delta-method CI on log T."""
    sigma = math.exp(log_sigma)
    w = d.quantile(0.5)
    log_m = x @ b + sigma * w
    jac = np.column_stack([x, np.full(x.shape[0], sigma * w)])
    se = np.sqrt(np.einsum("ij,jk,ik->i", jac, cov_bs, jac))
    zq = _zq(alpha)
    out = profile.reset_index(drop=True).copy()
    out["median"] = np.exp(log_m)
    out["median_lower"] = np.exp(log_m - zq * se)
    out["median_upper"] = np.exp(log_m + zq * se)
    return out


def _survival_table(profile: pd.DataFrame, x: np.ndarray, b: np.ndarray, log_sigma: float, cov_bs: np.ndarray,
                    d: _Dist, times: np.ndarray, alpha: float) -> pd.DataFrame:
    """S(t | x) = S_W((log t - x'b) / sigma); CI by the delta method on that z scale."""
    sigma = math.exp(log_sigma)
    eta = x @ b
    zq = _zq(alpha)
    rows = []
    for t in times:
        if t == 0:
            s = lo = hi = np.ones(x.shape[0])
        else:
            z = (math.log(t) - eta) / sigma
            jac = np.column_stack([-x / sigma, -z])
            se = np.sqrt(np.einsum("ij,jk,ik->i", jac, cov_bs, jac))
            with np.errstate(over="ignore"):  # far tails: S underflows to 0, never NaN
                s = np.exp(d.logS(z))
                lo = np.exp(d.logS(z + zq * se))
                hi = np.exp(d.logS(z - zq * se))
        part = profile.reset_index(drop=True).copy()
        part.insert(0, "profile", np.arange(x.shape[0]))
        part["time"] = t
        part["survival"], part["survival_lower"], part["survival_upper"] = s, lo, hi
        rows.append(part)
    return pd.concat(rows, ignore_index=True).sort_values(["profile", "time"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# AFT


@dataclass(frozen=True, repr=False, kw_only=True)
class AFTResult(AnalysisResult):
    """An interval-censored AFT fit: ``log T = x'b + scale * W``.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per coefficient plus ``log(scale)``: ``term``, ``coef``, ``se``,
        ``time_ratio`` (``exp(coef)``), ``tr_lower``, ``tr_upper``, ``z``, ``p``. For the
        ``log(scale)`` row the exponentiated columns hold the scale and its CI.
    info : dict
        Method, distribution, formula, counts by censoring kind, iterations, versions.
    distribution : str
    params : pandas.Series
        Coefficients and ``log(scale)``.
    cov : pandas.DataFrame
        Inverse observed information of ``params``.
    log_likelihood : float
    alpha : float
    """

    distribution: str
    params: pd.Series
    cov: pd.DataFrame
    log_likelihood: float
    alpha: float
    design: _Design

    def __repr__(self) -> str:
        return _repr("AFTResult", self.info, f"{self.distribution}: {self.info['formula']}")

    @property
    def aic(self) -> float:
        """AIC = -2 log L + 2 (number of coefficients + 1 for the scale), as R's ``AIC(survreg)``."""
        return -2.0 * self.log_likelihood + 2.0 * len(self.params)

    @property
    def scale(self) -> float:
        """``exp(log(scale))``; for the Weibull, ``1 / shape``."""
        return math.exp(float(self.params[_SCALE_TERM]))

    def predict_median(self, profile: pd.DataFrame) -> pd.DataFrame:
        """Median recovery time for covariate profiles, with a delta-method CI on the log scale.

        Parameters
        ----------
        profile : pandas.DataFrame
            One row per profile with the formula's variables.

        Returns
        -------
        pandas.DataFrame
            The profile columns plus ``median``, ``median_lower``, ``median_upper`` (in
            ``info["time_unit"]``).
        """
        profile = _profile_frame(profile)
        x = self.design.matrix(profile)
        cov = self.cov.to_numpy()
        return _median_table(profile, x, self.params.to_numpy()[:-1], float(self.params.iloc[-1]), cov, _Dist(self.distribution), self.alpha)

    def predict_survival(self, profile: pd.DataFrame, times: Sequence[float] | np.ndarray | float) -> pd.DataFrame:
        """Probability of not yet having recovered at ``times``, per profile, with CI.

        The CI is the delta method on ``z = (log t - x'b) / scale`` (for the Weibull the
        complementary log-log scale of S, for the log-normal the probit scale), mapped back
        through ``S``, so limits stay in [0, 1].

        Returns
        -------
        pandas.DataFrame
            ``profile`` (row number in ``profile``), the profile columns, ``time``,
            ``survival``, ``survival_lower``, ``survival_upper``; one row per profile and time.
        """
        profile = _profile_frame(profile)
        t = _check_times(times)
        x = self.design.matrix(profile)
        return _survival_table(profile, x, self.params.to_numpy()[:-1], float(self.params.iloc[-1]), self.cov.to_numpy(),
                               _Dist(self.distribution), t, self.alpha)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot of the time ratios (intercept and scale left out); returns the Axes."""
        s = self.summary[~self.summary["term"].isin(["Intercept", _SCALE_TERM])]
        level = round(100 * (1 - self.alpha))
        return _forest(ax, list(s["term"]), s["time_ratio"].to_numpy(), s["tr_lower"].to_numpy(), s["tr_upper"].to_numpy(),
                       f"time ratio ({level}% CI, log scale)", f"{self.distribution} AFT")


def _aft_start(x: np.ndarray, o: _Outcome, d: _Dist) -> np.ndarray:
    mid = np.concatenate([0.5 * (o.yl_int + o.yr_int), o.yr_left - math.log(2), o.yl_right])
    gram = x.T @ x
    b = np.linalg.solve(gram + 1e-10 * np.diag(np.diag(gram)), x.T @ mid)
    resid = mid - x @ b
    sd = float(np.std(resid))
    sigma = max(sd / d.sd, 0.05) if np.isfinite(sd) and sd > 0 else 1.0
    if np.allclose(x[:, 0], 1.0):  # intercept first: shift to the median-free location
        b[0] -= d.mean * sigma
    return np.r_[b, math.log(sigma)]


def _aft_fun(x: np.ndarray, o: _Outcome, d: _Dist) -> Callable[[np.ndarray, int], Any]:
    p = x.shape[1]

    def fun(theta: np.ndarray, order: int) -> Any:
        b, s = theta[:p], theta[p]
        sigma = math.exp(s)
        with np.errstate(all="ignore"):
            if order == 0:
                return float(np.sum(_interval_terms(d, o, x @ b, sigma, 0)[0]))
            log_a, l_e, l_s, l_ee, l_es, l_ss = _interval_terms(d, o, x @ b, sigma, 2)
            ll = float(np.sum(log_a))
            g = np.r_[x.T @ l_e, l_s.sum()]
            h = np.empty((p + 1, p + 1))
            h[:p, :p] = (x.T * l_ee) @ x
            h[:p, p] = h[p, :p] = x.T @ l_es
            h[p, p] = l_ss.sum()
        return ll, g, h

    return fun


def _prepare(data: Cohort | pd.DataFrame, time_unit: str) -> pd.DataFrame:
    check_choice("time_unit", time_unit, get_args(TimeUnit))
    frame = as_frame(data, time_unit=time_unit)
    if len(frame) == 0:
        raise FootdropError("data has no rows")
    return frame


def fit_interval_aft(
    data: Cohort | pd.DataFrame,
    formula: str,
    *,
    distribution: Distribution = "weibull",
    lower_col: str = "lower",
    upper_col: str = "upper",
    alpha: float = 0.05,
    time_unit: TimeUnit = "weeks",
) -> AFTResult:
    """Interval-censored accelerated failure time regression (R ``survreg`` parameterisation).

    ``log T = x'b + scale * W`` with ``W`` standard extreme-value (``"weibull"``), normal
    (``"lognormal"``) or logistic (``"loglogistic"``). Left (``lower = 0``), interval and right
    (``upper`` missing or ``inf``) censoring. Fitted by Newton-Raphson on the analytic gradient
    and Hessian from least squares on log interval midpoints; standard errors from the inverse
    observed information. Results match ``survreg(Surv(lower, upper, type = "interval2") ~ ...)``
    with ``lower = 0`` recoded to ``NA``.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its :func:`~footdrop_outcomes.survival._input.survival_frame` is used) or a
        frame with the outcome and covariate columns.
    formula : str
        Right-hand side, e.g. ``"cause + severity + age"`` (``formulaic`` syntax).
    distribution : {"weibull", "lognormal", "loglogistic"}
    lower_col, upper_col : str
        Interval bounds: recovery in ``(lower, upper]``.
    alpha : float
        1 - confidence level of the intervals.
    time_unit : {"days", "weeks"}
        Unit of the survival frame built from a cohort (a label for a DataFrame).

    Returns
    -------
    AFTResult

    Raises
    ------
    FootdropError
        Bad outcome rows (``upper <= lower``, negative ``lower``), missing covariates,
        collinear or constant columns (named), no recoveries, or no convergence.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> fit = fit_interval_aft(simulate_cohort(800, seed=4), "severity + age + diabetes")
    >>> fit.summary.columns.tolist()
    ['term', 'coef', 'se', 'time_ratio', 'tr_lower', 'tr_upper', 'z', 'p']
    >>> bool(fit.summary.set_index("term").loc["severity[severe]", "time_ratio"] > 1)
    True
    """
    check_choice("distribution", distribution, get_args(Distribution))
    _check_alpha(alpha)
    frame = _prepare(data, time_unit)
    lo, up = _outcome(frame, lower_col, upper_col, "data")
    counts = _counts(lo, up)
    if counts["events"] == 0:
        raise FootdropError(f"no recoveries in the data (every {upper_col} is missing or inf): the AFT model cannot be fitted")
    if counts["n_interval"] + counts["n_right"] == 0:
        raise FootdropError(f"every recovery is left-censored ({lower_col} = 0): recovery times cannot be located; the AFT model cannot be fitted")
    design, x = _build_design(frame, formula, "formula", "data")
    _check_events_by_indicator(x, design.terms, np.isfinite(up), "formula")
    d = _Dist(distribution)
    o = _log_bounds(lo, up)
    xk = x[o.perm]
    names = [*design.terms, _SCALE_TERM]
    fun = _aft_fun(xk, o, d)
    try:
        theta, ll, _, h, iters = _maximise(fun, _aft_start(xk, o, d))
    except _NotConverged as exc:
        raise ConvergenceError(f"{distribution} AFT fit did not converge: {exc}. Check for covariate levels with very few recoveries.") from exc
    cov = _covariance(h, names)
    se = np.sqrt(np.diag(cov))
    _check_divergence(theta, se, names, _spans(xk))
    zq = _zq(alpha)
    z = theta / se
    summary = pd.DataFrame({
        "term": names, "coef": theta, "se": se, "time_ratio": np.exp(theta),
        "tr_lower": np.exp(theta - zq * se), "tr_upper": np.exp(theta + zq * se), "z": z, "p": _p_value(z),
    })
    info = {
        "method": f"interval-censored {distribution} AFT (maximum likelihood)", "distribution": distribution,
        "formula": design.formula, **counts, "terms": list(design.terms), "reference_levels": {v: lev[0] for v, lev in design.levels.items()},
        "iterations": iters, "log_likelihood": ll, "alpha": alpha, "time_unit": time_unit,
        "lower_col": lower_col, "upper_col": upper_col, "se": "inverse observed information (b, log scale)",
        "warnings": [], "versions": _versions(),
    }
    return AFTResult(summary=summary, info=info, distribution=distribution, params=pd.Series(theta, index=names),
                     cov=pd.DataFrame(cov, index=names, columns=names), log_likelihood=ll, alpha=alpha, design=design)


def compare_distributions(
    data: Cohort | pd.DataFrame,
    formula: str,
    *,
    distributions: Sequence[Distribution] = ("weibull", "lognormal", "loglogistic"),
    lower_col: str = "lower",
    upper_col: str = "upper",
    time_unit: TimeUnit = "weeks",
) -> pd.DataFrame:
    """AIC of the interval-censored AFT model under each distribution, best first.

    Returns
    -------
    pandas.DataFrame
        ``distribution``, ``log_likelihood``, ``n_params``, ``aic``, ``delta_aic`` (to the
        best), ``scale``; sorted by AIC.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> tab = compare_distributions(simulate_cohort(800, seed=4), "severity + age")
    >>> float(tab["delta_aic"].iloc[0])
    0.0
    """
    if isinstance(distributions, str) or not distributions:
        raise ConfigError(f"distributions must be a non-empty sequence out of {list(get_args(Distribution))}, got {distributions!r}")
    rows = []
    frame = _prepare(data, time_unit)
    for dist in distributions:
        fit = fit_interval_aft(frame, formula, distribution=dist, lower_col=lower_col, upper_col=upper_col, time_unit=time_unit)
        rows.append({"distribution": dist, "log_likelihood": fit.log_likelihood, "n_params": len(fit.params),
                     "aic": fit.aic, "scale": fit.scale})
    tab = pd.DataFrame(rows).sort_values("aic", kind="stable").reset_index(drop=True)
    tab.insert(4, "delta_aic", tab["aic"] - tab["aic"].iloc[0])
    return tab


# ------------------------------------------------------------------------------------------------
# mixture cure model


@dataclass(frozen=True, repr=False, kw_only=True)
class CureResult(AnalysisResult):
    """A parametric mixture cure model of recovery.

    P(ever recovering | z) = logistic(z'g) (incidence); recovery time of those who recover
    follows an AFT model ``log T = x'b + scale * W`` (latency).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per estimate: ``component`` (``incidence`` / ``latency``), ``term``,
        ``measure`` (``odds_ratio``, ``time_ratio``, ``hazard_ratio`` for a Weibull latency, or
        ``scale``), ``coef`` (log of the estimate), ``se``, ``z``, ``p``, ``estimate``,
        ``lower``, ``upper``. Weibull hazard ratios are ``exp(-coef / scale)`` with delta-method
        CIs (their ``coef``/``se`` are the log hazard ratio and its SE).
    info : dict
    params : pandas.Series
        Index ``incidence:<term>``, ``latency:<term>``, ``latency:log(scale)``.
    cov : pandas.DataFrame
        Inverse observed information of ``params``.
    """

    distribution: str
    params: pd.Series
    cov: pd.DataFrame
    log_likelihood: float
    alpha: float
    incidence_design: _Design
    latency_design: _Design
    data: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        return _repr("CureResult", self.info, f"{self.distribution} latency")

    @property
    def aic(self) -> float:
        """-2 log L + 2 (number of parameters)."""
        return -2.0 * self.log_likelihood + 2.0 * len(self.params)

    @property
    def scale(self) -> float:
        return math.exp(float(self.params.iloc[-1]))

    # -- pieces of the parameter vector
    def _split(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        pz = len(self.incidence_design.terms)
        th = self.params.to_numpy()
        return th[:pz], th[pz:-1], float(th[-1]), self.cov.to_numpy()

    def _frame(self, data: pd.DataFrame | None) -> pd.DataFrame:
        return self.data if data is None else _profile_frame(data)

    def predict_cure_fraction(self, profile: pd.DataFrame) -> pd.DataFrame:
        """P(never recovering) per profile, with a delta-method CI on the logit scale.

        Returns
        -------
        pandas.DataFrame
            Profile columns plus ``cure_fraction``, ``lower``, ``upper``.
        """
        profile = _profile_frame(profile)
        g, _, _, cov = self._split()
        z = self.incidence_design.matrix(profile)
        pz = g.size
        lin = -(z @ g)
        se = np.sqrt(np.einsum("ij,jk,ik->i", z, cov[:pz, :pz], z))
        zq = _zq(self.alpha)
        out = profile.reset_index(drop=True).copy()
        out["cure_fraction"], out["lower"], out["upper"] = expit(lin), expit(lin - zq * se), expit(lin + zq * se)
        return out

    def predict_median(self, profile: pd.DataFrame) -> pd.DataFrame:
        """Median recovery time among those who recover, per profile (delta-method CI, log scale)."""
        profile = _profile_frame(profile)
        _, b, s, cov = self._split()
        pz = len(self.incidence_design.terms)
        x = self.latency_design.matrix(profile)
        return _median_table(profile, x, b, s, cov[pz:, pz:], _Dist(self.distribution), self.alpha)

    def predict_latency_survival(self, profile: pd.DataFrame, times: Sequence[float] | np.ndarray | float) -> pd.DataFrame:
        """P(not yet recovered by t | will recover) per profile and time, with CI (as :meth:`AFTResult.predict_survival`)."""
        profile = _profile_frame(profile)
        t = _check_times(times)
        _, b, s, cov = self._split()
        pz = len(self.incidence_design.terms)
        x = self.latency_design.matrix(profile)
        return _survival_table(profile, x, b, s, cov[pz:, pz:], _Dist(self.distribution), t, self.alpha)

    def cure_fractions(self, by: Sequence[str] = ("cause", "severity"), *, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Fraction never recovering by group: the model's P(never recover) averaged over the
        patients of each group.

        CIs: delta method for the group mean of ``1 - pi(z_i)`` (covariates held fixed at the
        observed values), computed on the logit scale and mapped back, so limits stay in (0, 1).

        Parameters
        ----------
        by : sequence of str
            Grouping columns of ``data``.
        data : pandas.DataFrame, optional
            Patients to average over; defaults to the rows the model was fitted to.

        Returns
        -------
        pandas.DataFrame
            ``by`` columns, ``n``, ``cure_fraction``, ``lower``, ``upper``.
        """
        frame = self._frame(data)
        by = _check_by(frame, by)
        g, _, _, cov = self._split()
        z = self.incidence_design.matrix(frame, "data")
        pi = expit(z @ g)
        v = cov[: g.size, : g.size]
        zq = _zq(self.alpha)
        rows = []
        for key, idx in _groups(frame, by):
            p, zz = pi[idx], z[idx]
            c = float(np.mean(1 - p))
            grad = -(p * (1 - p)) @ zz / idx.size
            se = math.sqrt(float(grad @ v @ grad))
            se_logit = se / (c * (1 - c))
            lc = math.log(c / (1 - c))
            rows.append((*key, idx.size, c, float(expit(lc - zq * se_logit)), float(expit(lc + zq * se_logit))))
        return pd.DataFrame(rows, columns=[*by, "n", "cure_fraction", "lower", "upper"])

    def recovery_medians(self, by: Sequence[str] = ("cause", "severity"), *, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Median recovery time among those who recover, by group.

        The group's recovery-time distribution among recoverers is the mixture
        ``S_G(t) = sum_i pi_i S(t | x_i) / sum_i pi_i`` over its patients (each weighted by
        their probability of recovering); its median solves ``S_G(t) = 0.5``. The CI is the
        delta method on log t (implicit-function derivative), covariates held fixed.

        Returns
        -------
        pandas.DataFrame
            ``by`` columns, ``n``, ``expected_recoverers`` (sum of ``pi_i``), ``median``,
            ``lower``, ``upper``.
        """
        frame = self._frame(data)
        by = _check_by(frame, by)
        g, b, s, cov = self._split()
        d = _Dist(self.distribution)
        z = self.incidence_design.matrix(frame, "data")
        x = self.latency_design.matrix(frame, "data")
        pi = expit(z @ g)
        eta = x @ b
        sigma = math.exp(s)
        zq = _zq(self.alpha)
        w05 = d.quantile(0.5)
        rows = []
        for key, idx in _groups(frame, by):
            w, e = pi[idx], eta[idx]
            wsum = float(w.sum())
            lo_u, hi_u = float(e.min()) + sigma * w05, float(e.max()) + sigma * w05

            def sbar(u: float, w: np.ndarray = w, e: np.ndarray = e) -> float:
                return float(w @ np.exp(d.logS((u - e) / sigma))) / wsum

            for _ in range(200):
                mid = 0.5 * (lo_u + hi_u)
                if sbar(mid) > 0.5:
                    lo_u = mid
                else:
                    hi_u = mid
                if hi_u - lo_u < 1e-12:
                    break
            u = 0.5 * (lo_u + hi_u)
            zi = (u - e) / sigma
            f = np.exp(d.logf(zi))
            si = np.exp(d.logS(zi))
            d_u = -(w @ f) / sigma / wsum
            d_g = ((w * (1 - w) * (si - 0.5)) @ z[idx]) / wsum
            d_b = ((w * f / sigma) @ x[idx]) / wsum
            d_s = float((w * f * zi).sum()) / wsum
            jac = -np.r_[d_g, d_b, d_s] / d_u
            se = math.sqrt(float(jac @ cov @ jac))
            rows.append((*key, idx.size, wsum, math.exp(u), math.exp(u - zq * se), math.exp(u + zq * se)))
        return pd.DataFrame(rows, columns=[*by, "n", "expected_recoverers", "median", "lower", "upper"])

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot: incidence odds ratios and latency time ratios (log scale); returns the Axes."""
        s = self.summary[self.summary["measure"].isin(["odds_ratio", "time_ratio"]) & (self.summary["term"] != "Intercept")]
        labels = [f"{c}: {t} ({'OR' if m == 'odds_ratio' else 'TR'})" for c, t, m in zip(s["component"], s["term"], s["measure"])]
        level = round(100 * (1 - self.alpha))
        return _forest(ax, labels, s["estimate"].to_numpy(), s["lower"].to_numpy(), s["upper"].to_numpy(),
                       f"ratio ({level}% CI, log scale)", f"mixture cure model ({self.distribution} latency)")


def _check_by(frame: pd.DataFrame, by: Sequence[str] | str) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise FootdropError(f"data has no column(s) {missing} to group by (columns: {list(frame.columns)[:15]})")
    return cols


def _groups(frame: pd.DataFrame, by: list[str]) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    if not by:
        return [((), np.arange(len(frame)))]
    grouped = frame.reset_index(drop=True).groupby(by, observed=True, sort=True).indices
    out = []
    for key, idx in grouped.items():
        out.append((key if isinstance(key, tuple) else (key,), np.asarray(idx)))
    return out


def _cure_fun(z: np.ndarray, x: np.ndarray, o: _Outcome, d: _Dist) -> Callable[[np.ndarray, int], Any]:
    pz, px = z.shape[1], x.shape[1]
    ne = o.n_ev  # rows sorted as in o: recovered during follow-up first, then right-censored
    z_ev, z_rc = z[:ne], z[ne:]
    x_ev, x_rc = x[:ne], x[ne:]
    o_ev = o.events_only()
    y_rc = o.yl_right
    n_par = pz + px + 1

    def fun(theta: np.ndarray, order: int) -> Any:
        g, b, s = theta[:pz], theta[pz:pz + px], theta[-1]
        sigma = math.exp(s)
        with np.errstate(all="ignore"):
            zeta_ev, zeta_rc = z_ev @ g, z_rc @ g
            eta_ev, eta_rc = x_ev @ b, x_rc @ b
            logpi_ev = -np.logaddexp(0.0, -zeta_ev)
            logpi_rc, log1mpi_rc = -np.logaddexp(0.0, -zeta_rc), -np.logaddexp(0.0, zeta_rc)
            zr = (y_rc - eta_rc) / sigma
            logf_rc, logs_rc, logF_rc, psi = _parts(d, zr, True, order > 0)
            log_d = np.logaddexp(log1mpi_rc, logpi_rc + logs_rc)
            if order == 0:
                log_a = _interval_terms(d, o_ev, eta_ev, sigma, 0)[0]
                return float(np.sum(logpi_ev) + np.sum(log_a) + np.sum(log_d))
            log_a, le_ev, ls_ev, lee_ev, les_ev, lss_ev = _interval_terms(d, o_ev, eta_ev, sigma, 2)
            pi_ev, pi_rc = expit(zeta_ev), expit(zeta_rc)
            # right-censored rows: l = log(1 - pi F(z)), every derivative below divided by D
            a = np.exp(logpi_rc - log_d)  # pi / D
            fd = np.exp(logf_rc) * a
            big_f = np.exp(logF_rc) * a
            q = 1 - pi_rc
            lz = -q * big_f
            le = fd / sigma
            ls = fd * zr
            lzz = -q * (1 - 2 * pi_rc) * big_f - lz * lz
            lze = q * fd / sigma - lz * le
            lzs = q * fd * zr - lz * ls
            lee = -psi * fd / sigma**2 - le * le
            les = -(psi * zr + 1) * fd / sigma - le * ls
            lss = -(psi * zr**2 + zr) * fd - ls * ls
            ll = float(np.sum(logpi_ev) + np.sum(log_a) + np.sum(log_d))
            grad = np.r_[z_ev.T @ (1 - pi_ev) + z_rc.T @ lz, x_ev.T @ le_ev + x_rc.T @ le, ls_ev.sum() + ls.sum()]
            h = np.zeros((n_par, n_par))
            ig, ib, i_s = slice(0, pz), slice(pz, pz + px), n_par - 1
            h[ig, ig] = (z_ev.T * (-pi_ev * (1 - pi_ev))) @ z_ev + (z_rc.T * lzz) @ z_rc
            h[ig, ib] = (z_rc.T * lze) @ x_rc
            h[ib, ig] = h[ig, ib].T
            h[ig, i_s] = h[i_s, ig] = z_rc.T @ lzs
            h[ib, ib] = (x_ev.T * lee_ev) @ x_ev + (x_rc.T * lee) @ x_rc
            h[ib, i_s] = h[i_s, ib] = x_ev.T @ les_ev + x_rc.T @ les
            h[i_s, i_s] = lss_ev.sum() + lss.sum()
            return ll, grad, h

    return fun


def fit_cure_model(
    data: Cohort | pd.DataFrame,
    *,
    incidence_formula: str,
    latency_formula: str,
    distribution: Distribution = "weibull",
    lower_col: str = "lower",
    upper_col: str = "upper",
    alpha: float = 0.05,
    time_unit: TimeUnit = "weeks",
) -> CureResult:
    """Parametric mixture cure model for interval-censored recovery.

    ``P(ever recover | z) = pi(z) = logistic(z'g)`` (incidence) and, among those who recover,
    ``log T = x'b + scale * W`` (latency, an AFT model; for the Weibull, a proportional-hazards
    model with shape ``1 / scale`` and log hazard ratios ``-b / scale``). Likelihood per
    patient: ``pi [S(L) - S(R)]`` for recovery in ``(L, R]``, ``pi [1 - S(R)]`` when already
    recovered at the first visit, ``1 - pi + pi S(L)`` when not seen recovered after ``L``.
    Direct maximum likelihood by Newton-Raphson on the analytic gradient and Hessian, started
    from a logistic fit of "recovered during follow-up" and an AFT fit to those who did; SEs
    from the inverse observed information.

    The model needs follow-up long enough for recoverers to have (nearly) all recovered;
    ``info["latency_survival_at_end"]`` reports the mean ``S(t_max | x)`` over patients at
    the last follow-up time (close to 0 is reassuring).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
    incidence_formula, latency_formula : str
        Right-hand sides (``formulaic`` syntax).
    distribution : {"weibull", "lognormal", "loglogistic"}
        Latency distribution.
    lower_col, upper_col, alpha, time_unit
        As in :func:`fit_interval_aft`.

    Returns
    -------
    CureResult

    Raises
    ------
    FootdropError
        As :func:`fit_interval_aft`; also when a level of an incidence or latency term has no
        recoveries (e.g. ALS): its coefficient is infinite, so drop those patients first.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival._input import survival_frame
    >>> df = survival_frame(simulate_cohort(3000, seed=5))
    >>> df = df[df["cause"].isin(["peroneal_compression", "lumbar_radiculopathy", "stroke"])]
    >>> fit = fit_cure_model(df, incidence_formula="cause + severity", latency_formula="cause + severity")
    >>> tab = fit.cure_fractions(by=["cause"])
    >>> bool(tab.set_index("cause").loc["stroke", "cure_fraction"] > tab.set_index("cause").loc["peroneal_compression", "cure_fraction"])
    True
    """
    check_choice("distribution", distribution, get_args(Distribution))
    _check_alpha(alpha)
    frame = _prepare(data, time_unit)
    lo, up = _outcome(frame, lower_col, upper_col, "data")
    counts = _counts(lo, up)
    if counts["events"] == 0:
        raise FootdropError(f"no recoveries in the data (every {upper_col} is missing or inf): the cure model cannot be fitted")
    if counts["n_interval"] + counts["n_right"] == 0:
        raise FootdropError(f"every recovery is left-censored ({lower_col} = 0): the cure model cannot be fitted")
    inc_design, z = _build_design(frame, incidence_formula, "incidence_formula", "data")
    lat_design, x = _build_design(frame, latency_formula, "latency_formula", "data")
    event = np.isfinite(up)
    _check_events_by_indicator(z, inc_design.terms, event, "incidence_formula")
    _check_events_by_indicator(x, lat_design.terms, event, "latency_formula")
    d = _Dist(distribution)
    o = _log_bounds(lo, up)
    zk, xk = z[o.perm], x[o.perm]
    # start: logistic on "recovered during follow-up", AFT on the recovered
    g0 = _logistic_start(zk, (np.arange(o.n) < o.n_ev).astype(float))
    o_ev = o.events_only()
    lat0 = _aft_start(xk[: o.n_ev], o_ev, d)
    try:
        lat0, *_ = _maximise(_aft_fun(xk[: o.n_ev], o_ev, d), lat0, max_iter=50)
    except _NotConverged:
        pass
    names = [*(f"incidence:{t}" for t in inc_design.terms), *(f"latency:{t}" for t in lat_design.terms), f"latency:{_SCALE_TERM}"]
    fun = _cure_fun(zk, xk, o, d)
    try:
        theta, ll, _, h, iters = _maximise(fun, np.r_[g0, lat0], max_iter=200)
    except _NotConverged as exc:
        raise ConvergenceError(f"cure model did not converge: {exc}. Check for covariate levels with very few recoveries, "
                            "and that follow-up is long enough for recoverers to recover.") from exc
    cov = _covariance(h, names)
    se = np.sqrt(np.diag(cov))
    _check_divergence(theta, se, names, _spans(zk, xk))
    pz, px = z.shape[1], x.shape[1]
    zq = _zq(alpha)
    rows = []

    def add(component: str, term: str, measure: str, coef: float, s: float) -> None:
        rows.append((component, term, measure, coef, s, coef / s, float(_p_value(np.array(coef / s))),
                     math.exp(coef), math.exp(coef - zq * s), math.exp(coef + zq * s)))

    for j, t in enumerate(inc_design.terms):
        add("incidence", t, "odds_ratio", theta[j], se[j])
    for j, t in enumerate(lat_design.terms):
        add("latency", t, "time_ratio", theta[pz + j], se[pz + j])
    log_sigma = theta[-1]
    sigma = math.exp(log_sigma)
    if distribution == "weibull":
        for j, t in enumerate(lat_design.terms):
            if t == "Intercept":
                continue
            k = pz + j
            jac = np.zeros(theta.size)
            jac[k], jac[-1] = -1 / sigma, theta[k] / sigma
            add("latency", t, "hazard_ratio", -theta[k] / sigma, math.sqrt(float(jac @ cov @ jac)))
    add("latency", _SCALE_TERM, "scale", log_sigma, se[-1])
    summary = pd.DataFrame(rows, columns=["component", "term", "measure", "coef", "se", "z", "p", "estimate", "lower", "upper"])
    # sufficient follow-up diagnostic: mean latency survival at the last follow-up time
    t_max = float(np.max(np.where(np.isfinite(up), up, lo)))
    s_end = float(np.mean(np.exp(d.logS((math.log(t_max) - xk @ theta[pz:pz + px]) / sigma))))
    info = {
        "method": f"mixture cure model: logistic incidence, {distribution} AFT latency (maximum likelihood)",
        "distribution": distribution, "incidence_formula": inc_design.formula, "latency_formula": lat_design.formula,
        **counts, "iterations": iters, "log_likelihood": ll, "alpha": alpha, "time_unit": time_unit,
        "reference_levels": {**{v: lev[0] for v, lev in inc_design.levels.items()}, **{v: lev[0] for v, lev in lat_design.levels.items()}},
        "max_followup": t_max, "latency_survival_at_end": s_end,
        "se": "inverse observed information (g, b, log scale); group summaries by the delta method",
        "warnings": [], "versions": _versions(),
    }
    return CureResult(summary=summary, info=info, distribution=distribution, params=pd.Series(theta, index=names),
                      cov=pd.DataFrame(cov, index=names, columns=names), log_likelihood=ll, alpha=alpha,
                      incidence_design=inc_design, latency_design=lat_design, data=frame.reset_index(drop=True))
