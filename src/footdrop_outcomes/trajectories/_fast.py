"""Profiled (RE)ML for linear mixed models with one grouping factor and a few random effects.

Model (lme4's parameterisation): ``y_i = X_i b + Z_i u_i + e_i``, ``u_i ~ N(0, sigma^2 D)``,
``e_i ~ N(0, sigma^2 I)``, ``D = L L'`` with ``L`` lower triangular; ``theta`` holds the
lower-triangular entries of ``L`` by column (lme4's ``theta``: for an intercept and a slope,
``(L11, L21, L22)``). Groups are independent, so with ``V_i = I + Z_i D Z_i'`` everything the
likelihood needs is a sum over groups of ``q x q`` and ``q x p`` pieces:

* per group, once: ``S_i = Z_i'Z_i``, ``G_i = Z_i'X_i``, ``z_i = Z_i'y_i``; globally ``X'X``,
  ``X'y``, ``y'y`` (the sufficient statistics; the rows are never touched again);
* for a given ``theta``: ``M_i = I + D S_i``, ``H_i = M_i^{-1} D`` (symmetric, equal to
  ``(D^{-1} + S_i)^{-1}`` when ``D`` is invertible), ``log|V_i| = log|M_i|`` and, by Woodbury,
  ``X'V^{-1}X = X'X - sum G_i' H_i G_i``, ``X'V^{-1}y = X'y - sum G_i' H_i z_i``,
  ``y'V^{-1}y = y'y - sum z_i' H_i z_i``.

``b`` and ``sigma^2`` are profiled out: ``b(theta)`` solves the GLS equations,
``r^2 = y'V^{-1}y - b'X'V^{-1}y`` and ``sigma^2 = r^2 / nu`` with ``nu = N`` (ML) or
``N - p`` (REML). The profiled deviance (-2 log-likelihood) is

* ML: ``sum log|M_i| + N (1 + log(2 pi r^2 / N))``,
* REML: ``sum log|M_i| + log|X'V^{-1}X| + (N - p)(1 + log(2 pi r^2 / (N - p)))``,

exactly lme4's criterion. The gradient in ``D`` is, with ``K_i = M_i^{-T} = (I + S_i D)^{-1}``,
``w_i = z_i - G_i b`` and ``u_i = K_i w_i`` (= ``Z_i'V_i^{-1}(y_i - X_i b)``):

``dDev/dD = sum K_i S_i - (nu / r^2) sum u_i u_i' [- sum K_i G_i (X'V^{-1}X)^{-1} G_i' K_i' for REML]``

(the ``b`` and ``sigma`` terms vanish at the profiled optimum), and ``dDev/dL = 2 (dDev/dD) L``.
For ``q <= 2`` the ``q x q`` inverses and determinants are closed-form and everything is
vectorised over groups: one evaluation costs a few ``(groups q) x p`` matrix products.

Convergence (:func:`convergence`, reported in ``info["convergence"]`` of the fits): the fit
has converged when, at the estimate,

* the largest **projected gradient** of the profiled deviance (components at a lower bound
  with a gradient pointing out of the feasible set count 0) is at most ``GTOL = 1e-4``
  (deviance units per unit of ``theta``; ``theta`` is scale-free: random-effect columns are
  rescaled to root mean square 1 before fitting), and
* the **relative change** that one more Newton step (finite-difference Hessian of the analytic
  gradient) would make, ``max_j |dtheta_j| / max(1, |theta_j|)``, is at most ``XTOL = 1e-6``.

Both are absolute in the deviance's own units, not relative to the deviance (a tolerance
relative to ``|deviance|`` grows with the number of patients: a 20,000-patient REML fit with
deviance 1.1e5 passed with a projected gradient of 9e-4, issue 16). The Newton polish accepts
steps that lower the gradient while the deviance stays within rounding (``1e-11`` relative)
of its value: at the optimum of a large data set the deviance is flat to rounding and a strict
decrease can never be seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize

from footdrop_outcomes._checks import cross as _cross  # chunked a'b: see its docstring

__all__ = ["Blocks", "Evaluation", "blocks", "d_to_theta", "evaluate", "fit", "full_deviance", "theta_to_d"]

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Blocks:
    """Sufficient statistics of one data set (rows sorted by group)."""

    n_obs: int
    n_groups: int
    p: int
    q: int
    xtx: np.ndarray  # (p, p)
    xty: np.ndarray  # (p,)
    yty: float
    s: np.ndarray  # (g, q, q)
    g: np.ndarray  # (g, q, p)
    z: np.ndarray  # (g, q)
    starts: np.ndarray  # first row of each group
    counts: np.ndarray
    gs: tuple[np.ndarray, ...] = ()  # g[:, a, :] as contiguous (g, p) arrays


def blocks(y: np.ndarray, x: np.ndarray, zmat: np.ndarray, codes: np.ndarray) -> Blocks:
    """Per-group sums. ``codes`` are group numbers 0..g-1, non-decreasing along the rows."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    zmat = np.asarray(zmat, dtype=float)
    n, p = x.shape
    q = zmat.shape[1]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, n])
    s = np.empty((starts.size, q, q))
    g_by_column = np.empty((q, starts.size, p))  # one array: g is a view of it and gs its contiguous slices
    zy = np.empty((starts.size, q))
    for a in range(q):
        za = zmat[:, a]
        g_by_column[a] = np.add.reduceat(za[:, None] * x, starts, axis=0)
        zy[:, a] = np.add.reduceat(za * y, starts)
        for b in range(a, q):
            s[:, a, b] = s[:, b, a] = np.add.reduceat(za * zmat[:, b], starts)
    g = g_by_column.transpose(1, 0, 2)
    gs = tuple(g_by_column[a] for a in range(q))
    return Blocks(n, int(starts.size), p, q, _cross(x, x), _cross(x, y[:, None])[:, 0], float(y @ y), s, g, zy, starts,
                  counts, gs)


