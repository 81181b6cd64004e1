"""Interval-censored AFT regression with a random site intercept.

:func:`fit_interval_aft_random` fits ``log T_ij = x_ij' b + tau z_i + scale W_ij`` with
``z_i ~ N(0, 1)`` shared by the patients of site ``i`` and ``W`` standard extreme-value (Weibull),
normal (log-normal) or logistic (log-logistic), to interval-, left- and right-censored recovery
times (the outcome of :func:`~footdrop_outcomes.survival.fit_interval_aft`). ``exp(tau z_i)`` is the
site's time ratio: sites whose patients recover faster or slower than their case mix predicts.

How the fit is made
-------------------
The marginal likelihood of site ``i``, ``L_i = int prod_j P(L_ij < T_ij <= R_ij | z) phi(z) dz``, is
computed by adaptive Gauss-Hermite quadrature (``n_nodes`` nodes, default 15): for each site the
integrand's mode ``z_i`` and curvature ``s_i`` are found by Newton's method, and the nodes are
``z_i + sqrt(2) s_i t_k`` (Liu & Pierce 1994; with ``n_nodes = 1`` this is the Laplace
approximation). The parameters ``(b, log scale, log tau)`` maximise the sum of ``log L_i`` by
Newton-Raphson with step halving on the analytic gradient and Hessian of the quadrature sum (nodes
held at their adaptive positions in each evaluation; the dependence of the nodes on the parameters is
of the order of the quadrature error). Start: the fit without site effect and ``tau = 0.2``.
Standard errors: inverse observed information of ``(b, log scale, log tau)``; ``tau``'s CI is the
Wald CI of ``log tau``.

Site estimates (``sites``): posterior mean and SD of ``tau z_i`` given the site's data at the estimate
(empirical Bayes, computed on the same nodes), as log time ratios, shrunken towards 0.

Test of ``tau = 0``: ``LR = 2 (log L - log L_0)`` against the fit without site effect, p-value
``0.5 P(chi2_1 > LR)`` (boundary). When the likelihood is flat at ``tau = 0`` (no site variation in
the data) ``tau`` runs towards 0: below ``1e-4`` it is reported as 0 with the fit without site effect
and a warning.

Why not a frailty on the hazard scale here: on the AFT scale a normal random intercept keeps the
model's own distribution (log-normal stays log-normal given the site), the site effect is a time
ratio, and the integral is one-dimensional per site, so quadrature is exact to the digits that matter.

Release control: :meth:`AFTRandomResult.released` leaves out sites of ``threshold`` or fewer patients.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logsumexp

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import (
    ConfigError,
    ConvergenceError,
    FootdropError,
    FootdropWarning,
)
from footdrop_outcomes.survival._design import (
    _build_design,
    _check_events_by_indicator,
    _counts,
    _covariance,
    _forest,
    _outcome,
    _versions,
)
from footdrop_outcomes.survival._likelihood import (
    _SCALE_TERM,
    Distribution,
    _Dist,
    _interval_terms,
    _log_bounds,
    _maximise,
    _NotConverged,
)
from footdrop_outcomes.survival._missing import (
    Missing,
    drop_incomplete,
    formula_variables,
)
from footdrop_outcomes.survival.aft import _aft_fun, _aft_start, _prepare

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort
    from footdrop_outcomes.release import ReleasedTable, ReleasePolicy

__all__ = ["AFTRandomResult", "fit_interval_aft_random"]

_TAU_TERM = "log(tau)"
_TAU_ZERO = 1e-4


class _Marginal:
    """Adaptive Gauss-Hermite marginal log-likelihood of ``(b, log scale, log tau)`` and its derivatives."""

    def __init__(self, x: np.ndarray, o: Any, d: _Dist, g: np.ndarray, q: int, n_nodes: int) -> None:
        self.x, self.o, self.d, self.g, self.q = x, o, d, g, q
        self.p = x.shape[1]
        t, w = np.polynomial.hermite.hermgauss(n_nodes)
        self.t, self.logw = t, np.log(w) + t**2  # exp(t^2) undoes the Hermite weight: the integrand carries phi
        self.mode = np.zeros(q)

    def _site_sum(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.g, weights=v, minlength=self.q)

    def modes(self, eta0: np.ndarray, sigma: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
        """Mode and curvature scale of ``sum_j log P_ij(eta0 + tau z) - z^2 / 2`` per site (Newton from the last modes)."""
        z = self.mode.copy()
        with np.errstate(all="ignore"):
            return self._modes(z, eta0, sigma, tau)

    def _modes(self, z: np.ndarray, eta0: np.ndarray, sigma: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(50):
            _, l_e, _, l_ee, _, _ = _interval_terms(self.d, self.o, eta0 + tau * z[self.g], sigma, 2)
            g1 = tau * self._site_sum(l_e) - z
            g2 = tau**2 * self._site_sum(l_ee) - 1.0
            step = -g1 / np.minimum(g2, -1e-12)
            step = np.clip(step, -2.0, 2.0)
            z = z + step
            if np.max(np.abs(step)) < 1e-10:
                break
        _, _, _, l_ee, _, _ = _interval_terms(self.d, self.o, eta0 + tau * z[self.g], sigma, 2)
        s = 1.0 / np.sqrt(np.maximum(1.0 - tau**2 * self._site_sum(l_ee), 1e-12))
        self.mode = z
        return z, s

    def nodes(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adaptive nodes ``(q, K)`` and the log of their weights, including ``log phi`` and the Jacobian."""
        p = self.p
        b, sigma, tau = theta[:p], math.exp(theta[p]), math.exp(theta[p + 1])
        zhat, s = self.modes(self.x @ b, sigma, tau)
        z = zhat[:, None] + math.sqrt(2.0) * s[:, None] * self.t[None, :]
        logc = self.logw[None, :] + np.log(math.sqrt(2.0) * s)[:, None] - 0.5 * z**2 - 0.5 * math.log(2 * math.pi)
        return z, logc

    def __call__(self, theta: np.ndarray, order: int) -> Any:
        p, x, g = self.p, self.x, self.g
        b, sigma, tau = theta[:p], math.exp(theta[p]), math.exp(theta[p + 1])
        with np.errstate(all="ignore"):
            z, logc = self.nodes(theta)
            eta0 = x @ b
            k_n = z.shape[1]
            s_ik = np.empty_like(z)
            rows = []
            for k in range(k_n):
                zk = z[g, k]
                terms = _interval_terms(self.d, self.o, eta0 + tau * zk, sigma, 0 if order == 0 else 2)
                s_ik[:, k] = self._site_sum(terms[0])
                if order:
                    rows.append((zk, *terms[1:]))
            a = logc + s_ik
            lse = logsumexp(a, axis=1)
            ll = float(lse.sum())
            if order == 0:
                return ll
            pi = np.exp(a - lse[:, None])  # (q, K) posterior weights of the nodes
            m = p + 2
            grad = np.zeros(m)
            hess = np.zeros((m, m))
            g_ik = np.zeros((self.q, k_n, m))
            for k, (zk, l_e, l_s, l_ee, l_es, l_ss) in enumerate(rows):
                wk = pi[g, k]
                tz = tau * zk
                g_ik[:, k, :p] = np.stack([self._site_sum(l_e * x[:, j]) for j in range(p)], axis=1)
                g_ik[:, k, p] = self._site_sum(l_s)
                g_ik[:, k, p + 1] = self._site_sum(l_e * tz)
                # sum over sites and nodes of pi_ik * (Hessian of S_ik): linear in the rows
                hess[:p, :p] += (x.T * (wk * l_ee)) @ x
                hess[:p, p] += x.T @ (wk * l_es)
                hess[:p, p + 1] += x.T @ (wk * l_ee * tz)
                hess[p, p] += float(np.sum(wk * l_ss))
                hess[p, p + 1] += float(np.sum(wk * l_es * tz))
                hess[p + 1, p + 1] += float(np.sum(wk * (l_ee * tz**2 + l_e * tz)))
            hess[p, :p] = hess[:p, p]
            hess[p + 1, :p] = hess[:p, p + 1]
            hess[p + 1, p] = hess[p, p + 1]
            gbar = np.einsum("ik,ikm->im", pi, g_ik)
            grad = gbar.sum(axis=0)
            hess += np.einsum("ik,ikm,ikn->mn", pi, g_ik, g_ik) - gbar.T @ gbar
        return ll, grad, hess

    def sites(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and SD of ``tau z_i`` at ``theta``."""
        p, g = self.p, self.g
        b, sigma, tau = theta[:p], math.exp(theta[p]), math.exp(theta[p + 1])
        z, logc = self.nodes(theta)
        eta0 = self.x @ b
        with np.errstate(all="ignore"):
            s_ik = np.stack([self._site_sum(_interval_terms(self.d, self.o, eta0 + tau * z[g, k], sigma, 0)[0])
                             for k in range(z.shape[1])], axis=1)
        a = logc + s_ik
        pi = np.exp(a - logsumexp(a, axis=1)[:, None])
        mean = np.sum(pi * z, axis=1)
        sd = np.sqrt(np.maximum(np.sum(pi * z**2, axis=1) - mean**2, 0.0))
        return tau * mean, tau * sd


@dataclass(frozen=True, repr=False, kw_only=True)
class AFTRandomResult(AnalysisResult):
    """An interval-censored AFT fit with a random site intercept (module docstring).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per coefficient, ``log(scale)`` and ``log(tau)``: ``term``, ``coef``, ``se``,
        ``time_ratio`` (``exp(coef)``), ``tr_lower``, ``tr_upper``, ``z``, ``p``.
    sites : pandas.DataFrame
        One row per site: ``site``, ``n``, ``events`` (recoveries seen), ``effect`` (posterior mean of
        ``tau z_i``, a log time ratio), ``sd`` (its posterior SD), ``time_ratio`` (``exp(effect)``),
        ``lower``, ``upper`` (``effect +/- z sd``, exponentiated).
    variance : pandas.DataFrame
        One row: ``tau`` (SD of the site intercept on the log-time scale), ``lower``, ``upper`` (Wald
        CI of ``log tau``), ``lr_chisq``, ``p`` (LR test of tau = 0, boundary-corrected).
    params : pandas.Series
    cov : pandas.DataFrame
    tau : float
    log_likelihood : float
        Marginal log-likelihood (quadrature).
    distribution : str
    alpha : float
    info : dict
        ``method``, ``distribution``, ``formula``, ``group``, counts, ``n_groups``, ``n_nodes``,
        ``log_likelihood_fixed`` (no site effect), ``iterations``, ``warnings``, ``versions``.
    """

    sites: pd.DataFrame
    variance: pd.DataFrame
    params: pd.Series
    cov: pd.DataFrame
    tau: float
    log_likelihood: float
    distribution: str
    alpha: float

    def __repr__(self) -> str:
        i = self.info
        return (f"AFTRandomResult({self.distribution}: {i['formula']} + (1 | {i['group']}), n={i['n']}, "
                f"groups={i['n_groups']}, tau={self.tau:.4g}, log-likelihood={self.log_likelihood:.3f})")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Site time ratios (posterior mean with +/- z SD), sorted, log axis; returns the Axes."""
        s = self.sites.sort_values("effect")
        level = round(100 * (1 - self.alpha))
        return _forest(ax, [str(v) for v in s["site"]], s["time_ratio"].to_numpy(), s["lower"].to_numpy(), s["upper"].to_numpy(),
                       kwargs.get("xlabel", f"site time ratio ({level}% interval, log scale)"),
                       kwargs.get("title", f"Site effects, {self.distribution} AFT, tau {self.tau:.3g}"))

    def released(self, policy: ReleasePolicy | None = None) -> ReleasedTable:
        """The site table under release control: sites of ``threshold`` or fewer patients are left out.

        Returns
        -------
        ReleasedTable
            ``site``, ``patients``, ``recoveries``, ``time ratio (interval)``; a site with 1 to
            ``threshold`` recoveries has its count and its time ratio masked.
        """
        from footdrop_outcomes.release import ReleasePolicy, format_count, release_table

        policy = policy if policy is not None else ReleasePolicy()
        t = policy.threshold
        s = self.sites[self.sites["n"] > t]
        out = pd.DataFrame({
            "site": s["site"].astype(str).tolist(),
            "patients": [format_count(int(n), t) for n in s["n"]],
            "recoveries": [format_count(int(e), t) for e in s["events"]],
            "time ratio (interval)": [f"{a:.2f} ({lo:.2f}-{hi:.2f})" for a, lo, hi in zip(s["time_ratio"], s["lower"], s["upper"], strict=True)],
        })
        support = pd.DataFrame({c: s["n"].to_numpy() for c in out.columns})
        ev = s["events"].to_numpy()
        # a site's estimate is close to a function of its recoveries over the expected: masked with a small count,
        # as the O/E of footdrop_outcomes.sites.comparison
        support["recoveries"] = support["time ratio (interval)"] = np.where(ev == 0, s["n"].to_numpy(), ev)
        return release_table(out, policy, support=support, keep=["site"])


def _profile_then_polish(model: _Marginal, start: np.ndarray, ll0: float, distribution: str,
                         group: str) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Maximise over log tau in [log 1e-4, log 10] (Brent), each value with (b, log scale) by Newton; then full Newton."""
    from scipy import optimize

    m = start.size
    state = {"sub": start.copy()}

    def profile(r: float) -> float:
        def sub(th: np.ndarray, order: int) -> Any:
            out = model(np.r_[th, r], order)
            return out if order == 0 else (out[0], out[1][:m], out[2][:m, :m])
        try:
            th, val, *_ = _maximise(sub, state["sub"], max_iter=200)
        except _NotConverged:
            return -np.inf
        state["sub"] = th
        return val

    lo = math.log(_TAU_ZERO)
    res = optimize.minimize_scalar(lambda r: -profile(r), bounds=(lo, math.log(10.0)), method="bounded",
                                   options={"xatol": 1e-6})
    r_hat, ll = float(res.x), -float(res.fun)
    if not np.isfinite(ll):
        raise ConvergenceError(f"{distribution} AFT fit with a random {group} intercept did not converge")
    profile(r_hat)
    theta = np.r_[state["sub"], r_hat]
    if r_hat - lo < 1e-3 or ll <= ll0:
        return np.r_[state["sub"], lo - 1.0], ll, np.zeros((m + 1, m + 1)), int(res.nfev)
    try:
        theta, ll, _, h, iters = _maximise(model, theta, max_iter=200, tol=1e-10)
    except _NotConverged as exc:
        raise ConvergenceError(f"{distribution} AFT fit with a random {group} intercept did not converge: {exc}") from exc
    return theta, ll, h, iters


@limit_threads
def fit_interval_aft_random(
    data: Cohort | pd.DataFrame,
    formula: str,
    *,
    group: str = "site",
    distribution: Distribution = "weibull",
    lower_col: str = "lower",
    upper_col: str = "upper",
    n_nodes: int = 15,
    missing: Missing = "drop",
    alpha: float = 0.05,
    time_unit: str = "weeks",
) -> AFTRandomResult:
    """Interval-censored AFT regression with a normal random intercept per site (module docstring).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its survival frame, which has ``site``) or one row per patient.
    formula : str
        Right-hand side of the fixed part, e.g. ``"cause + severity + age"``.
    group : str
        Column of the sites (default ``"site"``).
    distribution : {"weibull", "lognormal", "loglogistic"}
    lower_col, upper_col : str
        Recovery in ``(lower, upper]`` (``upper`` missing or inf: right-censored; ``lower = 0``: left).
    n_nodes : int
        Adaptive Gauss-Hermite nodes per site (1 = Laplace approximation).
    missing : {"drop", "raise"}
    alpha : float
    time_unit : {"days", "weeks"}

    Returns
    -------
    AFTRandomResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> fit = fit_interval_aft_random(simulate_cohort(600, seed=4), "severity + age", group="site")
    >>> fit.summary["term"].iloc[-1]
    'log(tau)'
    """
    check = get_args(Distribution)
    if distribution not in check:
        raise ConfigError(f"distribution must be one of {list(check)}, got {distribution!r}")
    _check_alpha(alpha)
    if not isinstance(n_nodes, int) or isinstance(n_nodes, bool) or not 1 <= n_nodes <= 100:
        raise ConfigError(f"n_nodes must be a whole number from 1 to 100, got {n_nodes!r}")
    frame = _prepare(data, time_unit)
    if group in formula_variables(formula, "the lower/upper columns"):
        raise ConfigError(f"{group!r} is both in the formula and the random intercept: leave it out of the formula")
    frame, dropped = drop_incomplete(frame, [*formula_variables(formula, "the lower/upper columns"), group],
                                     missing=missing, model="fit_interval_aft_random")
    if group not in frame.columns:
        raise FootdropError(f"data has no column {group!r} given as group (columns: {list(frame.columns)[:15]})")
    lo, up = _outcome(frame, lower_col, upper_col, "data")
    counts = _counts(lo, up)
    if counts["events"] == 0:
        raise FootdropError(f"no recoveries in the data (every {upper_col} is missing or inf): the AFT model cannot be fitted")
    codes, levels = pd.factorize(frame[group], sort=True)
    q = len(levels)
    if q < 2:
        raise FootdropError(f"data.{group}: a random site intercept needs at least 2 sites; there is {q}")
    design, x = _build_design(frame, formula, "formula", "data")
    _check_events_by_indicator(x, design.terms, np.isfinite(up), "formula")
    d = _Dist(distribution)
    o = _log_bounds(lo, up)
    xk = x[o.perm]
    gk = codes[o.perm]
    p = x.shape[1]
    names = [*design.terms, _SCALE_TERM, _TAU_TERM]
    texts: list[str] = []
    try:
        fixed = _maximise(_aft_fun(xk, o, d), _aft_start(xk, o, d))
    except _NotConverged as exc:
        raise ConvergenceError(f"{distribution} AFT fit without site effect did not converge: {exc}") from exc
    ll0 = fixed[1]
    model = _Marginal(xk, o, d, gk, q, n_nodes)
    theta0 = np.r_[fixed[0], math.log(0.2)]
    try:
        theta, ll, _, h, iters = _maximise(model, theta0, max_iter=200, tol=1e-10)
    except _NotConverged:
        # Newton on all parameters failed (typically tau heading to 0, where log tau is flat): profile
        # tau by a bounded search, then polish from there unless the profile peaks at the lower end
        theta, ll, h, iters = _profile_then_polish(model, fixed[0], ll0, distribution, group)
    at_zero = math.exp(theta[p + 1]) < _TAU_ZERO or ll <= ll0
    if at_zero:
        msg = (f"the site SD tau runs to 0 (no variation between {group}s beyond the model): reported as 0, "
               "with the fit without site effect")
        texts.append(msg)
        warnings.warn(msg, FootdropWarning, stacklevel=3)
        theta = np.r_[fixed[0], -np.inf]
        ll = ll0
        cov_fixed = _covariance(fixed[3], names[:-1])
        cov = np.full((p + 2, p + 2), np.nan)
        cov[: p + 1, : p + 1] = cov_fixed
        effect, sd = np.zeros(q), np.zeros(q)
        tau = 0.0
    else:
        cov = _covariance(h, names)
        effect, sd = model.sites(theta)
        tau = math.exp(theta[p + 1])
    se = np.sqrt(np.diag(cov))
    zq = _zq(alpha)
    with np.errstate(all="ignore"):
        z = theta / se
        summary = pd.DataFrame({
            "term": names, "coef": theta, "se": se, "time_ratio": np.exp(theta),
            "tr_lower": np.exp(theta - zq * se), "tr_upper": np.exp(theta + zq * se), "z": z, "p": _p_value(z),
        })
    n_by = np.bincount(codes, minlength=q)
    ev_by = np.bincount(codes, weights=np.isfinite(up).astype(float), minlength=q).astype(int)
    sites = pd.DataFrame({
        "site": list(levels), "n": n_by, "events": ev_by, "effect": effect, "sd": sd, "time_ratio": np.exp(effect),
        "lower": np.exp(effect - zq * sd), "upper": np.exp(effect + zq * sd),
    })
    lr = max(0.0, 2.0 * (ll - ll0))
    se_r = se[p + 1]
    variance = pd.DataFrame({
        "tau": [tau], "lower": [0.0 if at_zero else tau * math.exp(-zq * se_r)],
        "upper": [float("nan") if at_zero else tau * math.exp(zq * se_r)], "lr_chisq": [lr],
        "p": [0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0],
    })
    info = {
        "method": f"interval-censored {distribution} AFT with a normal random {group} intercept "
                  f"(marginal likelihood, adaptive Gauss-Hermite, {n_nodes} nodes)",
        "distribution": distribution, "formula": design.formula, "group": group, **counts, "n_groups": q,
        "n_nodes": n_nodes, "log_likelihood_fixed": ll0, "iterations": iters, "alpha": alpha, "time_unit": time_unit,
        "se": "inverse observed information of (b, log scale, log tau)", **dropped,
        "warnings": texts, "versions": _versions(),
    }
    return AFTRandomResult(summary=summary, info=info, sites=sites, variance=variance,
                           params=pd.Series(theta, index=names), cov=pd.DataFrame(cov, index=names, columns=names),
                           tau=tau, log_likelihood=float(ll), distribution=distribution, alpha=alpha)
