"""Cure model with a time-varying exposure for a misclassified visit outcome (rated MRC).

Why: "recovered" is read at each visit from a rated grade (MRC >= 4), and ratings err. The
interval-censored cure model (:mod:`footdrop_outcomes.survival.tv_cure`) dates recovery at the
first visit read as recovered, so one early false reading dates it too soon and a plateau just
below 4 read once as 4 becomes a recovery; on generator v2 (rater error SD 0.27 grades) its
adherence effect is attenuated by about 44% (docs/adherence.md, section 5.1).

This model keeps the cure model for the latent recovery time ``T`` (logistic incidence, Weibull
PH latency with the weekly step exposure) and adds a hidden state: "recovered" is absorbing and
starts at ``T``; each reading at a visit is a noisy copy of the state,

* ``P(read recovered | not recovered) = a`` (false recovery),
* ``P(read not recovered | recovered) = b`` (missed recovery),

independently across readings given the state. With visits ``t_1 < ... < t_m`` (``t_0 = 0``)
the patient's likelihood sums over the interval that holds ``T``:

``L = p sum_k [S(t_{k-1}) - S(t_k)] W_k + (1 - p + p S(t_m)) W_{m+1}``,

``W_k = prod_{j<k} P(y_j | not recovered) prod_{j>=k} P(y_j | recovered)``: O(visits) per
patient, vectorised over a patients x visits array. ``a`` and ``b`` are estimated with the other
parameters (non-monotone reading sequences identify them), or fixed (``error_rates=``). A
second, independent rating of the same visit (``second_rating=``, missing where there is none)
enters as a second reading of the same state.

Limitation (measured in docs/adherence.md, section 5.1): the rates are constant, whereas a
rater errs most when the latent strength is near 4 (just before the crossing and on plateaus
just below 4); that error is correlated over a patient's visits and between two raters of the
same visit, which this model treats as independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.optimize import minimize
from scipy.special import expit, logit

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, ConvergenceError, FootdropError
from footdrop_outcomes.survival._design import (
    _build_design,
    _covariance,
    _forest,
    _check_divergence,
    _follow_up_blocks,
    _Guarded,
    _logistic_start,
    _spans,
    _versions,
)
from footdrop_outcomes.survival.tv_cure import _standardise, exposure_matrix

__all__ = ["MisclassifiedCureResult", "fit_misclassified_cure", "reading_matrix"]


@dataclass(frozen=True, repr=False, kw_only=True)
class MisclassifiedCureResult(AnalysisResult):
    """A time-varying cure model fitted to misclassified visit readings.

    Attributes
    ----------
    summary : pandas.DataFrame
        As :class:`~footdrop_outcomes.survival.TimeVaryingCureResult` (``component``, ``term``,
        ``measure``, ``coef``, ``se``, ``z``, ``p``, ``estimate``, ``lower``, ``upper``) plus two
        ``reading`` rows, ``false recovery rate`` and ``missed recovery rate`` (measure
        ``probability``: ``coef`` is the logit, ``estimate`` / ``lower`` / ``upper`` the
        probability and its CI; absent when the rates were fixed).
    params : pandas.Series
    cov : pandas.DataFrame
        Inverse observed information (fitted parameters only).
    """

    params: pd.Series
    cov: pd.DataFrame
    log_likelihood: float = field(repr=False)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot of the incidence odds ratios and latency hazard ratios (log scale)."""
        s = self.summary[self.summary["measure"].isin(["odds_ratio", "hazard_ratio"]) & (self.summary["term"] != "Intercept")]
        labels = [f"{c}: {t} ({'OR' if m == 'odds_ratio' else 'HR'})" for c, t, m in zip(s["component"], s["term"], s["measure"])]
        level = round(100 * (1 - self.info["alpha"]))
        return _forest(ax, labels, s["estimate"].to_numpy(), s["lower"].to_numpy(), s["upper"].to_numpy(),
                       f"ratio ({level}% CI, log scale)", "cure model for misclassified readings")


