"""Turnbull NPMLE of the recovery curve from interval-censored times, and what it identifies.

Recovery is seen only at visits, so the time to recovery is known to lie in ``(lower, upper]``
(the last visit without and the first visit with MRC >= threshold). Turnbull's NPMLE puts mass
on *innermost intervals* (Turnbull 1976; fitted by a few EM steps and then a constrained Newton
method on the support) but says nothing about where inside an innermost interval the mass sits:
the recovery curve is identified only outside them. This module

* draws the curve as a straight line across each innermost interval (SAS ICLIFETEST's
  convention), with pointwise CIs from the observed information of the non-zero masses (delta
  method, log-log transform);
* reports, for the median and each landmark share, the **identified set**: the values the
  statistic takes over every curve with the NPMLE's masses (mass at the left vs the right end of
  each innermost interval). A median that falls inside a wide innermost interval (e.g. between
  the 26- and 52-week visits) is only known to lie in that interval;
* gives CIs that cover the whole identified set: the lower limit from the pointwise CIs of the
  earliest curve (all mass at left ends), the upper limit from those of the latest curve (all
  mass at right ends), by test inversion (Brookmeyer & Crowley 1982 for the median). Where the
  set is narrow this is the usual CI; where it is wide, the CI is honest about it. The median's
  limits also allow for recoveries the NPMLE has moved out of an unvisited gap between visit
  windows (the mass of patients whose interval spans the gap) and reach to the nearest
  well-attended visit (sparse visits, mostly late first visits, depend on recovery).

A median is a point only where the data pin it down: its identified set is narrow next to its
CI *and* the CI stays in visited time (interval ends at most two weeks apart). There its CI is
nominal (coverage of the latent median about 95% with visits every 1-3 weeks:
tests/survival/test_turnbull_coverage.py, benchmarks/study_turnbull_coverage.py); elsewhere it
is a set, with a CI that covers the set (conservative by construction: the truth may lie anywhere
in it). With late entry (``entry_col``) the fit maximises the likelihood conditional on not
having recovered by first contact (Turnbull 1976) over distributions with their mass in
Turnbull's innermost intervals; an innermost interval that holds an entry counts before it (the
placement the likelihood prefers). Frydman's (1994) NPMLE, which also allows mass on cells that
end at an entry outside every innermost interval, biased the shares upwards; spreading the mass
evenly, downwards (docs/survival.md). The rule still leaves late-entry shares about 0.002-0.004 low;
:func:`~footdrop_outcomes.survival.piecewise_hazard.piecewise_hazard_curve` fits the same data with a
piecewise-constant hazard and a fraction who never recover, as a model-based sensitivity check
(docs/survival.md).

The estimand is the curve of *all patients*: non-recoverers count as not yet recovered at every
time, so "median" means the time by which half of all patients had recovered (see
:data:`POPULATION_ALL`); a cure model's median among those who recover is a different number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.survival._entry import curve_start, enter_group, interval_times
from footdrop_outcomes.survival._input import (
    DAYS_PER,
    TimeUnit,
    as_frame,
    check_columns,
)
from footdrop_outcomes.survival._turnbull_solver import _turnbull_cov, _turnbull_fit
from footdrop_outcomes.survival.curves import (
    _TOL,
    POPULATION_ALL,
    CurveResult,
    _check_alpha,
    _ci,
    _count_at_risk,
    _groups,
    _landmarks,
    _summarise,
    no_one_at_risk_rows,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["Identification", "turnbull"]

#: How a statistic is known from the data: a point (the identified set is narrow next to the CI),
#: a set (an interval of values all fitting the data equally well), not reached (the curve does
#: not reach one half within follow-up) or not identifiable (too few patients at risk).
Identification = Literal["point", "set", "not reached", "not identifiable"]


@limit_threads
def turnbull(
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
    tol: float = 1e-9,
    max_iter: int = 20_000,
    min_at_risk: int = 10,
    identification_ratio: float = 0.25,
    min_entered: int | None = None,
) -> CurveResult:
    """Turnbull NPMLE of the recovery curve from interval-censored times, by group.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (recovery in ``(lower, upper]`` between visits) or one row per patient with
        ``lower_col`` and ``upper_col`` (upper missing or ``inf``: not seen recovered; lower 0:
        already recovered at the first visit).
    group, landmarks, tau, alpha, time_unit
        As in :func:`kaplan_meier`.
    lower_col, upper_col : str
        Interval columns of a DataFrame.
    entry_col : str, optional
        Late entry (left truncation), as in :func:`kaplan_meier`: each patient counts from first
        contact on, through the conditional likelihood ``P(lower < T <= upper) / P(T > entry)``
        (Turnbull 1976), maximised over masses on Turnbull's innermost intervals of the recovery
        intervals: the NPMLE among distributions with their mass there. The recovery intervals
        do not say where inside an innermost interval ``(q, p]`` its mass lies; one holding an
        entry ``e`` counts wholly before ``e``, where the likelihood is largest (the open interval
        ``(q, inf]`` of patients never seen recovered counts after every entry). The curve is
        still drawn linearly across each innermost interval. Frydman's (1994) NPMLE, which also
        puts mass on cells ending at an entry outside every innermost interval, overstated the
        shares in simulations, spreading the mass evenly understated them (docs/survival.md).
        A lower end before entry is moved
        to entry; entry after the last visit (``upper``, or ``lower`` if not seen recovered) is
        refused; patients recovered by first contact (``upper <= entry``) are left out with a
        warning and counted in ``info["excluded_at_entry"]``. The curve starts where
        ``min_entered`` patients have been seen (see ``min_entered``).
    tol : float
        Convergence tolerance on the optimality condition: every reduced gradient ``d_j`` is at
        most ``1 + tol`` (the log-likelihood is then within ``n * tol`` of its maximum).
    max_iter : int
        Maximum number of (accelerated) EM steps; a fit that has not converged raises
        :class:`~footdrop_outcomes.errors.ConvergenceError`.
    min_at_risk : int
        A median whose identified set starts where fewer patients than this are still at risk
        (seen unrecovered at or after that time) is "not identifiable": no estimate, no CI.
    identification_ratio : float
        A statistic counts as point-identified when its identified set is at most this share of
        the width of its CI (the partial identification then adds little to the sampling
        uncertainty); otherwise it is reported as a set.
    min_entered : int, optional
        With late entry, the curve starts at the entry time ``s0`` of the ``min_entered``-th
        patient of the group and estimates ``P(T <= t | T > s0)``: before ``s0`` too few patients
        are under observation to identify it (one patient recovering there would otherwise take
        all the mass, and a small early risk set biases every later share upwards). Default: a
        tenth of the group, at least 10 (in a referral-cohort study with entry uniform over 0-8
        weeks the share at week 12 was biased by +0.022 with 10 at n = 600, +0.006 with 60-75,
        measured with the entry-cut NPMLE; docs/survival.md). Patients seen recovered by ``s0``
        are left out, those first seen earlier enter at ``s0``; a recovery interval that
        straddles ``s0`` counts with weight ``(upper - s0) / (upper - lower)``, the chance that
        the patient had not recovered by ``s0`` (recovery spread evenly over the interval; counting
        them whole biased the shares upwards, by +0.017 at week 6 with ``min_entered=60`` at
        n = 200; with the straddlers' true status instead of the weight the shares moved by
        +0.001 at most). ``info["curve_start"]`` gives ``s0`` and these counts per group.
        ``s0`` is the earliest entry when that many patients enter then (e.g. at onset);
        ``min_entered=1`` always starts at the earliest entry.

    Returns
    -------
    CurveResult
        ``summary`` as for :func:`kaplan_meier`, plus for each row ``identification``
        (``"point"``, ``"set"``, ``"not reached"``, ``"not identifiable"``), ``identified``
        (``identification == "point"``), ``set_lower`` / ``set_upper`` (the identified set: the
        values the statistic takes over every curve that fits the data as well as the NPMLE)
        and ``population`` (:data:`~footdrop_outcomes.survival.curves.POPULATION_ALL`).
        ``lower`` / ``upper`` cover the whole identified set. ``estimate`` is the value on the
        linearly interpolated curve (inside the set; a conventional choice where the set is
        wide), and NaN where the median is not reached or not identifiable.
        ``info["innermost_intervals"]`` gives, per group, the number of innermost intervals and
        of those with positive mass; ``info["iterations"]`` the EM steps.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> tb = turnbull(simulate_cohort(500, seed=3), group="severity")
    >>> sorted(tb.summary["statistic"].unique())
    ['median', 'recovered_by', 'rmst']
    >>> med = tb.summary.query("statistic == 'median'")
    >>> set(med["identification"]) <= {"point", "set", "not reached", "not identifiable"}
    True
    >>> bool((med["population"] == "all patients").all())
    True
    """
    _check_alpha(alpha)
    if not (isinstance(min_at_risk, int | np.integer) and min_at_risk >= 1):
        raise ConfigError(f"min_at_risk must be a positive whole number, got {min_at_risk!r}")
    if min_entered is not None and not (isinstance(min_entered, int | np.integer) and min_entered >= 1):
        raise ConfigError(f"min_entered must be a positive whole number, got {min_entered!r}")
    if not 0 <= identification_ratio < 1:
        raise ConfigError(f"identification_ratio must be in [0, 1), got {identification_ratio!r}")
    df = as_frame(data, time_unit=time_unit)
    check_columns(df, lower_col=lower_col, upper_col=upper_col)
    landmarks_, tau_ = _landmarks(landmarks, tau, time_unit)
    z = norm.ppf(1 - alpha / 2)
    lower_all, upper_all, entry_all = interval_times(data, df, lower_col=lower_col, upper_col=upper_col,
                                                     entry_col=entry_col, time_unit=time_unit)
    groups = _groups(df, group)
    curves, rows, inner, iters, risk, excluded, start = [], [], {}, {}, {}, {}, {}
    for label, idx in groups:
        lo, up, entry, weight = lower_all[idx], upper_all[idx], None, None
        if entry_all is not None:
            lo, up, entry, excluded[label] = enter_group(df.iloc[idx], lo, up, entry_all[idx], entry_col=str(entry_col),
                                                         label=label)
            if up.size == 0:  # everyone in the group had recovered when first seen
                risk[label] = np.empty((2, 0))
                rows.extend(no_one_at_risk_rows(label, landmarks_, tau_))
                continue
            k = min_entered if min_entered is not None else max(10, math.ceil(0.1 * entry.size))
            lo_before, up_before = lo, up
            lo, up, entry, start[label] = curve_start(lo, up, entry, min_entered=k)
            start[label]["min_entered"] = k
            weight = _straddle_weight(lo_before[up_before > start[label]["start"]], up, start[label]["start"])
        fit = _turnbull_fit(lo, up, tol=tol, max_iter=max_iter, label=label, entry=entry, weight=weight)
        # at risk at t: seen unrecovered at or after t (and first seen before t)
        risk[label] = np.sort(lo) if entry is None else np.vstack([np.sort(lo), np.sort(entry)])
        c = _turnbull_curve(fit, risk[label], up, z)
        c.insert(0, "group", label)
        curves.append(c)
        inner[label] = {"innermost": int(fit["left"].size), "with_mass": int(fit["support"].sum()),
                        "converged": bool(fit.get("converged", True))}
        iters[label] = fit["iterations"]
        # "events" for an interval-censored group: patients seen to recover (finite upper)
        rmst = _turnbull_rmst(fit, tau_)
        group_rows = _summarise(c, label, np.where(np.isfinite(up), up, lo), np.isfinite(up), landmarks_, tau_,
                                method="turnbull", alpha=alpha, rmst=rmst, risk=risk[label], warn_tau=tau is not None)
        if start.get(label, {}).get("start", 0.0) > 0:  # a late-entry curve is conditional on T > s0
            unit = df.attrs.get("time_unit", time_unit)
            for r in group_rows:
                r["population"] = f"patients not recovered by {start[label]['start']:.3g} {unit} (late entry)"
        week = DAYS_PER["weeks"] / DAYS_PER[df.attrs.get("time_unit", time_unit)]  # one week in the data's unit
        ends = _attended_visits(lo, up, week)
        _identify_rows(group_rows, fit, z, tau_, rmst[1], risk[label], ends, week, min_at_risk=min_at_risk,
                       ratio=identification_ratio)
        rows.extend(group_rows)
    info = {"method": "turnbull", "group": group, "n": len(df), "events": int(np.isfinite(upper_all).sum()),
            "groups": len(groups), "conf_type": "log-log", "alpha": alpha, "landmarks": landmarks_, "tau": tau_,
            "time_unit": df.attrs.get("time_unit", time_unit), "innermost_intervals": inner, "iterations": iters,
            "population": POPULATION_ALL, "min_at_risk": min_at_risk, "identification_ratio": identification_ratio,
            "entry_col": entry_col}
    if entry_all is not None:
        info.update(excluded_at_entry=excluded, earliest_entry=float(entry_all.min()) if entry_all.size else 0.0,
                    curve_start=start, min_entered=min_entered)
    return CurveResult(summary=pd.DataFrame(rows), info=info, curves=pd.concat(curves, ignore_index=True),
                       at_risk_times=risk)
# ------------------------------------------------------------------------------------------------
# what the NPMLE identifies


def _support_points(fit: dict[str, Any], z: float) -> dict[str, np.ndarray]:
    """Survival just after every innermost interval with mass, with its pointwise CI.

    After interval k the curve is identified: ``S_k = 1 - sum_{j <= k} p_j``. Inside it, every
    value between ``S_{k-1}`` (mass at the right end) and ``S_k`` (mass at the left end) fits
    the data equally well.
    """
    sup = np.flatnonzero(fit["support"])
    m = fit["left"].size
    phi = (np.arange(m)[None, :] <= sup[:, None]).astype(float)
    s = np.clip(1.0 - phi @ fit["p"], 0.0, 1.0)
    if sup.size > 1:
        cov, idx = _turnbull_cov(fit)
        grad = _turnbull_gradient(fit, phi, idx)
        var = np.einsum("ij,jk,ik->i", grad, cov, grad)
    else:
        var = np.zeros(sup.size)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = np.where(s > 0, se / s, np.inf)
    lower, upper = _ci(s, se_log, z, "log-log")
    # S = 0: every patient has recovered by then; its CI is the point 0
    lower, upper = np.where(s <= 0, 0.0, lower), np.where(s <= 0, 0.0, upper)
    return {"left": fit["left"][sup], "right": fit["right"][sup], "p": fit["p"][sup], "s": s,
            "lower": lower, "upper": upper}


def _attended_visits(lo: np.ndarray, up: np.ndarray, week: float, share: float = 0.2) -> np.ndarray:
    """Interval ends (visit times) where the visits are dense: at least ``share`` of the patients
    under observation then were seen within a week. Sparse visits (e.g. a late first visit) are
    few and may depend on recovery (late presenters recover later), so they do not bound a CI."""
    ends = np.unique(np.r_[lo[lo > 0], up[np.isfinite(up)]])
    if ends.size == 0:
        return ends
    seen = np.sort(np.r_[lo[lo > 0], up[np.isfinite(up)]])
    near = np.searchsorted(seen, ends + week, side="right") - np.searchsorted(seen, ends - week, side="left")
    # under observation around x: not known to have recovered a week before x, and followed past it
    up_s = np.sort(np.where(np.isfinite(up), up, np.inf))
    followed = np.sort(np.where(np.isfinite(up), up, lo))
    observed = np.minimum(up_s.size - np.searchsorted(up_s, ends - week, side="right"),
                          followed.size - np.searchsorted(followed, ends - week, side="left"))
    return ends[near >= share * np.maximum(observed, 1)]


def _gap_shifts(fit: dict[str, Any], ends: np.ndarray, week: float) -> tuple[np.ndarray, np.ndarray]:
    """How far the curve after each mass may move if recoveries are placed in unvisited gaps.

    The NPMLE gives each patient's share of a mass (``w_i p_j / (n A_i p)``); a patient whose
    interval also spans the unvisited gap after (before) that mass's visit window may have
    recovered in the gap instead. Returns, per mass k, the mass at or before k that may move
    after ``r_k`` (raising S there) and the mass after k that may move to before ``l_k``.
    """
    sup = np.flatnonzero(fit["support"])
    k = sup.size
    if k == 0 or ends.size < 2:
        return np.zeros(k), np.zeros(k)
    left, right, p = fit["left"], fit["right"], fit["p"]
    start, end, w = fit["start"], fit["end"], fit["w"]
    c = np.r_[0.0, np.cumsum(p)]
    share = (w / (c[end] - c[start]) / w.sum())[:, None] * p[sup][None, :]
    share = share * ((start[:, None] <= sup[None, :]) & (sup[None, :] < end[:, None]))
    gap = np.flatnonzero(np.diff(ends) > week)  # gap g runs from ends[g] to ends[g + 1]
    if gap.size == 0:  # visits everywhere: nothing unvisited to move mass into
        return np.zeros(k), np.zeros(k)
    g_from, g_to = ends[gap], ends[gap + 1]
    # the gap after mass j: the first gap starting at or after r_j; before: the last ending at or before l_j
    after = np.searchsorted(g_from, right[sup], side="left")
    before = np.searchsorted(g_to, left[sup], side="right") - 1
    obs_lo, obs_hi = left[start], right[end - 1]
    late_to = np.where(after < gap.size, g_to[np.minimum(after, gap.size - 1)], np.inf)
    early_to = np.where(before >= 0, g_from[np.maximum(before, 0)], -np.inf)
    can_late = (after < gap.size)[None, :] & (obs_hi[:, None] >= late_to[None, :])
    can_early = (before >= 0)[None, :] & (obs_lo[:, None] <= early_to[None, :])
    late_mass, early_mass = (share * can_late).sum(axis=0), (share * can_early).sum(axis=0)
    r, lft = right[sup], left[sup]
    # up to k, movable past r_k: j <= k with late_to_j > r_k; after k, movable to <= l_k: j > k with early_to_j <= l_k
    idx = np.arange(k)
    up = ((idx[None, :] <= idx[:, None]) & (late_to[None, :] > r[:, None])) @ late_mass
    down = ((idx[None, :] > idx[:, None]) & (early_to[None, :] <= lft[:, None])) @ early_mass
    return up, down


def _median_identification(pts: dict[str, np.ndarray], risk: np.ndarray, ends: np.ndarray, *, min_at_risk: int,
                           ratio: float, week: float) -> dict[str, Any]:
    """Identified set and set-covering CI of the median time to recovery.

    The earliest curve (mass at left ends) reaches one half at ``l_c`` and the latest (mass at
    right ends) at ``r_c``, where ``c`` is the first innermost interval after which S <= 1/2; so
    the identified set is ``[l_c, r_c]``. The CI runs from the last visit (``ends``: the sorted
    observed interval ends) before ``l_a`` to the first visit after ``r_b``, with ``a`` the first
    interval whose lower pointwise limit is <= 1/2 and ``b`` the first whose upper limit is.
    """
    left, right, s = pts["left"], pts["right"], pts["s"]
    a = np.flatnonzero(np.nan_to_num(pts["lower"], nan=0.0) - pts["down"] <= 0.5)
    b = np.flatnonzero(np.nan_to_num(pts["upper"], nan=0.0) + pts["up"] <= 0.5)
    # the NPMLE piles up at the edges of a visit window mass that may belong in the unvisited gap
    # next to it: each limit reaches to the nearest visit (observed interval end) beyond it
    lcl = ucl = np.nan
    if a.size:
        before = ends[ends < left[a[0]]]
        lcl = float(before[-1]) if before.size else 0.0
    if b.size and np.isfinite(right[b[0]]):
        after = ends[ends > right[b[0]]]
        ucl = float(after[0]) if after.size else float(right[b[0]])
    cross = np.flatnonzero(s <= 0.5 + _TOL)
    out: dict[str, Any] = {"lower": lcl, "upper": ucl, "set_lower": np.nan, "set_upper": np.nan}
    if cross.size == 0:
        return {**out, "identification": "not reached", "note": "not reached"}
    c = int(cross[0])
    lo, hi = float(left[c]), float(right[c])
    if abs(s[c] - 0.5) < _TOL and c + 1 < left.size:  # flat at one half: any time until the next mass
        hi = float(left[c + 1])
    out.update(set_lower=lo, set_upper=hi)
    if not np.isfinite(hi):  # half recover only in the open interval after the last visit, or never
        return {**out, "identification": "not reached",
                "note": "not reached: one half is reached only after the last visit, if at all"}
    if int(_count_at_risk(risk, np.array([lo]))[0]) < min_at_risk:
        return {**out, "lower": np.nan, "upper": np.nan, "identification": "not identifiable",
                "note": f"not identifiable: fewer than {min_at_risk} patients at risk where the curve reaches one half"}
    width_ci = (ucl if np.isfinite(ucl) else hi) - lcl
    # a point only inside a run of closely spaced masses (a visit window): next to a gap between
    # visit windows the crossing mass may belong to the gap
    before, after = ends[ends < lo], ends[ends > hi]
    gap_before = lo - float(before[-1]) if before.size else 0.0
    gap_after = float(after[0]) - hi if after.size else np.inf
    # and only when the CI itself stays inside visited time: a limit that reaches across an
    # unvisited stretch (or past the last visit) makes the CI cover the whole stretch, where the
    # data cannot tell where the curve crosses one half (a one-sided, set-covering limit)
    inside = ends[(ends >= lcl - _TOL) & (ends <= ucl + _TOL)] if np.isfinite(ucl) else ends[:0]
    # (interval ends only show the visits next to each recovery: ends up to two weeks apart count
    # as visited time; scheduled visit windows leave gaps of three weeks and more)
    visited = np.isfinite(ucl) and inside.size > 0 and bool(np.all(np.diff(np.r_[lcl, inside, ucl]) <= 2 * week + _TOL))
    if visited and max(hi - lo, gap_before, gap_after) <= ratio * width_ci + _TOL:
        return {**out, "identification": "point", "note": ""}
    if not visited and max(hi - lo, gap_before, gap_after) <= ratio * width_ci + _TOL:
        return {**out, "identification": "set",
                "note": "not point-identified: the CI reaches into weeks without visits"}
    return {**out, "identification": "set",
            "note": "not point-identified: recovery of half the patients lies between two visits"}


def _share_identification(pts: dict[str, np.ndarray], t: float, *, ratio: float) -> dict[str, Any] | None:
    """Identified set and set-covering CI of the share recovered by ``t``, or None when ``t`` lies
    outside every innermost interval with mass (the share is then identified by the curve)."""
    left, right = pts["left"], pts["right"]
    inside = np.flatnonzero((left < t) & (t < right))
    if inside.size == 0:
        return None
    k = int(inside[0])
    s_before = pts["s"][k - 1] if k > 0 else 1.0
    up_before = pts["upper"][k - 1] if k > 0 else 1.0
    s_after, lo_after = pts["s"][k], pts["lower"][k]
    set_lower, set_upper = 1.0 - s_before, 1.0 - s_after
    lcl, ucl = 1.0 - up_before, 1.0 - lo_after
    point = set_upper - set_lower <= ratio * (ucl - lcl) + _TOL
    return {"set_lower": set_lower, "set_upper": set_upper, "lower": lcl, "upper": ucl,
            "identification": "point" if point else "set"}


def _rmst_set(fit: dict[str, Any], tau: float) -> tuple[float, float]:
    """Restricted mean time not yet recovered with all mass at the right ends (largest) and at the
    left ends (smallest) of the innermost intervals; mass on ``(l, inf]`` at ``l`` or never."""
    left, right, p = fit["left"], fit["right"], fit["p"]
    early = np.clip(tau - left, 0.0, None)
    late = np.where(np.isfinite(right), np.clip(tau - right, 0.0, None), 0.0)
    return float(tau - p @ early), float(tau - p @ late)


def _identify_rows(rows: list[dict[str, Any]], fit: dict[str, Any], z: float, tau: float, se_rmst: float,
                   risk: np.ndarray, ends: np.ndarray, week: float, *, min_at_risk: int, ratio: float) -> None:
    """Replace the linear-convention limits of a group's summary rows by set-covering ones."""
    pts = _support_points(fit, z)
    pts["up"], pts["down"] = _gap_shifts(fit, ends, week)
    for row in rows:
        if row["statistic"] == "median":
            ident = _median_identification(pts, risk, ends, min_at_risk=min_at_risk, ratio=ratio, week=week)
            note = ident.pop("note")
            if ident["identification"] in ("not reached", "not identifiable"):
                row["estimate"] = np.nan
            row.update(ident, note=note)
        elif row["statistic"] == "recovered_by":
            ident = _share_identification(pts, row["time"], ratio=ratio) if pts["left"].size else None
            if row["estimate"] <= 0 and ident is None:
                # no recovery before t: the delta method gives a CI of width 0; use the exact
                # binomial upper limit among those seen unrecovered at or after t ("rule of three")
                k = int(row["n_at_risk"])
                alpha = 2 * norm.sf(z)
                row.update(lower=0.0, upper=1.0 - (alpha / 2) ** (1 / k) if k > 0 else 1.0)
            if ident is not None:
                row.update(ident)
                if ident["identification"] == "set" and not row["note"]:
                    row["note"] = "not point-identified: the landmark lies between two visits"
        elif row["statistic"] == "rmst":
            lo, hi = _rmst_set(fit, tau)
            point = hi - lo <= ratio * (hi - lo + 2 * z * se_rmst) + _TOL
            row.update(set_lower=lo, set_upper=hi, lower=lo - z * se_rmst, upper=hi + z * se_rmst,
                       identification="point" if point else "set")
        row["identified"] = row["identification"] == "point"


