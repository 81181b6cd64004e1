"""Parametric mixture cure model of interval-censored recovery: logistic incidence (who ever
recovers) and AFT latency (when). See :mod:`footdrop_outcomes.survival.parametric`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import pandas as pd
from scipy.special import expit

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConvergenceError, FootdropError
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
from footdrop_outcomes.survival._input import TimeUnit, check_choice
from footdrop_outcomes.survival._likelihood import (
    _SCALE_TERM,
    Distribution,
    _check_times,
    _Dist,
    _interval_terms,
    _log_bounds,
    _maximise,
    _median_table,
    _NotConverged,
    _Outcome,
    _parts,
    _profile_frame,
    _repr,
    _survival_table,
)
from footdrop_outcomes.survival._missing import (
    Missing,
    drop_incomplete,
    formula_variables,
)
from footdrop_outcomes.survival.aft import _aft_fun, _aft_start, _prepare

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["CureResult", "fit_cure_model"]

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


@limit_threads
def fit_cure_model(
    data: Cohort | pd.DataFrame,
    *,
    incidence_formula: str,
    latency_formula: str,
    distribution: Distribution = "weibull",
    lower_col: str = "lower",
    upper_col: str = "upper",
    missing: Missing = "drop",
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
    lower_col, upper_col, missing, alpha, time_unit
        As in :func:`fit_interval_aft` (``missing="drop"``: rows with a missing incidence or
        latency covariate are left out with a ``MissingDataWarning`` and counted in ``info``).

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
    variables = [*formula_variables(incidence_formula, "the lower/upper columns"),
                 *formula_variables(latency_formula, "the lower/upper columns")]
    frame, dropped = drop_incomplete(frame, variables, missing=missing, model="fit_cure_model")
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
        if not (math.isfinite(coef) and math.isfinite(s)) or abs(coef) + zq * s > 700:  # exp() would overflow
            raise FootdropError(f"cure model: the {component} estimate of {term!r} diverges, so the model is not identifiable "
                                "from these data (a group in which nearly every patient, or nearly no patient, recovered); "
                                "drop or merge that term")
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
        **dropped, "warnings": [], "versions": _versions(),
    }
    return CureResult(summary=summary, info=info, distribution=distribution, params=pd.Series(theta, index=names),
                      cov=pd.DataFrame(cov, index=names, columns=names), log_likelihood=ll, alpha=alpha,
                      incidence_design=inc_design, latency_design=lat_design, data=frame.reset_index(drop=True))