def reading_matrix(visits: pd.DataFrame, patient_ids: Any, *, rating: str = "mrc", second_rating: str | None = None,
                   threshold: float = 4, id_col: str = "patient_id", day_col: str = "day") -> tuple[np.ndarray, ...]:
    """Patients x visits arrays of visit times (weeks) and readings ``rating >= threshold``.

    Visits on or before day 0 (onset, below the threshold by definition) and visits without a
    rating are left out. Returns ``(times, first, first_seen, second, second_seen)``; unused
    places repeat the patient's last time and are unseen.
    """
    for col in (id_col, day_col, rating, *((second_rating,) if second_rating else ())):
        if col not in visits.columns:
            raise FootdropError(f"visits table has no column {col!r} (columns: {list(visits.columns)[:12]})")
    ids = pd.Index(pd.Series(patient_ids).astype(str))
    row = ids.get_indexer(visits[id_col].astype(str))
    day = pd.to_numeric(visits[day_col], errors="coerce").to_numpy(float)
    r1 = pd.to_numeric(visits[rating], errors="coerce").to_numpy(float)
    r2 = (pd.to_numeric(visits[second_rating], errors="coerce").to_numpy(float) if second_rating
          else np.full(day.size, np.nan))
    keep = (row >= 0) & (day > 0) & np.isfinite(r1)
    row, day, r1, r2 = row[keep], day[keep], r1[keep], r2[keep]
    order = np.lexsort((day, row))
    row, day, r1, r2 = row[order], day[order], r1[order], r2[order]
    n = ids.size
    counts = np.bincount(row, minlength=n)
    m = max(int(counts.max()) if counts.size else 0, 1)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    col = np.arange(row.size) - start[row]
    times = np.zeros((n, m))
    y1, s1, y2, s2 = (np.zeros((n, m)) for _ in range(4))
    times[row, col] = day / 7.0
    y1[row, col] = r1 >= threshold
    s1[row, col] = 1.0
    seen2 = np.isfinite(r2)
    y2[row[seen2], col[seen2]] = r2[seen2] >= threshold
    s2[row[seen2], col[seen2]] = 1.0
    # unused places: the last visit's time (no probability mass between equal times)
    last = np.where(counts > 0, times[np.arange(n), np.maximum(counts - 1, 0)], 0.0)
    unused = np.arange(m)[None, :] >= counts[:, None]
    times = np.where(unused, last[:, None], times)
    return times, y1, s1, y2, s2


