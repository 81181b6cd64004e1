"""Cox risk-set algebra (Efron ties) and the proportional-hazards score test of R's ``cox.zph``.

Everything here works on plain arrays: a design matrix ``x`` (no intercept), the fitted
coefficients, and the outcome as ``(start, stop]`` intervals with an event flag at ``stop``
(right-censored data: no ``start``, every row at risk from time 0). Strata split the risk sets.

Risk sets are handled without any ``n x p x p`` array: every unique (stratum, event time) is a
*bucket*; row ``i`` is at risk in the contiguous run of buckets ``[a_i, b_i)`` of its stratum, so
a sum over the risk set at every event time is one ``bincount`` plus a cumulative sum, and a
sum over event times of a quantity ``c_j`` times the risk-set second moments is
``X' diag(r_i * sum_{j in [a_i, b_i)} c_j) X`` — one matrix product.

The model fits use :func:`partial_likelihood` (the same sums on rows sorted once, per-bucket
``reduceat`` instead of sparse products, and the Efron steps folded into per-bucket scalars);
:func:`risk_sets`, :func:`efron` and :func:`information` remain for the PH test and the score
residuals, and as an independent check of it in the tests.

Efron ties: at an event time with ``d`` events, the ``k``-th of ``d`` steps (``k = 0..d-1``)
has denominator ``S0 - (k/d) D0`` and mean ``xbar_k = (S1 - (k/d) D1) / den_k``, where ``S`` are
risk-set sums and ``D`` sums over the tied events (weights ``r = exp(x'b)``).

:func:`cox_zph` is the test of R ``survival`` >= 3.0 ``cox.zph(fit, transform, terms = FALSE)``
(the score test with the full information matrix; not the older Grambsch-Therneau
approximation that lifelines' ``proportional_hazard_test`` computes). See its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from scipy.stats import chi2

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival._input import check_choice

__all__ = ["ZphTransform", "cox_zph"]

ZphTransform = Literal["km", "identity", "log"]


@dataclass(frozen=True)
class _RiskSets:
    """Bucket bookkeeping for one outcome: which rows are at risk at which event time.

    Attributes
    ----------
    a, b : int arrays (n,)
        Row ``i`` is at risk in buckets ``a[i] <= j < b[i]`` (global bucket numbers).
    n_buckets : int
        Number of unique (stratum, event time) pairs.
    bucket_time : float array (n_buckets,)
    death_rows : int array
        Rows with an event, ordered by bucket.
    death_bucket : int array
        Bucket of each death row.
    n_deaths : int array (n_buckets,)
    """

    a: np.ndarray
    b: np.ndarray
    n_buckets: int
    bucket_time: np.ndarray
    death_rows: np.ndarray
    death_bucket: np.ndarray
    n_deaths: np.ndarray
    entry_exit: Any = None  # sparse (n_buckets + 1, n): +1 at (a_i, i), -1 at (b_i, i)
    deaths: Any = None      # sparse (n_buckets, n): 1 at (bucket, death row)

    def risk_sum(self, w: np.ndarray) -> np.ndarray:
        """Sum of ``w`` (n,) or (n, q) over the risk set of every bucket.

        One sparse product (entries +1 where a row enters, -1 where it leaves) and a cumulative
        sum over buckets: all columns at once, 4-5x faster than a ``bincount`` per column.
        """
        return np.cumsum(self.entry_exit @ w, axis=0)[:-1]

    def death_sum(self, w: np.ndarray) -> np.ndarray:
        """Sum of ``w`` (n,) or (n, q) over the events of every bucket."""
        return np.asarray(self.deaths @ w)

    def over_risk(self, c: np.ndarray) -> np.ndarray:
        """For every row, the sum of the bucket values ``c`` (n_buckets,) or (n_buckets, q) over its risk buckets."""
        cc = np.concatenate([np.zeros((1, *c.shape[1:])), np.cumsum(c, axis=0)])
        return cc[self.b] - cc[self.a]


def _unique_pairs(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(s, t)`` pairs sorted by ``s`` then ``t`` (``drop_duplicates`` and a sort, without pandas)."""
    if s.size and s.min() == s.max():  # one stratum: a stable sort of the times
        ss, tt = s, np.sort(t, kind="stable")
    else:
        order = np.lexsort((t, s))
        ss, tt = s[order], t[order]
    keep = np.ones(ss.size, dtype=bool)
    keep[1:] = (ss[1:] != ss[:-1]) | (tt[1:] != tt[:-1])
    return ss[keep], tt[keep]


