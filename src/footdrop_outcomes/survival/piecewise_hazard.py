"""Recovery curves from a piecewise hazard: interval-censored times with late entry.

Under late entry (left truncation) and interval censoring the Turnbull NPMLE puts all its mass in
Turnbull's innermost intervals and none between them; the truncation terms ``P(T > entry)`` of
patients first seen in those gaps then come out too large, and the shares recovered too small
(about 0.002-0.003 at 6, 12 and 26 weeks in a referral-cohort study, a shortfall that shrank
slowly if at all from 600 to 4,000 patients; docs/survival.md). A hazard modelled between knots
(the piecewise exponential model of Lindsey & Ryan 1998, *Stat Med* 17:219-238, for
interval-censored data) spreads the probability over time instead: every entry's ``P(T > entry)``
follows from the hazard before it. The price is a smoothness assumption. By default
(``hazard="linear"``) the hazard is continuous and linear between knots; a hazard constant within
each piece (``hazard="constant"``) puts probability too late where the true hazard rises (the
shares at week 6 about 0.002-0.003 low, 2 MC SE; the correctly specified parametric model on the
same data is unbiased there, so the shortfall was the steps', not the data's).

By default (``cure=True``) the piecewise hazard is that of the patients who recover, and a
fraction never do (a mixture cure model with the zero-tail constraint; :mod:`._piecewise_cure`).
One hazard for everyone (``cure=False``) has to smooth the collapse of the population hazard where
recovery stops within weeks and a share never recovers: with Weibull shape 3 its share at week 26
was 0.007 low with 80.5% CI coverage (600 patients, 400 replicates), where the cure model is within
1 MC SE (docs/survival.md). Either is a model-based sensitivity check beside Turnbull.

The likelihood of a patient first seen at ``e`` and recovered in ``(l, u]`` is
``[S(l) - S(u)] / S(e)`` (``S(l) / S(e)`` when not seen recovered). In the plain model
``S(t) = exp(-sum_k lambda_k B_k(t))``, with ``B_k`` the time spent in piece ``k`` (constant form) or
the integral of knot ``k``'s hat function (linear form; ``_piecewise_cure.hazard_basis``); either way
the likelihood is concave in the ``lambda_k >= 0``, so the maximum is unique where they are
identified; it is found by Newton steps on ``log lambda`` (a value whose maximum is at 0 is then
held there and the rest refitted).

Knots (default): the earliest entry (0 without late entry), the largest observed time, and
between them the ``k``-quantiles of the recovery interval ends (lower ends after the earliest
entry, finite upper ends), ``k = ceil(2 r^(1/3))`` for ``r`` patients seen recovered (3 to 100
pieces), merged with the ``ceil(k / 2)``-quantiles of all times at which the likelihood evaluates
the curve (entries too) when entries differ. The first set puts knots where patients recover, the
second also where they enter (the truncation terms need the early hazard). For the linear form
an inner knot on an observation time moves to the midpoint of it and the next one, and pieces with
no observation time inside are merged: the likelihood sees the hazard only through ``H`` at the
observation times, and with knots on the visits of a regular schedule the knot values would not be
identified (user-given knots that leave them unidentified fall back to the constant form). The rule was chosen on
one set of simulated seeds and checked once on fresh ones (benchmarks/study_turnbull_late_entry.py
``--estimators piecewise``; docs/survival.md): fewer pieces bias the shares (a constant hazard
over the first weeks), more pieces make the CIs conservative (hazards of narrow pieces pile up at
0, which the information matrix does not know).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.survival._entry import curve_start, enter_group, interval_times
from footdrop_outcomes.survival._input import (
    TimeUnit,
    as_frame,
    check_choice,
    check_columns,
)
from footdrop_outcomes.survival._piecewise_cure import (
    _ascent_step,
    fit_cure,
    hazard_basis,
)
from footdrop_outcomes.survival.curves import (
    POPULATION_ALL,
    CurveResult,
    CurveWarning,
    _check_alpha,
    _count_at_risk,
    _groups,
    _landmarks,
    _summarise,
    no_one_at_risk_rows,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["piecewise_hazard_curve"]

#: Points at which a group's curve is tabulated (plus its knots and the landmarks).
GRID_POINTS = 2000
#: Default knots: ``k = ceil(PIECES_FACTOR * r ** PIECES_POWER)`` pieces (``r`` patients seen recovered),
#: between MIN_PIECES and MAX_PIECES; the quantiles of all likelihood times add ``ceil(ENTRY_SHARE * k)``.
MIN_PIECES, MAX_PIECES = 3, 100
PIECES_FACTOR, PIECES_POWER = 2.0, 1 / 3
ENTRY_SHARE = 0.5
#: Cure model: warn when more than this share of all patients is put at the last recovery seen.
TAIL_MASS_WARN = 0.02


@limit_threads
def piecewise_hazard_curve(
    data: Cohort | pd.DataFrame,
    *,
    group: str | None = None,
    landmarks: Sequence[float] | None = None,
    tau: float | None = None,
    alpha: float = 0.05,
    lower_col: str = "lower",
    upper_col: str = "upper",
    entry_col: str | None = None,
    time_unit: TimeUnit = "weeks",
    knots: Sequence[float] | None = None,
    min_entered: int | None = None,
    min_at_risk: int = 10,
    cure: bool = True,
    hazard: Literal["constant", "linear"] = "linear",
    tol: float = 1e-10,
    max_iter: int = 500,
) -> CurveResult:
    """Recovery curve with a piecewise-constant hazard from interval-censored times, by group.

    The model-based companion of :func:`~footdrop_outcomes.survival.turnbull.turnbull` for late
    entry: it takes the same data and reports the same statistics, from a hazard that is constant
    between knots instead of masses on Turnbull's innermost intervals (see the module notes for
    why and when).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        As for :func:`~footdrop_outcomes.survival.turnbull.turnbull`: recovery in
        ``(lower, upper]`` (upper missing or ``inf``: not seen recovered).
    group, landmarks, tau, alpha, lower_col, upper_col, time_unit
        As in :func:`~footdrop_outcomes.survival.turnbull.turnbull`.
    entry_col : str, optional
        Late entry (left truncation): each patient's likelihood is conditional on not having
        recovered by first contact. Patients recovered by first contact are left out with a
        ``LateEntryWarning``; entry after the last visit is refused. As for Turnbull, the curve
        starts at ``s0``, the entry of the ``min_entered``-th patient (default: a tenth of the
        group, at least 10), and estimates ``P(T <= t | T > s0)``; the hazard itself is fitted
        from the earliest entry on, so no interval needs to be cut at ``s0``.
    knots : sequence of float, optional
        Piece boundaries in the analysis time unit (increasing). The first piece starts at the
        earliest entry (0 without late entry) and the last ends at the largest observed time
        whatever is given; knots outside are dropped. Default: see the module notes.
    min_entered : int, optional
        Curve start with late entry, as in :func:`~footdrop_outcomes.survival.turnbull.turnbull`.
    min_at_risk : int
        A median where fewer patients than this are at risk is "not identifiable" (no estimate),
        as for Turnbull: the model would otherwise place it from very few patients (with everyone
        recovered by the first visit, the hazard of the first piece has no finite maximum).
    cure : bool
        True (default): the piecewise hazard is that of the patients who recover, and a fraction
        ``pi`` never do, ``S(t) = pi + (1 - pi) exp(-H(t))`` up to the last time anyone was seen
        recovered and ``pi`` from then on (the zero-tail constraint; ``info["piecewise"][group]``
        gives ``cure_fraction`` and its SE). False: one piecewise hazard for everyone. Where
        recovery stops within weeks and a share never recovers, the plain model smooths the
        collapse of the population hazard over one piece and puts probability too late
        (docs/survival.md). A group with no recovery seen uses the plain model. The assumption
        needs follow-up long enough that whoever recovers has done so by the last recovery
        seen; otherwise those still to recover are put there and the curve jumps (``tail_mass``
        in ``info``: their share of all patients; above 2% a ``CurveWarning`` says so).
    hazard : {"linear", "constant"}
        Shape of the hazard between knots. ``"linear"`` (default): continuous and linear between
        the knots, with its values at the knots as the parameters (``info["piecewise"][group]
        ["hazard"]``; ``hazard_form`` says which). ``"constant"``: constant within each piece (the
        piecewise exponential model), whose steps put probability too late where the hazard rises
        (about 0.002-0.003 low at week 6 in the referral design; docs/survival.md).
    tol : float
        Convergence of the plain model: the Newton decrement (expected gain in log-likelihood) below ``tol`` and the
        optimality conditions met (gradient at most ``sqrt(tol)`` times the patients where a
        hazard is 0).
    max_iter : int
        Maximum Newton steps; a fit that has not converged raises
        :class:`~footdrop_outcomes.errors.FootdropError`.

    Returns
    -------
    CurveResult
        ``summary`` with the rows of :func:`~footdrop_outcomes.survival.turnbull.turnbull`
        (``median``, ``recovered_by`` at the landmarks, ``rmst``), model-based points (a median
        with fewer than ``min_at_risk`` at risk: ``"not identifiable"``); pointwise CIs on the
        arcsine-square-root scale from the observed information (delta method; a hazard at 0
        counts as known; :func:`arcsine_limits`).
        Where no recovery has been seen since the curve's start the estimate is 0 and the upper
        limit is missing (the model gives no interval there), as a note says. ``curves``
        tabulates each group's curve at 2,000 points, the knots and the landmarks (the median is
        read off it by linear interpolation). ``info["piecewise"][group]`` holds ``model``,
        ``knots``, ``hazard`` (per time unit), ``se``, ``log_likelihood``, ``iterations`` and
        ``converged``, and for the cure model ``cure_fraction``, ``cure_fraction_se``,
        ``last_recovery`` and ``tail_mass``; with late entry ``curve_start`` and
        ``excluded_at_entry`` as for Turnbull.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> pw = piecewise_hazard_curve(simulate_cohort(400, seed=3), group="severity", landmarks=[12], cure=False)
    >>> sorted(pw.summary["statistic"].unique())
    ['median', 'recovered_by', 'rmst']
    >>> bool(pw.summary["identified"].all())
    True
    """
    _check_alpha(alpha)
    if min_entered is not None and not (isinstance(min_entered, int | np.integer) and min_entered >= 1):
        raise ConfigError(f"min_entered must be a positive whole number, got {min_entered!r}")
    if not (isinstance(min_at_risk, int | np.integer) and min_at_risk >= 1):
        raise ConfigError(f"min_at_risk must be a positive whole number, got {min_at_risk!r}")
    if not (isinstance(max_iter, int | np.integer) and max_iter >= 1):
        raise ConfigError(f"max_iter must be a positive whole number, got {max_iter!r}")
    if not (isinstance(tol, float | int) and 0 < tol < 1):
        raise ConfigError(f"tol must be in (0, 1), got {tol!r}")
    check_choice("hazard", hazard, ("constant", "linear"))
    user_knots = _check_knots(knots)
    df = as_frame(data, time_unit=time_unit)
    check_columns(df, lower_col=lower_col, upper_col=upper_col)
    landmarks_, tau_ = _landmarks(landmarks, tau, time_unit)
    z = float(norm.ppf(1 - alpha / 2))
    lower_all, upper_all, entry_all = interval_times(data, df, lower_col=lower_col, upper_col=upper_col,
                                                     entry_col=entry_col, time_unit=time_unit)
    groups = _groups(df, group)
    curves, rows, fits, risk, excluded, start, notes = [], [], {}, {}, {}, {}, {}
    for label, idx in groups:
        lo, up = lower_all[idx], upper_all[idx]
        entry = np.zeros(lo.size)
        s0 = 0.0
        if entry_all is not None:
            lo, up, entry, excluded[label] = enter_group(df.iloc[idx], lo, up, entry_all[idx], entry_col=str(entry_col),
                                                         label=label)
            if up.size == 0:
                risk[label] = np.empty((2, 0))
                rows.extend(no_one_at_risk_rows(label, landmarks_, tau_))
                continue
            k = min_entered if min_entered is not None else max(10, math.ceil(0.1 * entry.size))
            _, _, _, start[label] = curve_start(lo, up, entry, min_entered=k)
            start[label]["min_entered"] = k
            s0 = float(start[label]["start"])
        if lo.size == 0:
            raise FootdropError(f"group {label!r} has no patients")
        cuts = _knots_for(lo, up, entry, user_knots)
        form = hazard
        if hazard == "linear":
            if cure and np.isfinite(up).any():  # the cure model's hazard ends at the last recovery seen
                t_last = float(up[np.isfinite(up)].max())
                cuts = np.unique(np.r_[cuts[cuts < t_last], t_last])
            cuts = _off_visits(cuts, lo, up, entry) if user_knots is None else cuts
            if not _linear_identified(cuts, lo, up, entry, cure and np.isfinite(up).any()):
                form = "constant"
                notes[label] = ("the linear hazard is not identified with these knots (a piece without a visit time "
                                "inside it); the constant form was fitted")
                warnings.warn(f"group {label!r}: {notes[label]} (info['piecewise'][group]['hazard_form'])", CurveWarning,
                              stacklevel=3)
        if cure and np.isfinite(up).any():
            fit = fit_cure(lo, up, entry, cuts, max_iter=max_iter, label=label, linear=form == "linear")
            if fit["tail_mass"] > TAIL_MASS_WARN:
                # no value of the data in the message: the share and the time are in info
                warnings.warn(f"group {label!r}: the cure model puts the recovery of more than {TAIL_MASS_WARN:.0%} of the "
                              "patients at the last recovery seen (info['piecewise'][group]['tail_mass'] and "
                              "['last_recovery']): follow-up may be too short for its assumption that whoever recovers "
                              "has done so by then; the curve jumps there (compare turnbull, or cure=False)",
                              CurveWarning, stacklevel=3)
        else:
            fit = _fit(lo, up, entry, cuts, tol=tol, max_iter=max_iter, label=label, linear=form == "linear")
            fit["model"] = "hazard"
        fits[label] = {k: v for k, v in fit.items() if k not in ("cov", "log_surv", "params")}
        if label in notes:
            fits[label]["note"] = notes[label]
        c, area = _curve(fit, s0, np.asarray(landmarks_, dtype=float), tau_, z)
        c.insert(0, "group", label)
        curves.append(c)
        risk[label] = np.sort(lo) if entry_all is None else np.vstack([np.sort(lo), np.sort(entry)])
        group_rows = _summarise(c, label, np.where(np.isfinite(up), up, lo), np.isfinite(up), landmarks_, tau_,
                                method="piecewise_hazard", alpha=alpha, rmst=area, risk=risk[label], warn_tau=tau is not None)
        _identify(group_rows, risk[label], min_at_risk)
        if s0 > 0:  # a late-entry curve is conditional on T > s0
            unit = df.attrs.get("time_unit", time_unit)
            for r in group_rows:
                r["population"] = f"patients not recovered by {s0:.3g} {unit} (late entry)"
        rows.extend(group_rows)
    info: dict[str, Any] = {
        "method": "piecewise_hazard", "hazard_form": _form(fits, hazard), "group": group, "n": len(df), "events": int(np.isfinite(upper_all).sum()),
        "groups": len(groups), "conf_type": "arcsine-square-root", "alpha": alpha, "landmarks": landmarks_, "tau": tau_,
        "time_unit": df.attrs.get("time_unit", time_unit), "piecewise": fits, "population": POPULATION_ALL,
        "entry_col": entry_col}
    if entry_all is not None:
        info.update(excluded_at_entry=excluded, earliest_entry=float(entry_all.min()) if entry_all.size else 0.0,
                    curve_start=start, min_entered=min_entered)
    table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["group", "time", "survival", "se", "lower", "upper", "n_at_risk", "events"])
    return CurveResult(summary=pd.DataFrame(rows), info=info, curves=table, at_risk_times=risk)


NO_RECOVERY_SEEN = "no recovery seen since the curve's start: estimate 0, no model-based upper limit"


def _identify(rows: list[dict[str, Any]], risk: np.ndarray, min_at_risk: int) -> None:
    """A median with too few at risk is not identifiable; a share of 0 has no upper limit (say so)."""
    for r in rows:
        if r["statistic"] == "median" and np.isfinite(r["estimate"]):
            if int(_count_at_risk(risk, np.array([r["estimate"]]))[0]) < min_at_risk:
                r.update(estimate=np.nan, lower=np.nan, upper=np.nan, identified=False, identification="not identifiable",
                         set_lower=np.nan, set_upper=np.nan,
                         note=f"not identifiable: fewer than {min_at_risk} patients at risk where the curve reaches one half")
        elif r["statistic"] == "recovered_by" and r["estimate"] == 0:
            r.update(upper=np.nan, note=NO_RECOVERY_SEEN)


# ------------------------------------------------------------------------------------------------
# knots


def _check_knots(knots: Sequence[float] | None) -> np.ndarray | None:
    if knots is None:
        return None
    arr = np.asarray(knots, dtype=float)
    if arr.ndim != 1 or not np.isfinite(arr).all() or (np.diff(arr) <= 0).any():
        raise ConfigError("knots must be finite and strictly increasing")
    return arr


def default_knots(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, last: float) -> np.ndarray:
    """The default piece boundaries (module notes): from the earliest entry to ``last``, the largest observed time."""
    fin = np.isfinite(upper)
    origin = float(entry.min())
    ends = np.r_[lower[lower > origin], upper[fin]]
    k = int(np.clip(math.ceil(PIECES_FACTOR * max(int(fin.sum()), 1) ** PIECES_POWER), MIN_PIECES, MAX_PIECES))
    probs = np.arange(1, k) / k
    inner = [np.quantile(ends, probs)] if ends.size else []
    pooled = np.r_[entry, lower[lower > entry], upper[fin]]
    if np.ptp(entry) > 0:
        ke = max(2, math.ceil(ENTRY_SHARE * k))
        inner.append(np.quantile(pooled, np.arange(1, ke) / ke))
    cuts = np.unique(np.r_[origin, *inner, last]) if inner else np.array([origin, last])
    return cuts[(cuts >= origin) & (cuts <= last)]


def _knots_for(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, user: np.ndarray | None) -> np.ndarray:
    origin = float(entry.min())
    last = float(max(np.max(upper[np.isfinite(upper)], initial=origin), lower.max()))
    if last <= origin:
        raise FootdropError("no follow-up after first contact: every patient's last visit is at entry")
    if user is None:
        cuts = default_knots(lower, upper, entry, last)
    else:
        cuts = np.unique(np.r_[origin, user[(user > origin) & (user < last)], last])
    # a piece nobody is under observation in has no hazard to estimate: merge it into the next
    exposure = _exposure_by_piece(cuts, entry, np.where(np.isfinite(upper), upper, lower))
    keep = np.r_[True, exposure > 0]
    keep[-1] = True
    if not keep.all():
        cuts = cuts[keep]
    return cuts


def _form(fits: dict[str, dict[str, Any]], asked: str) -> str:
    """The hazard form of the result: the one every group was fitted with, "mixed" when a group fell
    back to the constant form (each group's is in its own entry)."""
    forms = {f["hazard_form"] for f in fits.values()}
    return forms.pop() if len(forms) == 1 else ("mixed" if forms else asked)


def _observation_times(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """Every time at which the likelihood evaluates the curve: entries and both interval ends."""
    return np.unique(np.r_[entry, lower, upper[np.isfinite(upper)]])


def _off_visits(cuts: np.ndarray, lower: np.ndarray, upper: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """Default knots for the linear form: an inner knot on an observation time moves to the midpoint
    between it and the next one, and pieces still without
    an observation time inside are merged, so that visit times fall inside every piece. The likelihood sees the hazard only through H at the observation times; with
    every knot on a visit of a regular schedule, only each piece's integral is seen, and the knot
    values can zig-zag without changing it (not identified)."""
    obs = _observation_times(lower, upper, entry)
    inner = []
    for c in cuts[1:-1]:
        i = int(np.searchsorted(obs, c))
        if i < obs.size and np.isclose(obs[i], c, rtol=0.0, atol=1e-9 * max(1.0, abs(c))):
            if i + 1 < obs.size:
                c = 0.5 * (obs[i] + obs[i + 1])
        inner.append(c)
    out = np.unique(np.r_[cuts[0], inner, cuts[-1]])
    out = out[(out >= cuts[0]) & (out <= cuts[-1])]
    # a piece with no observation time strictly inside it is merged into its neighbour (the last one's
    # end knot, at the last time seen, would otherwise be told apart from the knot before it only
    # through one integral)
    while out.size > 2:
        empty = [j for j in range(out.size - 1) if not ((obs > out[j]) & (obs < out[j + 1])).any()]
        if not empty:
            break
        j = empty[0]
        out = np.delete(out, j + 1 if j + 1 < out.size - 1 else j)
    return out


def _linear_identified(cuts: np.ndarray, lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, cure: bool) -> bool:
    """True when the knot values of a linear hazard are determined by H at the observation times
    (the basis at those times has full column rank)."""
    obs = _observation_times(lower, upper, entry)
    if cure:  # the cure model's hazard ends at the last recovery seen
        obs = obs[obs <= upper[np.isfinite(upper)].max()]
    basis = hazard_basis(cuts, obs, linear=True, run_on=not cure) - hazard_basis(cuts, np.array([cuts[0]]), linear=True,
                                                                                     run_on=not cure)
    sv = np.linalg.svd(basis / max(float(np.abs(basis).max()), 1e-300), compute_uv=False)
    return bool(sv.size == cuts.size and sv[-1] > 1e-8 * sv[0])


def _exposure_by_piece(cuts: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    return (hazard_basis(cuts, stop, run_on=True) - hazard_basis(cuts, start, run_on=True)).sum(axis=0)


# ------------------------------------------------------------------------------------------------
# fit


def _fit(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, cuts: np.ndarray, *, tol: float, max_iter: int,
         label: str, linear: bool = False) -> dict[str, Any]:
    """Maximum likelihood hazards by projected Newton on ``lambda >= 0`` (the log-likelihood is concave)."""
    fin = np.isfinite(upper)
    xl, xe = (hazard_basis(cuts, t, linear=linear, run_on=True) for t in (lower, entry))
    d = hazard_basis(cuts, upper[fin], linear=linear, run_on=True) - xl[fin]
    a = (xe - xl).sum(axis=0)  # the linear part: log S(e) - log S(l), summed
    k = xl.shape[1]
    n = lower.size

    def loglik(lam: np.ndarray) -> float:
        with np.errstate(divide="ignore"):
            return float(a @ lam + np.log(-np.expm1(-(d @ lam))).sum())

    def grad_hess(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = 1.0 / np.expm1(d @ lam)
        return a + d.T @ w, -(d.T * (w * (1.0 + w))) @ d

    # a hazard that no recovery interval overlaps appears only in -lambda * time at risk: its maximum is 0
    fixed = ~(d != 0).any(axis=0)
    exposure = (xl - xe).sum() + d.sum() / 2
    unit = max(int(fin.sum()), 1) / max(exposure, 1e-300)  # the constant-hazard estimate
    # Newton on theta = log(lambda) for the other pieces (damped where the Hessian in theta is not
    # negative definite); a hazard whose maximum is 0 then falls by about e per step, and its
    # gradient in theta (lambda times the gradient in lambda) vanishes with it.
    def newton(held: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, float, bool, int]:
        free = ~held
        theta = np.log(start[free])

        def lam_of(th: np.ndarray) -> np.ndarray:
            out = np.zeros(k)
            out[free] = np.exp(th)
            return out

        lam = lam_of(theta)
        ll = loglik(lam)
        for it in range(1, max_iter + 1):
            g, h = grad_hess(lam)
            lf, gf = lam[free], g[free]
            g_th = gf * lf
            h_th = lf[:, None] * h[np.ix_(free, free)] * lf[None, :] + np.diag(g_th)
            step = _ascent_step(-h_th, g_th)
            decrement = float(g_th @ step) / 2
            if decrement < tol and float(np.max(np.abs(g_th), initial=0.0)) <= math.sqrt(tol) * n:
                return lam, ll, True, it
            t = min(1.0, 5.0 / float(np.max(np.abs(step), initial=1e-300)))  # theta moves by at most 5 per step
            while t >= 1e-12:
                cand = lam_of(theta + t * step)
                ll_c = loglik(cand)
                if np.isfinite(ll_c) and ll_c >= ll:
                    break
                t /= 2
            if t < 1e-12:  # no ascent left along the Newton step: the maximum up to rounding
                return lam, ll, decrement < math.sqrt(tol), it
            theta, lam, ll = theta + t * step, cand, ll_c
        return lam, ll, False, max_iter

    lam, ll, converged, it = newton(fixed, np.full(k, unit))
    if converged:
        # hazards on their way to 0 whose gradient says the maximum is there (the bound lambda >= 0 is
        # active): held at 0, the others fitted again, so that the information is that of the free pieces
        g, _ = grad_hess(lam)
        bound = ~fixed & (lam < 1e-3 * unit) & (g * unit < -1e-3 * n)
        if bound.any():
            lam, ll, converged, it2 = newton(fixed | bound, np.where(fixed | bound, 0.0, np.maximum(lam, 1e-6 * unit)))
            it += it2
            g, _ = grad_hess(lam)
            converged = converged and bool(np.all(g[bound] <= 0))
    lam[lam < 1e-9 * unit] = 0.0  # hazards on their way to 0 (they change the curve by < 1e-9 per unit of time)
    if not converged:
        raise FootdropError(f"group {label!r}: the piecewise-hazard fit did not converge in {max_iter} Newton steps")
    g, h = grad_hess(lam)
    free = lam > 0
    cov = np.zeros((k, k))
    if free.any():
        hf = -h[np.ix_(free, free)]
        try:
            cov[np.ix_(free, free)] = np.linalg.inv(hf)
        except np.linalg.LinAlgError:
            cov[np.ix_(free, free)] = np.linalg.pinv(hf)
    return {"knots": cuts, "hazard": lam, "se": np.sqrt(np.clip(np.diag(cov), 0.0, None)), "cov": cov,
            "log_surv": _log_surv_plain,
            "log_likelihood": ll, "iterations": it, "converged": converged, "hazard_form": "linear" if linear else "constant"}


# ------------------------------------------------------------------------------------------------
# curve


def arcsine_limits(surv: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits of S on the arcsine-square-root scale (Borgan & Liestol 1990, *Scand J Stat*
    17:35-41): ``sin^2(arcsin(sqrt(S)) -+ z se / (2 sqrt(S (1 - S))))``, held within [0, pi/2].

    Unlike the log-log scale it stays sensible where the cumulative hazard is small and barely
    determined (a hazard that starts near 0): there the log-log limits ``exp(-H e^(+-z se/H))`` run off
    to 0 within days of the start, and a median's lower limit with them. Where ``S = 1`` the limits
    are 1 (the caller leaves out the lower one where no recovery has been seen)."""
    s = np.clip(surv, 0.0, 1.0)
    g = np.arcsin(np.sqrt(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        se_g = np.where((s > 0) & (s < 1), se / (2.0 * np.sqrt(s * (1.0 - s))), 0.0)
    lower = np.sin(np.clip(g - z * se_g, 0.0, np.pi / 2)) ** 2
    upper = np.sin(np.clip(g + z * se_g, 0.0, np.pi / 2)) ** 2
    return lower, upper


def _log_surv_plain(fit: dict[str, Any], grid: np.ndarray, s0: float) -> tuple[np.ndarray, np.ndarray]:
    """log S(t | T > s0) of the plain model on ``grid`` and its gradient in the hazards."""
    linear = fit["hazard_form"] == "linear"
    x = (hazard_basis(fit["knots"], grid, linear=linear, run_on=True)
         - hazard_basis(fit["knots"], np.array([s0]), linear=linear, run_on=True))  # exposure from s0
    return -(x @ fit["hazard"]), -x


def _curve(fit: dict[str, Any], s0: float, landmarks: np.ndarray, tau: float, z: float) -> tuple[pd.DataFrame, tuple[float, float]]:
    """The curve from ``s0`` (1 before it) on a grid, with arcsine-square-root CIs; the area up to tau with its SE.

    ``fit["log_surv"](fit, grid, s0)`` gives ``log S(t | T > s0)`` and its gradient in the parameters
    whose covariance is ``fit["cov"]``."""
    cuts, cov = fit["knots"], fit["cov"]
    last = float(cuts[-1])
    inside = landmarks[(landmarks > s0) & (landmarks < last)]
    grid = np.unique(np.r_[s0, np.linspace(s0, last, GRID_POINTS), cuts[(cuts > s0) & (cuts <= last)], inside,
                           min(max(tau, s0), last)])
    logs, jac = fit["log_surv"](fit, grid, s0)
    cum = np.clip(-logs, 0.0, None)  # -log S(t | T > s0)
    var = np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0, None)
    surv = np.exp(-cum)
    lower, upper = arcsine_limits(surv, surv * np.sqrt(var), z)
    lower = np.where((cum <= 0) & (grid > s0), np.nan, lower)  # no recovery seen yet: no model-based limit
    curve = pd.DataFrame({"time": grid, "survival": surv, "se": surv * np.sqrt(var),
                          "lower": lower, "upper": upper, "n_at_risk": np.nan, "events": np.nan})
    # area under the curve from 0 to tau (1 before s0; beyond the last time the curve stays at its last value)
    upto = grid <= tau
    area = min(tau, s0) + (float(np.trapezoid(surv[upto], grid[upto])) if upto.sum() > 1 else 0.0)
    dgrad = (np.trapezoid(surv[upto][:, None] * jac[upto], grid[upto], axis=0) if upto.sum() > 1
             else np.zeros(cov.shape[0]))
    if tau > last:
        area += float(surv[-1]) * (tau - last)
        dgrad = dgrad + surv[-1] * jac[-1] * (tau - last)
    se_area = float(np.sqrt(max(dgrad @ cov @ dgrad, 0.0)))
    return curve, (area, se_area)