@limit_threads
def fit_misclassified_cure(
    frame: pd.DataFrame,
    visits: pd.DataFrame,
    *,
    incidence_formula: str,
    latency_formula: str,
    exposure_table: pd.DataFrame,
    exposure: str = "cumulative_adherence",
    per: float = 0.1,
    rating: str = "mrc",
    second_rating: str | None = None,
    threshold: float = 4,
    error_rates: tuple[float, float] | None = None,
    near: float | None = None,
    plateau: bool = False,
    id_col: str = "patient_id",
    alpha: float = 0.05,
    max_iter: int = 1000,
) -> MisclassifiedCureResult:
    """Mixture cure model with a time-varying exposure for recovery read with error at visits.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per analysed patient: ``id_col`` and the covariates of both formulas.
    visits : pandas.DataFrame
        Visit rows: ``id_col``, ``day`` (days since onset) and ``rating`` (e.g. the MRC grade);
        rows of patients not in ``frame`` are ignored.
    incidence_formula, latency_formula : str
        Right-hand sides for who recovers (logistic) and when (Weibull PH, time-fixed terms).
    exposure_table : pandas.DataFrame
        Weekly rows ``id_col``, ``week``, ``exposure`` (as
        :func:`~footdrop_outcomes.survival.fit_time_varying_cure`).
    exposure : str
        Column of ``exposure_table``.
    per : float
        Unit of the reported hazard ratio (0.1 = per 10 percentage points).
    rating, second_rating : str
        Columns of ``visits``: the rating, and optionally an independent second rating of the
        same visit (missing where there is none, e.g. a reliability sample).
    threshold : float
        A reading is "recovered" when ``rating >= threshold``.
    error_rates : (float, float), optional
        Fixed false-recovery and missed-recovery probabilities ``(a, b)``; default: estimated.
        ``(0, 0)`` gives the cure model of the first reading >= ``threshold`` (for checks).
    near : float, optional
        A share ``rho`` in (0, 1): visits in ``[rho T, T)`` before the latent recovery time
        ``T`` are *near* recovery (the strength approaches the threshold) and read "recovered"
        with their own estimated rate. Default: one false-recovery rate before ``T``.
    plateau : bool
        Patients who never recover are, with an estimated probability, on a plateau just below
        the threshold at every visit, with their own false-recovery rate.
    alpha : float
        1 - confidence level.
    max_iter : int
        Maximum BFGS iterations; non-convergence raises
        :class:`~footdrop_outcomes.errors.ConvergenceError`.

    Returns
    -------
    MisclassifiedCureResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival import adherence_exposure, survival_frame
    >>> c = simulate_cohort(1500, seed=5, version=2)
    >>> keep = c.patients["cause"].isin(["peroneal_compression", "lumbar_radiculopathy"])
    >>> fit = fit_misclassified_cure(survival_frame(c)[keep.to_numpy()], c.visits, incidence_formula="cause",
    ...                              latency_formula="cause + severity", exposure_table=adherence_exposure(c.adherence))
    >>> fit.summary["term"].iloc[-1]
    'missed recovery rate'
    """
    _check_alpha(alpha)
    if not (isinstance(per, (int, float)) and per > 0):
        raise ConfigError(f"per must be a positive number, got {per!r}")
    if error_rates is not None and (len(error_rates) != 2 or not all(0 <= float(r) < 0.5 for r in error_rates)):
        raise ConfigError("error_rates must be two probabilities in [0, 0.5): (false recovery, missed recovery)")
    if near is not None and not (isinstance(near, (int, float)) and 0 < near < 1):
        raise ConfigError("near must be a share in (0, 1) of the latent recovery time, or None")
    if plateau and near is None:
        raise ConfigError("plateau=True needs near= (without a near window the near rate is not identifiable)")
    if error_rates is not None and (near is not None or plateau):
        raise ConfigError("error_rates (fixed) cannot be combined with near= or plateau= (estimated rates)")
    if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
        raise FootdropError("frame must be a non-empty pandas DataFrame (one row per patient)")
    if id_col not in frame.columns:
        raise FootdropError(f"frame has no column {id_col!r} to link patients to their visits")
    ids = frame[id_col].astype(str).to_numpy()
    times, y1, s1, y2, s2 = reading_matrix(visits, ids, rating=rating, second_rating=second_rating,
                                           threshold=threshold, id_col=id_col)
    ever = ((y1 * s1) > 0).any(axis=1)
    if not ever.any():
        raise FootdropError(f"no visit reads {rating} >= {threshold}: nothing to estimate recovery from")
    inc_design, z = _build_design(frame, incidence_formula, "incidence_formula", "frame")
    lat_design, v = _build_design(frame, latency_formula, "latency_formula", "frame")
    weeks = int(np.ceil(times.max() / (near or 1.0))) + 1
    x = exposure_matrix(exposure_table, ids, weeks, column=exposure, id_col=id_col) / per
    zs, back_z = _standardise(z, inc_design.terms)
    vs, back_v = _standardise(v, lat_design.terms)
    extended = near is not None or plateau
    model: _Model | _NearModel
    if extended:
        model = _NearModel(zs, vs, x, times, y1, s1, y2, s2, near or 1.0, plateau)
    else:
        model = _Model(zs, vs, x, times, y1, s1, y2, s2, error_rates)
    first = np.where((y1 * s1) > 0, times, np.inf).min(axis=1)
    a0 = _logistic_start(zs, ever.astype(float))
    b0 = np.zeros(v.shape[1])
    if "Intercept" in lat_design.terms:
        b0[lat_design.terms.index("Intercept")] = -2.0 * math.log(float(np.median(first[ever]))) + math.log(math.log(2))
    theta0 = np.r_[a0, b0, 0.0, math.log(2.0)]
    if extended:
        theta0 = np.r_[theta0, logit(0.03), logit(0.2), logit(0.03), *((logit(0.3), logit(0.1)) if plateau else ())]
    elif error_rates is None:
        theta0 = np.r_[theta0, logit(0.03), logit(0.03)]
    res = minimize(model.negloglik, theta0, jac=True, method="BFGS",
                   options={"maxiter": max_iter, "gtol": 1e-6 * max(1.0, len(frame) / 1000)})
    grad_norm = float(np.max(np.abs(res.jac)))
    if not np.isfinite(res.fun) or grad_norm > 1e-2:
        raise ConvergenceError(f"misclassification cure model did not converge ({res.message}; largest gradient "
                               f"{grad_norm:.3g}); check levels with few recoveries and the follow-up length")
    reading = (["false recovery rate", "false recovery rate near recovery", "missed recovery rate",
                *(("false recovery rate on a plateau", "plateau share of non-recoverers") if plateau else ())] if extended
               else ["false recovery rate", "missed recovery rate"] if error_rates is None else [])
    extra = len(reading)
    back = linalg.block_diag(back_z, back_v, np.eye(2 + extra))
    theta = back @ res.x
    names = [*(f"incidence:{t}" for t in inc_design.terms), *(f"latency:{t}" for t in lat_design.terms),
             f"latency:{exposure} per {per:g}", "latency:log(shape)", *(f"reading:{r}" for r in reading)]
    h = _hessian(model, res.x)
    cov = back @ _covariance(h, names) @ back.T
    se = np.sqrt(np.diag(cov))
    # coefficients that ran off to infinity (separation, one patient): refused as in fit_cure_model; the reading
    # rates are left out (a rate estimated at 0 is a legitimate boundary, reported as such)
    core = len(theta) - extra
    x_span = float(np.ptp(x)) if x.size else 0.0
    _check_divergence(theta[:core], se[:core], names[:core], np.r_[_spans(z, v)[:-1], x_span if x_span > 0 else 1.0, 1.0])
    zq = _zq(alpha)
    rows = []
    for j, name in enumerate(names):
        comp, term = name.split(":", 1)
        c, s = float(theta[j]), float(se[j])
        if comp == "reading":
            rows.append((comp, term, "probability", c, s, c / s, math.nan, float(expit(c)), float(expit(c - zq * s)),
                         float(expit(c + zq * s))))
            continue
        measure = "odds_ratio" if comp == "incidence" else ("shape" if term == "log(shape)" else "hazard_ratio")
        rows.append((comp, term, measure, c, s, c / s, float(_p_value(np.array(c / s))),
                     math.exp(c), math.exp(c - zq * s), math.exp(c + zq * s)))
    summary = pd.DataFrame(rows, columns=["component", "term", "measure", "coef", "se", "z", "p", "estimate", "lower", "upper"])
    rates = (tuple(float(expit(c)) for c in theta[len(theta) - extra:]) if extra
             else tuple(float(r) for r in error_rates))  # type: ignore[union-attr]
    info = {
        "method": ("mixture cure model (logistic incidence, Weibull PH latency with a weekly time-varying exposure) "
                   "for visit readings with constant misclassification rates (hidden absorbing state; ML)"),
        "incidence_formula": inc_design.formula, "latency_formula": lat_design.formula, "exposure": exposure,
        "per": per, "n": len(frame), "events": int(ever.sum()), "visits": int(s1.sum()),
        "second_readings": int(s2.sum()), "rating": rating, "second_rating": second_rating, "threshold": threshold,
        "error_rates": dict(zip(reading, rates)) if extra else rates, "error_rates_estimated": error_rates is None,
        "near": near, "plateau": plateau,
        "iterations": int(res.nit), "log_likelihood": -float(res.fun), "alpha": alpha, "time_unit": "weeks",
        "weeks": weeks, "max_abs_gradient": grad_norm,
        "reference_levels": {**{k: lev[0] for k, lev in inc_design.levels.items()}, **{k: lev[0] for k, lev in lat_design.levels.items()}},
        "se": "inverse of the central-difference Hessian of the analytic gradient", "versions": _versions(),
    }
    return MisclassifiedCureResult(summary=summary, info=info, params=pd.Series(theta, index=names),
                                   cov=pd.DataFrame(cov, index=names, columns=names), log_likelihood=-float(res.fun))