def risk_sets(stop: np.ndarray, event: np.ndarray, start: np.ndarray | None = None,
              strata: np.ndarray | None = None) -> _RiskSets:
    """Bucket the rows of an outcome by (stratum, event time).

    Parameters
    ----------
    stop : float array (n,)
        Event or censoring time.
    event : bool array (n,)
    start : float array (n,), optional
        Entry time (counting-process data, row at risk on ``(start, stop]``); None = at risk from
        the beginning.
    strata : int array (n,), optional
        Stratum codes 0..s-1.
    """
    n = stop.size
    event = np.asarray(event, dtype=bool)
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    # unique (stratum, event time), sorted by stratum then time
    ev = np.flatnonzero(event)
    us, ut = _unique_pairs(strata[ev], np.asarray(stop[ev], dtype=float))
    m = ut.size
    n_strata = int(strata.max()) + 1 if n else 0
    first = np.searchsorted(us, np.arange(n_strata + 1), side="left")  # bucket range per stratum
    a = np.empty(n, dtype=np.int64)
    b = np.empty(n, dtype=np.int64)
    by_stratum = np.argsort(strata, kind="stable")
    cut = np.searchsorted(strata[by_stratum], np.arange(n_strata + 1), side="left")
    for s in range(n_strata):
        rows = by_stratum[cut[s]:cut[s + 1]]
        lo, hi = first[s], first[s + 1]
        times = ut[lo:hi]
        b[rows] = lo + np.searchsorted(times, stop[rows], side="right")  # event times <= stop
        if start is None:
            a[rows] = lo
        else:
            a[rows] = lo + np.searchsorted(times, start[rows], side="right")  # event times > start
    b = np.maximum(a, b)
    death_bucket = b[ev] - 1
    order = np.argsort(death_bucket.astype(np.uint16) if m < 2**16 else death_bucket, kind="stable")  # radix sort
    death_rows, death_bucket = ev[order], death_bucket[order]
    n_deaths = np.bincount(death_bucket, minlength=m)
    rows = np.arange(n)
    entry_exit = sparse.csr_matrix((np.r_[np.ones(n), -np.ones(n)], (np.r_[a, b], np.r_[rows, rows])), shape=(m + 1, n))
    deaths = sparse.csr_matrix((np.ones(death_rows.size), (death_bucket, death_rows)), shape=(m, n))
    return _RiskSets(a, b, m, ut, death_rows, death_bucket, n_deaths, entry_exit, deaths)


@dataclass(frozen=True)
class _Efron:
    """Efron-expanded event steps at the given coefficients (one step per event)."""

    rs: _RiskSets
    r: np.ndarray          # exp(eta), (n,) (shifted; without case weights)
    step_bucket: np.ndarray  # bucket of each step, (n_events,)
    frac: np.ndarray       # k / d of each step
    den: np.ndarray        # Efron denominator of each step
    xbar: np.ndarray       # (n_events, p) Efron risk-set mean of each step
    loglik: float
    case_w: np.ndarray | None = None  # case weights (n,), None = all 1
    step_w: np.ndarray | None = None  # weight of each step: mean case weight of the bucket's events (R's rule)

    @property
    def rw(self) -> np.ndarray:
        """``w * exp(eta)``: each row's weight in the risk-set sums."""
        return self.r if self.case_w is None else self.r * self.case_w


def efron(x: np.ndarray, eta: np.ndarray, rs: _RiskSets, weights: np.ndarray | None = None) -> _Efron:
    """Efron step denominators, means and the log partial likelihood at the linear predictor ``eta``.

    With case ``weights`` (R ``coxph(weights = )``): risk-set and event sums are weighted, and
    each Efron step of a bucket counts with the mean weight of the bucket's events, so the log
    partial likelihood is ``sum_events w_i eta_i - sum_steps wbar log(den)``.
    """
    eta_c = eta - (eta.max() if eta.size else 0.0)  # shift: cancels in every ratio, not in loglik (added back)
    r = np.exp(eta_c)
    rw = r if weights is None else r * weights
    s0 = rs.risk_sum(rw)
    d0 = rs.death_sum(rw)
    rx = x * rw[:, None]
    s1 = rs.risk_sum(rx)
    d1 = rs.death_sum(rx)
    d = rs.n_deaths
    step_bucket = np.repeat(np.arange(rs.n_buckets), d)
    start_of = np.cumsum(d) - d
    k = np.arange(step_bucket.size) - start_of[step_bucket]
    frac = k / d[step_bucket]
    den = s0[step_bucket] - frac * d0[step_bucket]
    xbar = (s1[step_bucket] - frac[:, None] * d1[step_bucket]) / den[:, None]
    shift = eta.max() if eta.size else 0.0
    if weights is None:
        loglik = float(eta[rs.death_rows].sum() - np.log(den).sum() - shift * step_bucket.size)
        return _Efron(rs, r, step_bucket, frac, den, xbar, loglik)
    wd = weights[rs.death_rows]
    meanw = np.bincount(rs.death_bucket, weights=wd, minlength=rs.n_buckets) / np.maximum(d, 1)
    step_w = meanw[step_bucket]
    loglik = float(wd @ eta[rs.death_rows] - step_w @ np.log(den) - shift * wd.sum())
    return _Efron(rs, r, step_bucket, frac, den, xbar, loglik, np.asarray(weights, dtype=float), step_w)