_CHUNK = 512


def _rows_times(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a @ m`` for a tall ``a`` (chunked, see :func:`_cross`)."""
    out = np.empty((a.shape[0], m.shape[1]))
    for s in range(0, a.shape[0], _CHUNK):
        out[s:s + _CHUNK] = a[s:s + _CHUNK] @ m
    return out


def n_theta(q: int) -> int:
    return q * (q + 1) // 2


def _tri(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    k = 0
    for j in range(q):  # by column, as lme4
        for i in range(j, q):
            lam[i, j] = theta[k]
            k += 1
    return lam


def _tri_entries(mat: np.ndarray) -> np.ndarray:
    q = mat.shape[0]
    return np.array([mat[i, j] for j in range(q) for i in range(j, q)])


def theta_to_d(theta: np.ndarray, q: int) -> np.ndarray:
    lam = _tri(np.asarray(theta, dtype=float), q)
    return lam @ lam.T


def d_to_theta(d: np.ndarray) -> np.ndarray:
    """Cholesky factor entries of a relative covariance (a PSD ``d`` on the boundary is handled)."""
    q = d.shape[0]
    try:
        lam = np.linalg.cholesky(d)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(d)
        lam = np.linalg.cholesky(v @ np.diag(np.maximum(w, 1e-12)) @ v.T)
    return _tri_entries(lam) if q > 1 else lam.ravel()


def lower_bounds(q: int | tuple[int, ...]) -> list[tuple[float | None, float | None]]:
    """Diagonal entries of ``L`` are >= 0 (lme4's bounds), off-diagonal free.

    ``q`` may be a tuple of block sizes (one ``L`` per grouping level, ``theta`` concatenated:
    the three-level engine, :mod:`footdrop_outcomes.trajectories._fast3`).
    """
    if isinstance(q, tuple):
        return [b for qq in q for b in lower_bounds(qq)]
    return [(0.0, None) if i == j else (None, None) for j in range(q) for i in range(j, q)]


def _small_inv_det(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and determinant of a stack of q x q matrices (closed form for q <= 2)."""
    q = m.shape[-1]
    if q == 1:
        det = m[:, 0, 0]
        return (1.0 / det)[:, None, None], det
    if q == 2:
        a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
        det = a * d - b * c
        inv = np.empty_like(m)
        inv[:, 0, 0] = d / det
        inv[:, 0, 1] = -b / det
        inv[:, 1, 0] = -c / det
        inv[:, 1, 1] = a / det
        return inv, det
    return np.linalg.inv(m), np.linalg.det(m)


def _weighted_sum(weights: list[np.ndarray], arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    """``sum_b weights[b][:, None] * arrays[b]`` for tall ``(groups, p)`` arrays, with one temporary
    (equal to the generator ``sum``, whose extra ``0 +`` pass and per-term arrays it avoids)."""
    out = np.multiply(np.ascontiguousarray(weights[0])[:, None], arrays[0])
    if len(arrays) > 1:
        tmp = np.empty_like(out)
        for w, arr in zip(weights[1:], arrays[1:]):
            np.multiply(np.ascontiguousarray(w)[:, None], arr, out=tmp)
            out += tmp
    return out


@dataclass
class Evaluation:
    """Everything computed at one ``theta``."""

    deviance: float
    gradient: np.ndarray | None
    beta: np.ndarray
    r2: float
    nu: int
    a: np.ndarray  # X'V^-1 X (relative)
    chol_a: np.ndarray  # upper Cholesky factor of a
    h: np.ndarray  # (g, q, q)
    k: np.ndarray  # (g, q, q)
    logdet_v: float
    logdet_a: float

    @property
    def sigma2(self) -> float:
        return self.r2 / self.nu


def evaluate(theta: np.ndarray, bl: Blocks, reml: bool, *, gradient: bool = True) -> Evaluation:
    """Profiled deviance (and its gradient in ``theta``) at ``theta``; raises ``LinAlgError`` if singular.

    The ``q x q`` algebra is written out entry by entry on arrays over groups (``q`` is 1 to 3),
    so every step is a vectorised operation or a ``(p x groups)(groups x p)`` product.
    """
    q, p = bl.q, bl.p
    lam = _tri(np.asarray(theta, dtype=float), q)
    d = lam @ lam.T
    s = bl.s
    m = np.empty_like(s)
    for a in range(q):
        for b in range(q):
            m[:, a, b] = (1.0 if a == b else 0.0) + sum(d[a, c] * s[:, c, b] for c in range(q))
    minv, det = _small_inv_det(m)
    if np.any(det <= 0) or not np.all(np.isfinite(det)):
        raise np.linalg.LinAlgError("I + D S_i is not positive definite")
    h = np.empty_like(s)  # (I + D S)^-1 D, symmetric
    for a in range(q):
        for b in range(a, q):
            h[:, a, b] = sum(minv[:, a, c] * d[c, b] for c in range(q))
            if b > a:
                h[:, a, b] = 0.5 * (h[:, a, b] + sum(minv[:, b, c] * d[c, a] for c in range(q)))
                h[:, b, a] = h[:, a, b]
    gs = bl.gs
    a_mat = bl.xtx.copy()
    c = bl.xty.copy()
    yvy = bl.yty
    for a in range(q):
        hg_a = _weighted_sum([h[:, a, b] for b in range(q)], gs)
        hz_a = sum(h[:, a, b] * bl.z[:, b] for b in range(q))
        a_mat -= _cross(gs[a], hg_a)
        c -= _cross(gs[a], hz_a[:, None])[:, 0]
        yvy -= float(bl.z[:, a] @ hz_a)
    a_mat = 0.5 * (a_mat + a_mat.T)
    chol_a = linalg.cholesky(a_mat, lower=False)
    beta = linalg.cho_solve((chol_a, False), c)
    r2 = float(yvy - beta @ c)
    if not r2 > 0:
        raise np.linalg.LinAlgError("non-positive residual sum of squares")
    nu = bl.n_obs - p if reml else bl.n_obs
    logdet_v = float(np.sum(np.log(det)))
    logdet_a = float(2 * np.sum(np.log(np.diag(chol_a))))
    dev = logdet_v + nu * (1 + _LOG_2PI + math.log(r2 / nu))
    if reml:
        dev += logdet_a
    k = np.swapaxes(minv, 1, 2)  # (I + S D)^-1
    grad = None
    if gradient:
        w = [bl.z[:, a] - _rows_times(gs[a], beta[:, None])[:, 0] for a in range(q)]
        u = [sum(k[:, a, b] * w[b] for b in range(q)) for a in range(q)]
        gd = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                gd[a, b] = float(np.sum(sum(k[:, a, cc] * s[:, cc, b] for cc in range(q)))) - (nu / r2) * float(u[a] @ u[b])
        if reml:
            # sum_i k_a,i G_i A^-1 G_i' k_b,i' = tr(A^-1 (KG_a' KG_b)): one p x p cross-product per pair
            a_inv = linalg.cho_solve((chol_a, False), np.eye(p))
            kg = [_weighted_sum([k[:, a, b] for b in range(q)], gs) for a in range(q)]
            for a in range(q):
                for b in range(a, q):
                    tr = float(np.sum(a_inv * _cross(kg[a], kg[b])))  # the same for (b, a): A^-1 is symmetric
                    gd[a, b] -= tr
                    if b > a:
                        gd[b, a] -= tr
        gd = 0.5 * (gd + gd.T)
        grad = _tri_entries(2 * gd @ lam)
    return Evaluation(dev, grad, beta, r2, nu, a_mat, chol_a, h, k, logdet_v, logdet_a)


def full_deviance(theta: np.ndarray, sigma2: float, bl: Blocks, reml: bool) -> float:
    """-2 log-likelihood (REML: restricted) at ``theta`` and a free ``sigma^2`` (``b`` profiled).

    Equals the profiled deviance at ``sigma^2 = r^2 / nu``; used for the observed information of
    the variance parameters.
    """
    ev = evaluate(theta, bl, reml, gradient=False)
    dev = ev.logdet_v + bl.n_obs * math.log(sigma2) + ev.r2 / sigma2 + ev.nu * _LOG_2PI
    if reml:
        dev += ev.logdet_a - bl.p * math.log(sigma2)
    return dev


@dataclass
class FitOutcome:
    theta: np.ndarray
    evaluation: Evaluation
    optimizer: str
    attempts: list[dict[str, Any]]
    converged: bool
    projected_gradient: float
    convergence: dict[str, Any]


def _projected_gradient(theta: np.ndarray, grad: np.ndarray, q: int | tuple[int, ...]) -> np.ndarray:
    pg = grad.copy()
    for j, (lo, _) in enumerate(lower_bounds(q)):
        if lo is not None and theta[j] <= lo + 1e-10 and grad[j] > 0:
            pg[j] = 0.0
    return pg


GTOL = 1e-4   # largest projected gradient of the deviance
XTOL = 1e-6   # relative change of the next Newton step
_FLAT = 1e-11  # deviance "unchanged" within this relative rounding


def _free(theta: np.ndarray, grad: np.ndarray, q: int | tuple[int, ...]) -> np.ndarray:
    return np.array([not (lo is not None and theta[j] <= lo + 1e-10 and grad[j] > 0) for j, (lo, _) in enumerate(lower_bounds(q))])


def _newton_step(theta: np.ndarray, grad: np.ndarray, q: int | tuple[int, ...], fun: Any,
                 free: np.ndarray | None = None) -> np.ndarray | None:
    """Projected Newton step with a forward-difference Hessian of the analytic gradient (None: not positive definite)."""
    free = _free(theta, grad, q) if free is None else free
    step = np.zeros_like(theta)
    if not free.any():
        return step
    hstep = 1e-6 * np.maximum(1.0, np.abs(theta))
    hess = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = hstep[j]
        hess[:, j] = (fun(theta + e)[1] - grad) / hstep[j]
    hess = 0.5 * (hess + hess.T)
    hf = hess[np.ix_(free, free)]
    try:
        if not np.all(np.isfinite(hf)) or np.linalg.eigvalsh(hf)[0] <= 0:
            return None
        step[free] = -np.linalg.solve(hf, grad[free])
    except np.linalg.LinAlgError:
        return None
    return step


def convergence(theta: np.ndarray, q: int | tuple[int, ...], fun: Any) -> dict[str, Any]:
    """The documented convergence record at ``theta`` (see the module docstring)."""
    dev, grad = fun(theta)
    if not dev < 1e300:
        return {"criterion": _CRITERION, "projected_gradient": math.inf, "relative_change": math.inf, "converged": False}
    pg = float(np.max(np.abs(_projected_gradient(theta, grad, q)))) if theta.size else 0.0
    # a component at its bound (a random-effect SD at 0) whose gradient does not pull it inwards
    # beyond the tolerance is held there (a boundary fit: flagged separately)
    at_bound = np.array([lo is not None and theta[j] <= lo + 1e-10 for j, (lo, _) in enumerate(lower_bounds(q))])
    step = _newton_step(theta, grad, q, fun, free=~(at_bound & (grad > -GTOL)))
    rel = math.inf if step is None else float(np.max(np.abs(step) / np.maximum(1.0, np.abs(theta)))) if theta.size else 0.0
    return {"criterion": _CRITERION, "projected_gradient": pg, "relative_change": rel,
            "converged": bool(pg <= GTOL and rel <= XTOL)}


_CRITERION = (f"largest projected gradient of the profiled deviance <= {GTOL:g} and relative change of the next "
              f"Newton step max|dtheta|/max(1,|theta|) <= {XTOL:g}")


def _newton_polish(theta: np.ndarray, q: int | tuple[int, ...], fun: Any, steps: int = 6) -> np.ndarray:
    """A few projected Newton steps with a forward-difference Hessian of the analytic gradient.

    L-BFGS-B stops once the deviance changes by less than ~1e-12 relative; these steps take the
    gradient down by orders of magnitude at ``n_theta + 1`` evaluations each. A step is taken
    when the deviance falls, or stays within rounding (``_FLAT`` relative) while the largest
    projected gradient falls.
    """
    bounds = lower_bounds(q)
    dev, grad = fun(theta)
    for _ in range(steps):
        if not dev < 1e300:
            break
        pg = np.max(np.abs(_projected_gradient(theta, grad, q)))
        if pg <= 1e-3 * GTOL:
            break
        step = _newton_step(theta, grad, q, fun)
        if step is None or not np.any(step):
            break
        for _half in range(20):
            cand = theta + step
            for j, (lo, _) in enumerate(bounds):
                if lo is not None:
                    cand[j] = max(cand[j], lo)
            dev_new, grad_new = fun(cand)
            if dev_new <= dev or (dev_new <= dev + _FLAT * abs(dev)
                                  and np.max(np.abs(_projected_gradient(cand, grad_new, q))) < pg):
                break
            step = step / 2
        else:
            break
        small = np.max(np.abs(cand - theta)) < 1e-10 * (1 + np.max(np.abs(theta)))
        theta, dev, grad = cand, dev_new, grad_new
        if small:
            break
    return theta


def fit(bl: Blocks, reml: bool, theta0: np.ndarray | None = None, *, callback: Any = None) -> FitOutcome:
    """Minimise the profiled deviance over ``theta``: L-BFGS-B with the analytic gradient and a
    Newton polish, with fallbacks (L-BFGS-B from lme4's start ``L = I``, then Powell without
    gradients).

    ``converged`` is the criterion of :func:`convergence` (module docstring); ``convergence``
    holds its record.
    """
    q = bl.q
    recent: dict[bytes, Evaluation] = {}  # the last evaluations: the optimiser, the polish and the checks revisit them

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        key = np.asarray(th, dtype=float).tobytes()
        if key in recent:
            ev = recent[key]
            return ev.deviance, ev.gradient.copy()  # type: ignore[union-attr]
        if callback is not None:
            callback(1)
        try:
            ev = evaluate(th, bl, reml)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return 1e300, np.zeros_like(th)
        if len(recent) >= 4:
            recent.pop(next(iter(recent)))
        recent[key] = ev
        return ev.deviance, ev.gradient.copy()  # type: ignore[union-attr]

    th, method, attempts, conv = minimise(fun, q, theta0, _tri_entries(np.eye(q)) if q > 1 else np.ones(1))
    key = np.asarray(th, dtype=float).tobytes()
    ev = recent[key] if key in recent else evaluate(th, bl, reml)
    return FitOutcome(th, ev, method, attempts, bool(conv["converged"]), float(conv["projected_gradient"]), conv)


def _on_bound(theta: np.ndarray, bounds: list[tuple[float | None, float | None]]) -> bool:
    """Whether an entry of ``theta`` with a lower bound (a diagonal entry of ``L``) is at that bound."""
    return any(lo is not None and t <= lo + 1e-8 for t, (lo, _) in zip(theta, bounds))


def minimise(fun: Any, q: int | tuple[int, ...], theta0: np.ndarray | None,
             lme4_start: np.ndarray) -> tuple[np.ndarray, str, list[dict[str, Any]], dict[str, Any]]:
    """The optimiser sequence shared by the engines: L-BFGS-B from ``theta0`` (when given), then
    from ``lme4_start``, then Powell, each followed by the Newton polish, until the best so far
    meets the convergence criterion - and, when that best has an ``L_jj`` at its bound 0 and an
    L-BFGS-B start is left, that start is tried too (the lower deviance is kept). ``fun(theta)`` returns the deviance and its gradient (``1e300`` where
    undefined). Returns the best ``theta``, its optimiser, the attempts and the convergence record.
    """
    bounds = lower_bounds(q)
    starts = []
    if theta0 is not None:
        starts.append(("L-BFGS-B", np.asarray(theta0, dtype=float)))
    starts.append(("L-BFGS-B", np.asarray(lme4_start, dtype=float)))
    starts.append(("Powell", starts[0][1]))
    attempts: list[dict[str, Any]] = []
    best: tuple[float, np.ndarray, str, dict[str, Any]] | None = None
    for method, th0 in starts:
        with np.errstate(all="ignore"):
            if method == "L-BFGS-B":
                res = optimize.minimize(fun, th0, jac=True, method="L-BFGS-B", bounds=bounds,
                                        options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-10, "maxls": 50})
            else:
                res = optimize.minimize(lambda t: fun(t)[0], th0, method="Powell", bounds=[(lo, 1e6) for lo, _ in bounds],
                                        options={"maxiter": 20000, "xtol": 1e-10, "ftol": 1e-14})
            th = _newton_polish(np.asarray(res.x, dtype=float), q, fun)
        dev = fun(th)[0]
        conv = convergence(th, q, fun)
        attempts.append({"optimizer": method, "start": th0.tolist(), "deviance": dev,
                         "projected_gradient": conv["projected_gradient"], "relative_change": conv["relative_change"],
                         "iterations": int(getattr(res, "nit", 0) or 0), "evaluations": int(getattr(res, "nfev", 0) or 0),
                         "message": str(getattr(res, "message", ""))})
        if best is None or dev < best[0]:
            best = (dev, th, method, conv)
        # a result on a bound (an SD at 0) can be a saddle the first start ran into: with L = 0 in a column the
        # deviance is flat in that column's other entries (seen at 100,000 patients: SD of the intercept 0 from the
        # moment start, 0.58 from lme4's start at a lower deviance), so the next L-BFGS-B start is tried too and the
        # lower deviance kept; Powell only when no gradient-based start converged
        more_gradient_starts = any(m == "L-BFGS-B" for m, _ in starts[len(attempts):])
        if best[3]["converged"] and not (_on_bound(best[1], bounds) and more_gradient_starts):
            break
    assert best is not None
    dev, th, method, conv = best
    return th, method, attempts, conv