class _Model(_Guarded):
    """Negative log-likelihood and analytic gradient; parameters (a_inc, b_lat, g, log k[, logit a, logit b])."""

    def __init__(self, z: np.ndarray, v: np.ndarray, x: np.ndarray, times: np.ndarray, y1: np.ndarray, s1: np.ndarray,
                 y2: np.ndarray, s2: np.ndarray, error_rates: tuple[float, float] | None):
        self.z, self.v, self.x = z, v, x
        self.pz, self.pv = z.shape[1], v.shape[1]
        self.fixed = error_rates
        # readings per visit: counts of "recovered" and "not recovered" readings (first and second rater)
        self.n_pos = y1 * s1 + y2 * s2
        self.n_neg = (1 - y1) * s1 + (1 - y2) * s2
        self.n_read = s1 + s2
        self.t = times
        self.hazard = _HazardAt(x, times)

    def _negloglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        pz, pv = self.pz, self.pv
        a_inc, b_lat, g, logk = theta[:pz], theta[pz:pz + pv], theta[pz + pv], theta[pz + pv + 1]
        if self.fixed is None:
            ea, eb = float(expit(theta[-2])), float(expit(theta[-1]))
        else:
            ea, eb = self.fixed
        k = math.exp(logk)
        p = expit(self.z @ a_inc)
        hz, h_g, h_k = self.hazard(b_lat, self.v, g, k)
        zero = np.zeros((hz.shape[0], 1))
        s = np.exp(-hz)
        h_prev = np.hstack([zero, hz[:, :-1]])
        s_prev = np.exp(-h_prev)
        diff = s_prev * -np.expm1(-(hz - h_prev))  # P(T in (t_{k-1}, t_k]) / p, k = 1..m
        # W_k = prod_{j<k} P(y_j | not recovered) prod_{j>=k} P(y_j | recovered), k = 1..m+1 (log, rescaled per patient)
        la, l1a = (math.log(ea) if ea > 0 else -np.inf), math.log1p(-ea)
        lb, l1b = (math.log(eb) if eb > 0 else -np.inf), math.log1p(-eb)
        with np.errstate(invalid="ignore"):
            lf0 = np.where(self.n_pos > 0, self.n_pos * la, 0.0) + self.n_neg * l1a
            lf1 = self.n_pos * l1b + np.where(self.n_neg > 0, self.n_neg * lb, 0.0)
        log_a = np.hstack([zero, np.cumsum(lf0, axis=1)])
        log_b = np.hstack([np.cumsum(lf1[:, ::-1], axis=1)[:, ::-1], zero])
        log_w = log_a + log_b
        top = np.max(log_w, axis=1, keepdims=True)
        w = np.exp(log_w - top)
        sm = s[:, -1]
        w_last = w[:, -1]
        inner = np.sum(diff * w[:, :-1], axis=1)
        lik = p * inner + (1 - p + p * sm) * w_last
        ll = np.log(lik) + top[:, 0]
        # derivatives: L = p [W_1 + sum_j S_j (W_{j+1} - W_j)] + (1 - p) W_{m+1}
        d_h = -(p[:, None] * s * (w[:, 1:] - w[:, :-1])) / lik[:, None]
        d_eta = p * (1 - p) * (inner + sm * w_last - w_last) / lik
        grad = [self.z.T @ d_eta, self.v.T @ np.sum(d_h * hz, axis=1), np.sum(d_h * h_g), np.sum(d_h * h_k)]
        if self.fixed is None:
            # d log W_k / d logit(a) = sum_{j<k} (n_pos_j - a n_read_j); d / d logit(b) = sum_{j>=k} (n_neg_j - b n_read_j)
            ca = np.hstack([zero, np.cumsum(self.n_pos - ea * self.n_read, axis=1)])
            cb = np.hstack([np.cumsum((self.n_neg - eb * self.n_read)[:, ::-1], axis=1)[:, ::-1], zero])
            wa, wb = w * ca, w * cb
            last = (1 - p + p * sm)
            d_la = (p * np.sum(diff * wa[:, :-1], axis=1) + last * wa[:, -1]) / lik
            d_lb = (p * np.sum(diff * wb[:, :-1], axis=1) + last * wb[:, -1]) / lik
            grad += [np.array([d_la.sum()]), np.array([d_lb.sum()])]
        return -float(ll.sum()), -np.concatenate([np.atleast_1d(q) for q in grad])