# ------------------------------------------------------------------------------------------------
# Turnbull NPMLE


def _straddle_weight(lower: np.ndarray, upper: np.ndarray, s0: float) -> np.ndarray:
    """Weight of each patient in a curve that starts at ``s0``: 1, except for a recovery interval
    ``(lower, upper]`` that straddles ``s0`` (first seen before it): the share of the interval
    after ``s0``, the chance (recovery spread evenly over the interval, as the curve is drawn)
    that the patient belongs to the population not recovered by ``s0`` at all."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(np.isfinite(upper), (upper - s0) / (upper - lower), 1.0)
    return np.where(lower < s0, np.clip(share, 0.0, 1.0), 1.0)


def _turnbull_gradient(fit: dict[str, Any], phi: np.ndarray, support_idx: np.ndarray) -> np.ndarray:
    """d(linear functional sum_j p_j phi_j) / d(free masses), the last support mass eliminated."""
    return phi[:, support_idx[:-1]] - phi[:, support_idx[[-1]]]


def _turnbull_rmst(fit: dict[str, Any], tau: float) -> tuple[float, float]:
    """Area under the (linearly interpolated) NPMLE curve up to tau, with its delta-method SE."""
    left, right, p = fit["left"], fit["right"], fit["p"]
    width = right - left
    # psi_j = integral_0^tau of the share of mass j at or before t
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = (tau - left) ** 2 / (2 * width)
        psi = np.where(tau <= left, 0.0, np.where(tau >= right, width / 2 + (tau - right), inside))
    psi = np.where(np.isinf(width), 0.0, psi)
    area = float(tau - p @ psi)
    if fit["support"].sum() < 2:
        return area, 0.0
    cov, idx = _turnbull_cov(fit)
    g = _turnbull_gradient(fit, psi[None, :], idx)[0]
    return area, float(np.sqrt(max(g @ cov @ g, 0.0)))


def _turnbull_curve(fit: dict[str, Any], risk: np.ndarray, up: np.ndarray, z: float) -> pd.DataFrame:
    left, right = fit["left"], fit["right"]
    # identified points: both ends of every innermost interval with mass (finite ends only)
    pts = np.unique(np.r_[left[fit["support"]], right[fit["support"]]])
    pts = pts[np.isfinite(pts) & (pts > 0)]
    out = _turnbull_eval(fit, pts, z)
    out["n_at_risk"] = _count_at_risk(risk, pts)
    out["events"] = np.bincount(np.searchsorted(pts, up[np.isfinite(up)]), minlength=pts.size + 1)[: pts.size]
    return out


def _turnbull_eval(fit: dict[str, Any], t: np.ndarray, z: float) -> pd.DataFrame:
    left, right, p = fit["left"], fit["right"], fit["p"]
    # phi[t, j]: share of interval j's mass at or before t (linear inside the interval)
    width = right - left
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.clip((t[:, None] - left[None, :]) / width[None, :], 0.0, 1.0)
    phi = np.where(np.isinf(width)[None, :], 0.0, phi)
    f = phi @ p
    s = np.clip(1.0 - f, 0.0, 1.0)
    if fit["support"].sum() > 1:
        cov, idx = _turnbull_cov(fit)
        grad = _turnbull_gradient(fit, phi, idx)
        var = np.einsum("ij,jk,ik->i", grad, cov, grad)
    else:
        var = np.zeros(t.size)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = np.where(s > 0, se / s, np.inf)
    lower, upper = _ci(s, se_log, z, "log-log")
    return pd.DataFrame({"time": t, "survival": s, "se": se, "lower": lower, "upper": upper})