def information(x: np.ndarray, ef: _Efron, w: np.ndarray | None = None) -> np.ndarray:
    """``sum over Efron steps of w(step) * V(step)``, V the Efron risk-set covariance (p x p).

    ``w`` is a per-bucket weight (n_buckets,), 1 if None.
    """
    rs = ef.rs
    wb = np.ones(rs.n_buckets) if w is None else w
    ws = wb[ef.step_bucket]
    if ef.step_w is not None:
        ws = ws * ef.step_w
    c1 = np.bincount(ef.step_bucket, weights=ws / ef.den, minlength=rs.n_buckets)
    c2 = np.bincount(ef.step_bucket, weights=ws * ef.frac / ef.den, minlength=rs.n_buckets)
    rw = ef.rw
    wr = rw * rs.over_risk(c1)
    xd = x[rs.death_rows]
    wd = rw[rs.death_rows] * c2[rs.death_bucket]
    out = (x * wr[:, None]).T @ x - (xd * wd[:, None]).T @ xd - (ef.xbar * ws[:, None]).T @ ef.xbar
    return 0.5 * (out + out.T)


def score_residuals(x: np.ndarray, ef: _Efron) -> np.ndarray:
    """Per-row score residuals (n, p) under Efron ties; they sum to the score vector.

    Row ``i``: ``sum over its event [x_i - mean_k xbar_k]
    - r_i sum over steps with i at risk of w_ik (x_i - xbar_k) / den_k``, with ``w_ik = 1``, or
    ``1 - k/d`` at the row's own event time (Efron removes that share of an event's weight).
    Equivalently, the derivative of the case-weighted Efron score (R's weighting: the tied
    events share their mean weight) with respect to row ``i``'s weight — R's definition of
    ``residuals(coxph, type = "score")``. ``dfbeta`` residuals are these times the model variance.
    With case weights (``ef.case_w``) every step counts with its mean event weight and ``r_i``
    stays unweighted, so that ``sum_i w_i resid_i`` is the weighted score (R multiplies by the
    weights for the robust variance).
    """
    rs = ef.rs
    m = rs.n_buckets
    sb = ef.step_bucket
    inv = 1.0 / ef.den if ef.step_w is None else ef.step_w / ef.den
    a1 = np.bincount(sb, weights=inv, minlength=m)
    b1 = np.stack([np.bincount(sb, weights=ef.xbar[:, q] * inv, minlength=m) for q in range(x.shape[1])], axis=1)
    keep = 1.0 - ef.frac
    a2 = np.bincount(sb, weights=keep * inv, minlength=m)
    b2 = np.stack([np.bincount(sb, weights=ef.xbar[:, q] * keep * inv, minlength=m) for q in range(x.shape[1])], axis=1)
    ca = rs.over_risk(a1)
    cb = rs.over_risk(b1)
    dr, db = rs.death_rows, rs.death_bucket
    ca[dr] += a2[db] - a1[db]
    cb[dr] += b2[db] - b1[db]
    resid = -ef.r[:, None] * (x * ca[:, None] - cb)
    mean_xbar = np.zeros_like(b1)  # mean of xbar_k over the Efron steps of each bucket
    np.add.at(mean_xbar, sb, ef.xbar)
    mean_xbar /= np.maximum(rs.n_deaths, 1)[:, None]
    resid[dr] += x[dr] - mean_xbar[db]
    return resid


# ------------------------------------------------------------------------------------------------
# Newton kernel: log partial likelihood, score and information in one pass over sorted rows


