"""Fitting Turnbull's NPMLE on innermost intervals, with and without late entry (left truncation).

The solver behind :func:`footdrop_outcomes.survival.turnbull`: innermost intervals (Turnbull
1976), a few self-consistency (EM) steps, then a constrained Newton method on the support
(optimality conditions of Gentleman & Geyer 1994); with late entry Turnbull's EM with ghost
patients, each step solving the plain NPMLE exactly, accelerated by SQUAREM. Also the observed
information and covariance of the masses. What the fit identifies, and how the curve is read,
is in :mod:`footdrop_outcomes.survival.turnbull`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from footdrop_outcomes.errors import ConvergenceError, FootdropError
from footdrop_outcomes.survival._entry import LateEntryWarning


def _turnbull_fit(lo: np.ndarray, up: np.ndarray, *, tol: float, max_iter: int, label: str,
                  entry: np.ndarray | None = None, weight: np.ndarray | None = None) -> dict[str, Any]:
    """NPMLE on innermost intervals: a few self-consistency (EM) steps (Turnbull 1976), then a
    constrained Newton method on the support. With ``entry`` (left truncation) the likelihood is
    conditional on ``T > entry`` and the EM steps are Turnbull's, with ghost patients."""
    # collapse identical intervals into one row with a count (or summed weight): on a registry most
    # patients share their (lower, upper, entry) with others (visits on a weekly grid)
    w_row = None if weight is None else np.asarray(weight, dtype=float)
    if entry is None:
        pairs, inv = np.unique(np.c_[lo, up], axis=0, return_inverse=True)
        L, R, E = pairs[:, 0], pairs[:, 1], np.zeros(0)
    else:
        pairs, inv = np.unique(np.c_[lo, up, entry], axis=0, return_inverse=True)
        L, R, E = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    w = np.bincount(inv.ravel(), weights=w_row, minlength=pairs.shape[0]).astype(float)
    # innermost intervals (Turnbull 1976): a left end immediately followed by a right end in the
    # merged order, with right ends before left ends at ties ((a, v] ends at v; (v, b] starts after v)
    vals = np.r_[R, L]
    kind = np.r_[np.zeros(R.size, int), np.ones(L.size, int)]  # 0 = right end, 1 = left end
    order = np.lexsort((kind, vals))
    vals, kind = vals[order], kind[order]
    is_left_then_right = (kind[:-1] == 1) & (kind[1:] == 0)
    left, right = vals[:-1][is_left_then_right], vals[1:][is_left_then_right]
    # each observed interval covers a contiguous run [start, end) of innermost intervals
    start = np.searchsorted(left, L, side="left")
    end = np.searchsorted(right, R, side="right")
    if np.any(end <= start):  # cannot happen for upper > lower; guard the invariant
        raise FootdropError(f"group {label!r}: an interval covers no innermost interval")
    m = left.size
    if entry is None:
        start, end, _, w = _collapse_runs(m, w, start, end, None)
        p, it = _npmle(np.full(m, 1.0 / m), start, end, w, tol=tol, max_iter=max_iter, label=label, em_steps=50)
        return {"left": left, "right": right, "p": p, "support": p > 0, "start": start, "end": end, "w": w,
                "iterations": it, "loglik": _loglik(p, start, end, w), "trunc": None}
    # Left truncation: patient i's likelihood is divided by B_i p, the mass after entry e_i. The
    # likelihood of the recovery intervals does not say where inside an innermost interval (q, r]
    # its mass lies; the truncation terms do: with the mass before an entry e inside (q < e < r),
    # P(T > e) is smallest and the likelihood largest. So an innermost interval holding e counts
    # wholly before e, and the fit is the NPMLE among distributions with their mass in Turnbull's
    # innermost intervals (placed before any entry inside). Frydman's (1994) NPMLE also allows mass
    # on cells (l, e] that end at an entry outside every innermost interval; there it is chosen
    # only because it lowers P(T > e), and it biased the shares upwards (docs/survival.md). The
    # open interval (l, inf] (never seen recovered) counts after every entry. So B_i p is the run
    # [tstart_i, m).
    tstart = np.searchsorted(left, E, side="left")  # first interval with left end >= entry
    k = np.maximum(tstart - 1, 0)
    tstart = np.where((tstart > 0) & ~np.isfinite(right[k]), k, tstart)
    # the likelihood sees a row only through its runs: rows with the same (start, end, tstart) are one
    start, end, tstart, w = _collapse_runs(m, w, start, end, tstart)
    trunc = tstart
    # Turnbull's (1976) EM adds "ghosts": w_i (1 - B_i p) / B_i p unseen patients who recovered
    # before entry i (the run [0, tstart_i)). Each outer step fixes the ghosts at the current p and
    # solves that plain NPMLE exactly; the fixed point is the conditional MLE, whose likelihood is
    # not concave.
    has_ghost = tstart > 0
    aug_start = np.r_[start, np.zeros(int(has_ghost.sum()), dtype=np.int64)]
    aug_end = np.r_[end, tstart[has_ghost]]
    # many patients' ghosts share a run (0, tstart), and many patients a run (start, end): the plain
    # NPMLE of each step sees one row per distinct run, with the weights summed
    aug_key = aug_start.astype(np.int64) * (m + 1) + aug_end
    aug_runs, aug_inv = np.unique(aug_key, return_inverse=True)
    aug_inv = aug_inv.ravel()
    aug_s, aug_e = np.divmod(aug_runs, m + 1)
    steps = [0]

    def ghost_step(q: np.ndarray, em_steps: int = 2) -> np.ndarray:
        """One EM step of the conditional likelihood: ghosts from q, then the plain NPMLE exactly."""
        empty = _run_mass(q, aug_start, aug_end) <= 0
        if empty.any():  # a run without mass: a little at its first interval, for the warm start
            q = q.copy()
            np.add.at(q, aug_start[empty], 1e-6)
            q /= q.sum()
        bp = _run_mass(q, tstart, np.full_like(tstart, m))[has_ghost]
        ghosts = w[has_ghost] * (1.0 - bp) / bp
        # ghosts of negligible weight are left out (EM would shrink their run's mass to nothing)
        keep = np.r_[np.ones(w.size, dtype=bool), ghosts > 1e-9 * w[has_ghost]]
        run_w = np.bincount(aug_inv[keep], weights=np.r_[w, ghosts][keep], minlength=aug_runs.size)
        present = np.bincount(aug_inv[keep], minlength=aug_runs.size) > 0
        new, n_it = _npmle(q, aug_s[present], aug_e[present], run_w[present], tol=tol, max_iter=max_iter,
                           label=label, em_steps=em_steps)
        steps[0] += n_it
        return new

    def loglik(q: np.ndarray) -> float:
        return _loglik(q, start, end, w, trunc)

    # SQUAREM (Varadhan & Roland 2008, scheme S3) on the ghost EM map, kept monotone
    p = ghost_step(np.full(m, 1.0 / m), em_steps=50)
    ll = loglik(p)
    best, converged = (ll, p, np.inf), True
    for outer in range(1, MAX_OUTER + 1):
        p1 = ghost_step(p)
        p2 = ghost_step(p1)
        r, v = p1 - p, p2 - 2 * p1 + p
        new = p2
        nv = float(np.sqrt(v @ v))
        if nv > 0:
            alpha = min(-1.0, -float(np.sqrt(r @ r)) / nv)
            jump = np.maximum(p - 2 * alpha * r + alpha**2 * v, 0.0)
            if np.isfinite(jump).all() and jump.sum() > 0:
                cand = ghost_step(jump / jump.sum())
                if loglik(cand) >= loglik(p2):
                    new = cand
        # masses that EM only shrinks geometrically (ghost mass before the entries) are zero at the
        # optimum: drop small ones with a negative gradient, go on from there, check optimality
        p, kkt = _truncated_kkt(new, start, end, w, trunc)
        ll_new = loglik(p)
        # optimal; or stalled close to it (on flat likelihoods a weakly identified mass keeps a
        # small gradient while the log-likelihood no longer moves)
        stalled = abs(ll_new - ll) <= tol * max(1.0, abs(ll_new))
        if kkt <= 1e-6 or (stalled and kkt <= 1e-3):
            break
        ll = ll_new
        if ll_new > best[0]:
            best = (ll_new, p, kkt)
    else:  # a loose stop: the best masses found, flagged (converged False) and warned about
        ll, p, kkt = best
        converged = False
        warnings.warn(f"Turnbull NPMLE (late entry) for group {label!r}: stopped after {MAX_OUTER} accelerated EM "
                      f"steps with an optimality violation of {kkt:.1g} (per patient); estimates may be slightly "
                      "off", LateEntryWarning, stacklevel=4)
    it = steps[0]
    return {"left": left, "right": right, "p": p, "support": p > 0, "start": start, "end": end, "w": w,
            "iterations": it, "loglik": _loglik(p, start, end, w, trunc), "trunc": trunc, "outer_steps": outer,
            "converged": converged}