class _NearModel(_Guarded):
    """The hidden-state likelihood with error rates that depend on how near the latent strength is to the threshold.

    States of a visit at time ``t`` for a patient who recovers at ``T``: *far* (``t < rho T``, false-recovery rate
    ``a``), *near* (``rho T <= t < T``: the strength approaches the threshold, rate ``a_near``), *recovered*
    (``t >= T``, missed-recovery rate ``b``). A patient who never recovers is *far* at every visit, or (probability
    ``q``, with ``plateau``) on a *plateau* just below the threshold at every visit (rate ``a_plateau``). The
    likelihood sums over the intervals between the breakpoints ``t_j`` and ``t_j / rho`` that can hold ``T``.
    Parameters (a_inc, b_lat, g, log k, logit a, logit a_near, logit b[, logit a_plateau, logit q]).
    """

    def __init__(self, z: np.ndarray, v: np.ndarray, x: np.ndarray, times: np.ndarray, y1: np.ndarray, s1: np.ndarray,
                 y2: np.ndarray, s2: np.ndarray, rho: float, plateau: bool):
        self.z, self.v, self.x = z, v, x
        self.pz, self.pv = z.shape[1], v.shape[1]
        self.plateau = plateau
        n = x.shape[0]
        self.n_pos = y1 * s1 + y2 * s2
        self.n_neg = (1 - y1) * s1 + (1 - y2) * s2
        self.n_read = s1 + s2
        bp = np.sort(np.hstack([times, times / rho]), axis=1)  # breakpoints, n x 2m
        self.hz = _HazardAt(x, bp)
        # each interval's representative T (midpoint; the last interval: beyond every breakpoint) and the visits' states
        lo = np.hstack([np.zeros((n, 1)), bp])
        hi = np.hstack([bp, np.full((n, 1), np.inf)])
        mid = np.where(np.isfinite(hi), 0.5 * (lo + hi), np.inf)[:, :, None]  # n x L x 1
        t = times[:, None, :]  # n x 1 x m
        self.m_rec = (mid <= t).astype(float)
        self.m_near = ((t < mid) & (mid <= t / rho)).astype(float)
        self.m_far = (mid > t / rho).astype(float)

    def _negloglik(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        pz, pv = self.pz, self.pv
        a_inc, b_lat, g, logk = theta[:pz], theta[pz:pz + pv], theta[pz + pv], theta[pz + pv + 1]
        r = expit(theta[pz + pv + 2:])
        ea, en, eb = r[0], r[1], r[2]
        p = expit(self.z @ a_inc)
        hz, h_g, h_k = self.hz(b_lat, self.v, g, math.exp(logk))
        s = np.exp(-hz)
        zero = np.zeros((s.shape[0], 1))
        s_lo = np.hstack([np.ones_like(zero), s])  # S at the start of each interval (S(0) = 1)
        h_lo = np.hstack([zero, hz])
        diff = np.hstack([s_lo[:, :-1] * -np.expm1(-(hz - h_lo[:, :-1])), s[:, -1:]])
        pos, neg, rd = self.n_pos[:, None, :], self.n_neg[:, None, :], self.n_read[:, None, :]

        def lf_a(rate: float) -> np.ndarray:  # log P(readings | a state read "recovered" with this rate)
            return pos * math.log(rate) + neg * math.log1p(-rate)

        lf_b = pos * math.log1p(-eb) + neg * math.log(eb)
        log_w = np.sum(self.m_far * lf_a(ea) + self.m_near * lf_a(en) + self.m_rec * lf_b, axis=2)  # n x L
        logs = [log_w]
        if self.plateau:
            ep, q = r[3], r[4]
            log_p = np.sum(lf_a(ep), axis=2)[:, 0]
            logs.append(log_p[:, None])
        top = np.max(np.hstack(logs), axis=1, keepdims=True)
        w = np.exp(log_w - top)
        fw = w[:, -1]
        cure = (1 - q) * fw + q * np.exp(log_p - top[:, 0]) if self.plateau else fw
        inner = np.sum(diff * w, axis=1)
        lik = p * inner + (1 - p) * cure
        ll = np.log(lik) + top[:, 0]
        d_h = -(p[:, None] * s * (w[:, 1:] - w[:, :-1])) / lik[:, None]
        d_eta = p * (1 - p) * (inner - cure) / lik
        grad = [self.z.T @ d_eta, self.v.T @ np.sum(d_h * hz, axis=1), np.sum(d_h * h_g), np.sum(d_h * h_k)]
        # rates: d log W / d logit(rate) = sum over the visits in that state of (readings against the rate)
        ca = pos - ea * rd
        cn = pos - en * rd
        cb = neg - eb * rd
        far_c = np.sum(self.m_far * ca, axis=2)
        for c_l, extra in ((far_c, (1 - q) * fw * far_c[:, -1] if self.plateau else fw * far_c[:, -1]),
                           (np.sum(self.m_near * cn, axis=2), 0.0), (np.sum(self.m_rec * cb, axis=2), 0.0)):
            grad.append(np.array([np.sum((p * np.sum(diff * w * c_l, axis=1) + (1 - p) * extra) / lik)]))
        if self.plateau:
            pw = np.exp(log_p - top[:, 0])
            cp = np.sum(pos - ep * rd, axis=2)[:, 0]
            grad.append(np.array([np.sum((1 - p) * q * pw * cp / lik)]))
            grad.append(np.array([np.sum((1 - p) * q * (1 - q) * (pw - fw) / lik)]))
        return -float(ll.sum()), -np.concatenate([np.atleast_1d(x) for x in grad])


class _HazardAt:
    """Cumulative Weibull PH hazard with a weekly step exposure at given times (patients x times), and its derivatives.

    A patient's hazard at its times needs the exposure of the weeks up to its last time only, so
    the patients are taken in blocks of similar follow-up (sorted by the weeks they need), each
    block over its own weeks: the running sums over the weeks are the same numbers as over all
    the weeks (a running sum's first terms do not depend on its later ones), at a fraction of the
    work when a few patients are followed much longer than most.
    """

    #: Blocks of patients (at most).
    BLOCKS = 8

    def __init__(self, x: np.ndarray, times: np.ndarray):
        weeks = x.shape[1]
        self.x = x
        self.f = np.minimum(np.floor(times), weeks - 1).astype(np.int64)
        self.t_pos = (times > 0).astype(float)
        self.log_t = np.log(np.where(times > 0, times, 1.0))
        week = np.arange(weeks + 1, dtype=float)
        self.week_pos, self.log_week = (week > 0).astype(float), np.log(np.maximum(week, 1.0))
        need = self.f.max(axis=1, initial=0) + 1  # weeks 0 .. the last week holding one of the patient's times
        self.blocks = []
        for idx, w in _follow_up_blocks(need, self.BLOCKS):
            xb, fb = x[idx, :w], self.f[idx]
            rows = np.arange(idx.size)[:, None]
            self.blocks.append((idx, xb, fb, rows, xb[rows, fb]))

    def __call__(self, b_lat: np.ndarray, v: np.ndarray, g: float, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = np.exp(v @ b_lat)
        pw = self.week_pos * np.exp(k * self.log_week)
        lpw = pw * self.log_week
        base_w, dk_w = pw[1:] - pw[:-1], k * (lpw[1:] - lpw[:-1])
        pt = self.t_pos * np.exp(k * self.log_t)
        part = pt - pw[self.f]
        part_k = k * (pt * self.log_t - lpw[self.f])
        h0, hg, hk = (np.empty(self.f.shape) for _ in range(3))
        for idx, xb, f, rows, x_f in self.blocks:
            w = xb.shape[1]
            ex = np.exp(g * xb)
            zero = np.zeros((ex.shape[0], 1))
            c0 = np.hstack([zero, np.cumsum(ex * base_w[:w], axis=1)])
            cg = np.hstack([zero, np.cumsum(ex * xb * base_w[:w], axis=1)])
            ck = np.hstack([zero, np.cumsum(ex * dk_w[:w], axis=1)])
            ex_f = ex[rows, f]
            sc = scale[idx][:, None]
            h0[idx] = sc * (c0[rows, f] + ex_f * part[idx])
            hg[idx] = sc * (cg[rows, f] + ex_f * x_f * part[idx])
            hk[idx] = sc * (ck[rows, f] + ex_f * part_k[idx])
        return h0, hg, hk


def _hessian(model: _Model | _NearModel, theta: np.ndarray) -> np.ndarray:
    """Hessian of the log-likelihood: central differences of the analytic gradient, symmetrised."""
    p = theta.size
    h = np.empty((p, p))
    for j in range(p):
        step = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(p)
        e[j] = step
        h[:, j] = (-model.negloglik(theta + e)[1] + model.negloglik(theta - e)[1]) / (2 * step)
    return 0.5 * (h + h.T)