def _rev_cumsum(v: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Reverse cumulative sum over buckets (the last axis) within each stratum (``cuts``: bucket bounds of the strata).

    Summed from the last bucket of a stratum backwards, as R's coxph does (no subtraction).
    Beyond 64 strata one global pass is corrected at the stratum ends (rounding of order
    ``eps`` times the later strata's total) to keep the cost flat.
    """
    if cuts.size == 2:
        return np.cumsum(v[..., ::-1], axis=-1)[..., ::-1]
    if cuts.size > 65:
        tot = np.cumsum(v[..., ::-1], axis=-1)[..., ::-1]
        nxt = np.concatenate([tot, np.zeros((*v.shape[:-1], 1))], axis=-1)
        ends = np.repeat(cuts[1:], np.diff(cuts))
        return np.asarray(tot - nxt[..., ends])
    out = np.empty_like(v)
    for lo, hi in pairwise(cuts):
        out[..., lo:hi] = np.cumsum(v[..., lo:hi][..., ::-1], axis=-1)[..., ::-1]
    return out


@dataclass(frozen=True)
class _Partial:
    """An Efron partial likelihood laid out for repeated evaluation (Newton-Raphson).

    Built once per fit by :func:`partial_likelihood`. Rows never at risk at an event time add
    nothing and are left out; the rest are sorted once by the bucket after which they leave the
    risk set, a bucket's deaths first, so every per-bucket sum is one ``np.add.reduceat`` over
    contiguous rows (no sparse product, no gather of the design per evaluation). The design is
    stored transposed, ``(p, n)`` C-contiguous, so that those sums run along memory. The
    columns are centred, as in R's ``coxph``: the likelihood does not change, and the second
    moments (``X' diag(q) X`` minus the risk-set means) lose no digits to large column means.

    The Efron steps are never expanded into an ``(events x p)`` array: per bucket with risk-set
    sums ``S0, S1``, death sums ``D0, D1`` and ``d`` tied deaths, the steps ``k = 0..d-1`` have
    ``den_k = S0 - (k/d) D0`` and the sums over steps reduce to five per-bucket scalars
    ``A = sum 1/den``, ``B = sum f/den``, ``C_j = sum f^j/den^2`` (``f = k/d``, each step
    counting with the bucket's mean case weight), so that

    * log partial likelihood ``sum_deaths w eta - sum_steps wbar log den``;
    * score ``U = sum_deaths w x - sum_b (A_b S1_b - B_b D1_b)``;
    * information ``I = X' diag(q) X - sum_b (C0 S1 S1' - C1 (S1 D1' + D1 S1') + C2 D1 D1')``
      with ``q_i = w_i r_i (sum of A over the buckets where row i is at risk - [i dies in b] B_b)``.
    """

    xt: np.ndarray             # (p, n_kept) sorted, centred rows, transposed (C-contiguous)
    w: np.ndarray | None       # sorted case weights
    exit_at: np.ndarray        # (m,) first sorted row of each bucket's leavers (its deaths first)
    death_cuts: np.ndarray     # reduceat indices of the death runs (every second segment)
    runs: np.ndarray           # (2m,) lengths of the death run and the censored run of each bucket's leavers
    a: np.ndarray | None       # (n_kept,) first bucket at risk; None: bucket 0 (one stratum, no late entry)
    ent_rows: np.ndarray | None  # late entry: rows entering after their stratum's first bucket, by entry
    ent_cuts: np.ndarray | None
    ent_bucket: np.ndarray | None  # the bucket before each entry group (where it leaves a backward sum)
    xt_ent: np.ndarray | None  # (p, entering rows) their columns in entry order (no 2-D gather per evaluation)
    strata_cuts: np.ndarray    # bucket bounds of the strata
    step_bucket: np.ndarray    # (events,) bucket of each Efron step
    step_cuts: np.ndarray      # first step of each bucket
    frac: np.ndarray           # k / d of each step
    tied: bool                 # some bucket has more than one death
    wstep: np.ndarray | None   # mean case weight of the bucket's deaths, per step
    dsum: np.ndarray           # sum over deaths of w x (centred)
    wd_total: float            # sum over deaths of w

    def evaluate(self, beta: np.ndarray, order: int = 2) -> Any:
        """``loglik`` (order 0), or ``(loglik, score, information)`` (order 2) at ``beta``."""
        xt = self.xt
        eta = beta @ xt
        shift = float(eta.max())
        rw = np.exp(eta - shift)
        if self.w is not None:
            rw *= self.w
        e0 = np.add.reduceat(rw, self.exit_at)
        if self.ent_rows is not None:  # late entry: a row leaves the backward sum below its entry
            rw_ent = rw[self.ent_rows]
            e0[self.ent_bucket] -= np.add.reduceat(rw_ent, self.ent_cuts)
        s0 = _rev_cumsum(e0, self.strata_cuts)
        if self.tied:
            d0 = np.add.reduceat(rw, self.death_cuts)[::2]
            sb = self.step_bucket
            den = s0[sb] - self.frac * d0[sb]
        else:
            den = s0
        logden = np.log(den)
        if self.wstep is None:
            ll = float(self.dsum @ beta - logden.sum() - shift * self.wd_total)
        else:
            ll = float(self.dsum @ beta - self.wstep @ logden - shift * self.wd_total)
        if order == 0:
            return ll
        rwx = xt * rw
        e1 = np.add.reduceat(rwx, self.exit_at, axis=1)
        if self.ent_rows is not None:
            e1[:, self.ent_bucket] -= np.add.reduceat(self.xt_ent * rw_ent, self.ent_cuts, axis=1)
        s1 = _rev_cumsum(e1, self.strata_cuts)  # (p, m)
        inv = 1.0 / den if self.wstep is None else self.wstep / den
        inv2 = inv / den
        if self.tied:
            f = self.frac
            d1 = np.add.reduceat(rwx, self.death_cuts, axis=1)[:, ::2]
            sums = np.add.reduceat(np.stack([inv, f * inv, inv2, f * inv2, f * f * inv2]), self.step_cuts, axis=1)
            a_, b_, c0, c1, c2 = sums
            u = self.dsum - s1 @ a_ + d1 @ b_
        else:
            a_, c0 = inv, inv2
            u = self.dsum - s1 @ a_
        # q per row: the sum of A over its risk buckets (a cumulative sum up to its exit bucket), less
        # B of its own bucket for a death; leavers of a bucket are one run of deaths and one of the rest
        ca = np.cumsum(a_)
        per_run = np.stack([ca - b_, ca] if self.tied else [ca, ca], axis=1).ravel()
        q = np.repeat(per_run, self.runs)
        if self.a is not None:
            q -= np.concatenate([[0.0], ca])[self.a]
        q *= rw
        info = (xt * q) @ xt.T - (s1 * c0) @ s1.T
        if self.tied:
            m = (s1 * c1) @ d1.T
            info += m + m.T - (d1 * c2) @ d1.T
        return ll, u, 0.5 * (info + info.T)


def partial_likelihood(x: np.ndarray, stop: np.ndarray, event: np.ndarray, start: np.ndarray | None = None,
                       strata: np.ndarray | None = None, weights: np.ndarray | None = None) -> _Partial:
    """Lay out the Efron partial likelihood of ``x`` on an outcome for :meth:`_Partial.evaluate`.

    Parameters as :func:`risk_sets`; ``weights`` are case weights (R ``coxph(weights = )``).
    Buckets are the unique (stratum, event time) pairs, stratum-major; row ``i`` is at risk in
    buckets ``a_i <= j < b_i``. The rows are sorted once by (stratum, time) (a quicksort of the
    times, then a stable sort of the small stratum codes), and once more by ``2 b_i + (not an
    event)`` (a radix sort of nearly sorted small integers) to put each bucket's deaths first.
    """
    event = np.asarray(event, dtype=bool)
    stop = np.asarray(stop, dtype=float)
    n = stop.size
    o = np.argsort(stop)
    if strata is not None and int(np.max(strata)) > 0:
        s_all = np.asarray(strata, dtype=np.int64)
        o = o[np.argsort(s_all[o].astype(np.uint16) if s_all.max() < 2**16 else s_all[o], kind="stable")]
        s = s_all[o]
    else:
        s = np.zeros(n, dtype=np.int64)
    ss, es = stop[o], event[o]
    se = ss[es]  # event times, sorted within strata
    ue = se[np.r_[True, se[1:] != se[:-1]]] if s[-1] == 0 else np.unique(se)
    tr = np.searchsorted(ue, ss, side="right")  # event times <= stop (needles sorted within strata)
    if s[-1] == 0:  # one stratum: a bucket per event time
        b, m, span, lo = tr, ue.size, np.int64(ue.size + 1), None
        strata_cuts = np.array([0, m])
    else:
        span = np.int64(ue.size + 1)
        base = s * span
        ke = (base + tr)[es]
        keys = ke[np.r_[True, ke[1:] != ke[:-1]]]  # the buckets (stratum, index of the event time + 1), sorted
        m = keys.size
        b = np.searchsorted(keys, base + tr, side="right")
        lo = np.searchsorted(keys, base, side="right")
        strata_cuts = np.unique(np.searchsorted(keys, np.arange(int(s[-1]) + 2) * span, side="left"))
    if start is not None:
        ca = np.searchsorted(ue, np.asarray(start, dtype=float)[o], side="right")
        a = ca if lo is None else np.searchsorted(keys, base + ca, side="right")
    else:
        a = lo
    kept = np.flatnonzero(b > a) if a is not None else np.flatnonzero(b > 0)
    key = 2 * b[kept] + ~es[kept]
    key = key.astype(np.uint16) if 2 * m + 2 < 2**16 else key
    kept = kept[np.argsort(key, kind="stable")]
    rows = o[kept]
    x = np.asarray(x, dtype=float)
    xt = np.take(x.T, rows, axis=1) if x.flags.f_contiguous else np.ascontiguousarray(np.take(x, rows, axis=0).T)
    nk = rows.size
    xt -= (xt @ np.full(nk, 1.0 / nk))[:, None]
    bs, ev = b[kept], es[kept]
    exit_at = np.searchsorted(bs, np.arange(1, m + 1), side="left")
    d = np.bincount(bs[ev] - 1, minlength=m)
    leave = np.diff(np.r_[exit_at, nk])
    runs = np.column_stack([d, leave - d]).ravel()
    n_ev = int(d.sum())
    step_cuts = np.cumsum(d) - d
    step_bucket = np.repeat(np.arange(m), d)
    k = np.arange(n_ev) - step_cuts[step_bucket]
    frac = k / d[step_bucket]
    death_rows = exit_at[step_bucket] + k
    death_cuts = np.column_stack([exit_at, exit_at + d]).ravel()
    if death_cuts[-1] == nk:
        death_cuts = death_cuts[:-1]
    ent_rows = ent_cuts = ent_bucket = None
    as_ = None if a is None else a[kept]
    if start is not None:
        late = np.flatnonzero(as_ > (0 if lo is None else lo[kept]))
        if late.size:
            ent_rows = late[np.argsort(as_[late], kind="stable")]
            ea = as_[ent_rows]
            ent_cuts = np.flatnonzero(np.r_[True, ea[1:] != ea[:-1]])
            ent_bucket = ea[ent_cuts] - 1
    wstep = ws = None
    wd_row = np.zeros(nk)
    if weights is None:
        wd_row[death_rows] = 1.0
        wd_total = float(n_ev)
    else:
        ws = np.asarray(weights, dtype=float)[rows]
        wd = ws[death_rows]
        wd_row[death_rows] = wd
        wstep = (np.bincount(step_bucket, weights=wd, minlength=m) / d)[step_bucket]
        wd_total = float(wd.sum())
    dsum = xt @ wd_row
    xt_ent = None if ent_rows is None else np.take(xt, ent_rows, axis=1)
    return _Partial(xt, ws, exit_at, death_cuts, runs, as_, ent_rows, ent_cuts, ent_bucket, xt_ent,
                    strata_cuts, step_bucket, step_cuts, frac, bool(np.any(d > 1)), wstep, dsum, wd_total)

def _km_left(stop: np.ndarray, event: np.ndarray, start: np.ndarray | None, times: np.ndarray) -> np.ndarray:
    """Kaplan-Meier S(t-) of all rows pooled (strata ignored), at ``times``."""
    ev_t, d = np.unique(stop[event], return_counts=True)
    ss = np.sort(stop)
    n_risk = stop.size - np.searchsorted(ss, ev_t, side="left")
    if start is not None:
        n_risk = n_risk - (stop.size - np.searchsorted(np.sort(start), ev_t, side="left"))
    surv = np.cumprod(1.0 - d / n_risk)
    idx = np.searchsorted(ev_t, times, side="left")  # event times strictly before t
    return np.concatenate([[1.0], surv])[idx]


def cox_zph(
    x: np.ndarray,
    beta: np.ndarray,
    stop: np.ndarray,
    event: np.ndarray,
    *,
    start: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    terms: list[str] | None = None,
    transform: ZphTransform = "km",
) -> pd.DataFrame:
    """Proportional-hazards score test of R ``survival`` >= 3.0 ``cox.zph(fit, transform, terms = FALSE)``.

    At the fitted coefficients ``b``, the test asks whether adding the time-varying terms
    ``x * g(t)`` improves the (Efron) partial likelihood. With ``u`` the score of the extended
    model (zero in the ``b`` block, ``u_g = sum over events g(t) (x_event - xbar)`` in the new
    block) and its information in blocks ``I_bb``, ``I_bg = sum g V``, ``I_gg = sum g^2 V``, the
    statistics are, with ``C = I_gg - I_gb I_bb^-1 I_bg``:

    * per covariate ``j``: ``u_gj^2 / C_jj``, 1 df (the extended model that adds only that term);
    * GLOBAL: ``u_g' C^-1 u_g``, ``p`` df.

    Time transform (the convention that reproduces R 3.5.3 to ~1e-10): ``"km"`` is
    ``g(t) = 1 - S(t-)``, the **left-continuous** Kaplan-Meier estimate of all rows pooled over
    strata (for ``(start, stop]`` data, risk sets from the intervals), evaluated at each event
    time; ``"identity"`` is ``t``; ``"log"`` is ``log t``. R centres ``g`` by its mean over the
    events; the statistics do not depend on it (they are invariant to ``g -> a g + c``, since
    ``x * c`` lies in the span of the fitted terms), so no centring is needed.

    Parameters
    ----------
    x : array (n, p)
        Design matrix of the fitted Cox model (no intercept).
    beta : array (p,)
        Fitted coefficients (the score in ``b`` is taken as zero).
    stop, event : arrays (n,)
        Event/censoring time and event flag.
    start : array (n,), optional
        Entry times for counting-process ``(start, stop]`` rows.
    strata : int array (n,), optional
        Stratum codes (risk sets within strata; the KM transform pools them, as R does).
    terms : list of str, optional
        Names of the ``p`` columns.
    transform : {"km", "identity", "log"}

    Returns
    -------
    pandas.DataFrame
        ``term``, ``chisq``, ``df``, ``p``: one row per column of ``x`` and a last ``GLOBAL`` row.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(200, 2))
    >>> t = rng.exponential(size=200); e = rng.random(200) < 0.8
    >>> cox_zph(x, np.zeros(2), t, e, terms=["a", "b"])["term"].tolist()
    ['a', 'b', 'GLOBAL']
    """
    check_choice("transform", transform, get_args(ZphTransform))
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event, dtype=bool)
    start_a = None if start is None else np.asarray(start, dtype=float)
    names = [f"x{j}" for j in range(p)] if terms is None else list(terms)
    if not event.any():
        raise FootdropError("cox_zph: there are no events, so there is nothing to test")
    rs = risk_sets(stop, event, start_a, strata)
    ef = efron(x, x @ np.asarray(beta, dtype=float), rs)
    t = rs.bucket_time
    if transform == "km":
        g = 1.0 - _km_left(stop, event, start_a, t)
    elif transform == "identity":
        g = t.copy()
    else:
        if np.any(t <= 0):
            raise FootdropError("cox_zph: transform='log' needs event times > 0")
        g = np.log(t)
    g = g - g[rs.death_bucket].mean()  # as R does; keeps the blocks well scaled
    gs = g[ef.step_bucket]
    u = gs @ (x[rs.death_rows] - ef.xbar)  # death rows and steps are both ordered by bucket
    i_bb = information(x, ef)
    i_bg = information(x, ef, g)
    i_gg = information(x, ef, g * g)
    try:
        c = i_gg - i_bg.T @ linalg.solve(i_bb, i_bg, assume_a="pos")
        glob = float(u @ linalg.solve(c, u, assume_a="pos"))
    except (linalg.LinAlgError, ValueError) as exc:
        raise FootdropError(f"cox_zph: the information matrix is singular ({exc}); check for collinear terms") from exc
    per = u**2 / np.diag(c)
    chisq = np.concatenate([per, [glob]])
    df = np.concatenate([np.ones(p, dtype=np.int64), [p]])
    return pd.DataFrame({"term": [*names, "GLOBAL"], "chisq": chisq, "df": df, "p": chi2.sf(chisq, df)})


def _runs(a: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal neighbouring values of ``a``."""
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    return np.diff(np.r_[starts, a.size])


def _count_smaller_after(v: np.ndarray, query: np.ndarray) -> tuple[int, int]:
    """Over rows ``i`` with ``query[i]``: the number of later rows ``j > i`` with ``v[j] < v[i]``, and with ``v[j] == v[i]``.

    ``O(n log n)``, one vectorised pass per bit of the row position, no Python loop over rows.
    A pair ``i < j`` first differs in some bit ``k`` of the position (``i`` has 0, ``j`` has 1,
    the higher bits agree). Top-down over ``k``, the rows are kept ordered by (position
    ``>> (k + 1)``, value, position): each group of positions that agree above bit ``k`` is a
    contiguous range of the array, its left half (bit ``k`` = 0) and right half interleaved in
    value order, so a left row's count of smaller right rows is the number of right rows before
    it in its group (a cumulative sum; an equal value sorts after it, being at a later
    position). A stable partition of each group by bit ``k`` gives the order for ``k - 1``.
    Equal later values: within each run of equal values, ordered by position.
    """
    n = v.size
    if n < 2:
        return 0, 0
    idx = np.arange(n)
    span = int(v.max()) - int(v.min()) + 1
    if span * n < 2**62:  # by (value, position): one quicksort of distinct integer keys
        perm = np.argsort((v - v.min()) * np.int64(n) + idx)
    else:
        perm = np.argsort(v, kind="stable")
    vs = v[perm]
    qs = np.asarray(query, dtype=bool)[perm]
    runs = _runs(vs)
    run_end = np.repeat(np.cumsum(runs), runs)
    equal = int((run_end - 1 - idx)[qs].sum())
    dt = np.int32 if 2 * n < 2**31 else np.int64
    code = (perm.astype(dt) << 1) | qs.astype(dt)  # position and query flag of each slot
    t = idx.astype(dt)
    less = 0
    for k in range(int(n - 1).bit_length() - 1, -1, -1):
        bit = (code >> (k + 1)) & 1  # bit k of the position
        g0 = t & ~dt((1 << (k + 1)) - 1)  # first slot of the group (its positions are its slots)
        before = np.cumsum(bit, dtype=dt)
        before -= bit
        before -= g0 >> 1  # right rows before the slot in its group
        counted = (code & 1) & (bit ^ 1)  # query rows of the left half
        less += int(np.sum(before * counted, dtype=np.int64))  # no BLAS call: steady with threads not limited
        # stable partition of each group: left rows to g0 + (left rows before), right rows after all left rows
        g0 += np.minimum(dt(1 << k), dt(n) - g0)
        g0 += before
        new = np.where(bit.astype(bool), g0, t - before)
        nxt = np.empty_like(code)
        nxt[new] = code
        code = nxt
    return less, equal


def concordance(time: np.ndarray, event: np.ndarray, eta: np.ndarray,
                strata: np.ndarray | None = None) -> tuple[float, dict[str, int]]:
    """Harrell's C of a linear predictor in ``O(n log n)``, with the conventions of R ``concordance``.

    A pair is comparable when the shorter time is an event (an event and a censored time that
    are equal count the censored as longer; two events at the same time are not comparable) and,
    with strata, both rows are in the same stratum. It is concordant when the earlier event has
    the larger ``eta`` (higher hazard), tied when the ``eta`` are equal (counts 1/2).

    Parameters
    ----------
    time, event, eta : arrays (n,)
    strata : int array (n,), optional

    Returns
    -------
    c : float
        ``(concordant + tied / 2) / (concordant + discordant + tied)``; NaN without comparable pairs.
    counts : dict
        ``concordant``, ``discordant``, ``tied_risk``, ``comparable``.

    Examples
    --------
    >>> import numpy as np
    >>> concordance(np.array([1.0, 2, 3]), np.array([True, True, False]), np.array([2.0, 1, 0]))[0]
    1.0
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    eta = np.asarray(eta, dtype=float)
    n = time.size
    s = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    if n == 0:
        return float("nan"), {"concordant": 0, "discordant": 0, "tied_risk": 0, "comparable": 0}
    # order: stratum, time, events before censored, then eta descending (ties among tied events resolved below)
    _, tr = np.unique(time, return_inverse=True)
    _, vr = np.unique(eta, return_inverse=True)
    tr, vr = tr.astype(np.int64).ravel(), vr.astype(np.int64).ravel()
    n_t, n_v, n_s = int(tr.max()) + 1, int(vr.max()) + 1, int(s.max()) + 1
    if n_s * n_t * 2 * n_v < 2**62:  # one integer key, one quicksort (equal keys are interchangeable rows)
        key = ((s * n_t + tr) * 2 + ~event) * n_v + (n_v - 1 - vr)
        order = np.argsort(key)
        key = key[order]
    else:
        order = np.lexsort((-vr, ~event, tr, s))
        key = None
    e, st = event[order], s[order]
    # v = stratum-major rank of eta: a later row in another stratum never counts as "smaller or equal"
    v = st * n_v + vr[order]
    less, equal = _count_smaller_after(v, e)
    # comparable pairs: later rows of the same stratum, minus tied events at the same time
    end_of_stratum = np.cumsum(np.bincount(st, minlength=n_s))[st]
    after = end_of_stratum - np.arange(n) - 1
    comparable = int(after[e].sum())
    same_time = (st * n_t + tr[order])[e]  # events are contiguous by (stratum, time), eta descending within
    same_eta = key[e] if key is not None else same_time * n_v + vr[order][e]
    g = _runs(same_time)
    k = _runs(same_eta)
    pairs_same_time = int((g * (g - 1) // 2).sum())
    ties_same_time = int((k * (k - 1) // 2).sum())
    comparable -= pairs_same_time
    # within a group of tied events the order is eta descending: its pairs were counted as
    # concordant (different eta) or tied (equal eta); take them out
    conc = less - (pairs_same_time - ties_same_time)
    tied = equal - ties_same_time
    disc = comparable - conc - tied
    counts = {"concordant": conc, "discordant": disc, "tied_risk": tied, "comparable": comparable}
    c = (conc + tied / 2) / comparable if comparable > 0 else float("nan")
    return float(c), counts