def _collapse_runs(m: int, w: np.ndarray, start: np.ndarray, end: np.ndarray, tstart: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Rows with the same runs (``start``, ``end`` and, with late entry, ``tstart``) summed into one.

    The likelihood, its gradient, information and the ghost patients are sums over rows of terms
    that depend on a row only through its runs and are linear in its weight: this changes nothing
    but the order of summation, and makes the solver's work per step grow with the number of
    distinct runs (at most ``m^2`` or ``m^3``), not with the number of patients.
    """
    key = start.astype(np.int64) * (m + 1) + end
    if tstart is not None:
        key = key * (m + 1) + tstart
    uniq, inv = np.unique(key, return_inverse=True)
    w = np.bincount(inv.ravel(), weights=w, minlength=uniq.size)
    if tstart is not None:
        uniq, tstart = np.divmod(uniq, m + 1)
    s, e = np.divmod(uniq, m + 1)
    return s, e, tstart, w


def _run_mass(p: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mass of each run ``[start, end)`` of innermost intervals."""
    c = np.concatenate(([0.0], np.cumsum(p)))
    return c[end] - c[start]


def _run_sums(m: int, start: np.ndarray, end: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``d_j = sum over rows whose run [start, end) holds j of values``, for j < m (difference array)."""
    diff = np.bincount(start, weights=values, minlength=m + 1) - np.bincount(end, weights=values, minlength=m + 1)
    return np.cumsum(diff)[:m]


def _truncated_kkt(p: np.ndarray, start: np.ndarray, end: np.ndarray, w: np.ndarray,
                   trunc: np.ndarray) -> tuple[np.ndarray, float]:
    """Masses with the vanishing ones set to zero, and the largest violation of the conditional
    NPMLE's optimality: with g_j = dll/dp_j / n, optimal iff g_j <= 0 everywhere and g_j = 0 where
    p_j > 0."""
    m = p.size
    tstart = trunc

    def grad(q: np.ndarray) -> np.ndarray:
        c = np.concatenate(([0.0], np.cumsum(q)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = w / (c[end] - c[start])
            b_ratio = w / (c[m] - c[tstart])
            diff = (np.bincount(start, weights=ratio, minlength=m + 1) - np.bincount(end, weights=ratio, minlength=m + 1)
                    - np.bincount(tstart, weights=b_ratio, minlength=m + 1))
            g = np.cumsum(diff)[:m]
            return g / w.sum()

    def violation(q: np.ndarray, g: np.ndarray) -> float:
        return float(max(g.max(), np.abs(g[q > 0]).max())) if np.isfinite(g).all() else np.inf

    g = grad(p)
    q = np.where((g < -1e-5) & (p < 1e-4), 0.0, p)  # small masses the likelihood pushes out
    q /= q.sum()
    gq = grad(q)
    if _loglik(q, start, end, w, trunc) < _loglik(p, start, end, w, trunc) - 1e-9 or violation(q, gq) > violation(p, g):
        return p, violation(p, g)
    return q, violation(q, gq)


#: Most accelerated EM steps of the late-entry NPMLE (each solves a plain NPMLE three times).
MAX_OUTER = 300


def _loglik(p: np.ndarray, start: np.ndarray, end: np.ndarray, w: np.ndarray,
            trunc: np.ndarray | None = None) -> float:
    """Log-likelihood of the masses (conditional on T > entry when ``trunc``, each row's first
    innermost interval counted after its entry, is given)."""
    with np.errstate(divide="ignore"):
        ll = float(w @ np.log(_run_mass(p, start, end)))
        if trunc is not None:
            ll -= float(w @ np.log(_run_mass(p, trunc, np.full_like(trunc, p.size))))
    return ll


def _npmle(p: np.ndarray, start: np.ndarray, end: np.ndarray, w: np.ndarray, *, tol: float, max_iter: int,
           label: str, em_steps: int) -> tuple[np.ndarray, int]:
    """Turnbull NPMLE of the runs ``[start, end)`` with weights ``w``, from ``p``: EM steps, then
    a constrained Newton method on the support."""
    m = p.size
    n = w.sum()

    def gradient(p: np.ndarray) -> tuple[np.ndarray, float]:
        """Reduced gradient d_j = sum_i w_i a_ij / (n A_i p), and the log-likelihood."""
        ap = _run_mass(p, start, end)
        with np.errstate(divide="ignore"):
            ratio = w / ap
            ll = float(w @ np.log(ap))
        with np.errstate(invalid="ignore"):  # a run without mass: ll = -inf, the step is rejected
            return _run_sums(m, start, end, ratio) / n, ll

    def em(p: np.ndarray) -> np.ndarray:
        new = p * gradient(p)[0]
        return new / new.sum()

    # Optimality (Gentleman & Geyer 1994): p is the NPMLE iff d_j <= 1 for every j, with equality
    # where p_j > 0; by concavity the log-likelihood is then within n * (max d - 1) of its maximum.
    # Plain EM gets there only slowly (masses that belong at zero shrink geometrically), so a few
    # EM steps find the region, then a constrained Newton method on the support (active set:
    # masses that hit zero leave, violators of d_j <= 1 enter) converges quadratically.
    for _ in range(min(em_steps, max_iter)):
        p = em(p)
    small = np.where(p > 1e-8 * p.max(), p, 0.0)
    empty = _run_mass(small, start, end) <= 0
    keep_at = start[empty]
    small[keep_at] = p[keep_at]  # never leave an observed run without mass
    p = small / small.sum()
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        d, ll = gradient(p)
        support = p > 0
        if d[support].max() - d[support].min() < tol:  # optimal on the support; look outside it
            out = np.where(support, -np.inf, d)
            j = int(np.argmax(out))
            if out[j] <= 1 + tol:
                converged = True
                break
            p = _vertex_step(p, j, gradient)
            continue
        idx = np.flatnonzero(support)
        info = _information(p, start, end, w, idx)
        g = n * d[idx]
        a_g, a_1 = _newton_solve(info, np.c_[g, np.ones(idx.size)], label).T
        delta = a_g - (a_g.sum() / a_1.sum()) * a_1  # maximise the quadratic model on sum(p) = 1
        neg = delta < 0
        step = min(1.0, float(np.min(-p[idx][neg] / delta[neg]))) if neg.any() else 1.0
        while True:  # backtrack until the log-likelihood does not decrease
            cand = p.copy()
            cand[idx] = np.maximum(p[idx] + step * delta, 0.0)
            cand[idx[cand[idx] < 1e-14 * cand.max()]] = 0.0
            cand /= cand.sum()
            if gradient(cand)[1] >= ll - 1e-12 * abs(ll) or step < 1e-10:
                break
            step /= 2
        p = cand
    if not converged:
        raise ConvergenceError(f"Turnbull NPMLE for group {label!r} did not converge in {max_iter} steps; raise max_iter")
    return p, it


def _newton_solve(info: np.ndarray, rhs: np.ndarray, label: str) -> np.ndarray:
    """``info^-1 rhs`` for the Newton step: Cholesky (the information on the support is positive
    definite when every mass is identified), least squares when it is singular or nearly so."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        factor = cho_factor(info, check_finite=False)
        d = np.diag(factor[0])
        if d.min() > 1e-7 * d.max():  # else nearly singular: least squares, as before
            return cho_solve(factor, rhs, check_finite=False)
    except LinAlgError:
        pass
    try:
        return np.linalg.lstsq(info, rhs, rcond=None)[0]
    except np.linalg.LinAlgError:  # pragma: no cover - lstsq does not fail on finite input
        raise ConvergenceError(f"Turnbull Newton step failed for group {label!r}") from None


def _information(p: np.ndarray, start: np.ndarray, end: np.ndarray, w: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Observed information of the masses ``idx``: ``M[a, b] = sum_i u_i a_i[idx[a]] a_i[idx[b]]``.

    With ``u_i = w_i / (A_i p)^2`` and ``a_i`` the indicator of the run ``[start_i, end_i)``.
    Runs are contiguous, so a run covers both iff ``start_i <= min`` and ``end_i > max``: a 2-D
    cumulative sum of a histogram of (start, end) in support coordinates. O(n + k^2), no n x k
    matrix.
    """
    k = idx.size
    u = w / _run_mass(p, start, end) ** 2
    # position in the support of each run's ends: the number of support masses before start_i (end_i)
    before = np.zeros(p.size + 1, dtype=np.int64)
    before[idx + 1] = 1
    before = np.cumsum(before)
    s_i = before[start]  # start_i <= idx[a]  <=>  s_i <= a
    e_i = before[end]  # end_i > idx[b]  <=>  e_i > b
    # histogram over (s_i, k - e_i): cumulative sums forward along both axes give
    # cum[a, k - e] = sum of u over rows with s_i <= a and e_i >= e
    cum = np.bincount(s_i * (k + 1) + (k - e_i), weights=u, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    np.cumsum(cum, axis=0, out=cum)
    np.cumsum(cum, axis=1, out=cum)
    # M[a, b] (a <= b) = cum[a, k - (b + 1)]
    upper = cum[:k, k - 1::-1] if k else cum[:0, :0]
    a = np.arange(k)
    return np.where(a[:, None] <= a[None, :], upper, upper.T)


def _vertex_step(p: np.ndarray, j: int, gradient: Any) -> np.ndarray:
    """Move mass towards the vertex e_j: maximise ll((1 - e) p + e e_j) over e in (0, 1) by bisection."""
    def slope(e: float) -> float:
        q = (1 - e) * p
        q[j] += e
        d, _ = gradient(q)
        return d[j] - 1.0  # d/de ll = n (d_j(q) - sum_k p_k d_k(q)) / (1 - e) has the sign of d_j(q) - 1

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    q = (1 - lo) * p
    q[j] += lo
    return q


def _turnbull_cov(fit: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the non-zero masses (inverse observed information, last mass eliminated)."""
    idx = np.flatnonzero(fit["support"])
    mm = _information(fit["p"], fit["start"], fit["end"], fit["w"], idx)
    if fit.get("trunc") is not None:  # conditional likelihood: less the information of P(T > entry)
        ts = fit["trunc"]
        mm = mm - _information(fit["p"], ts, np.full_like(ts, fit["left"].size), fit["w"], idx)
    free, last = np.arange(idx.size - 1), idx.size - 1
    info = mm[np.ix_(free, free)] - mm[free, last][:, None] - mm[last, free][None, :] + mm[last, last]
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(info)
    return cov, idx

